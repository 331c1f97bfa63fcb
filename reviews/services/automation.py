"""What active rules do through the review process, called by intake while it holds the case row: move a case
to another queue, put it on hold. (A rule's automated decision is decisions.decision_automated.)"""

from typing import Any

from django.db import transaction
from django.utils import timezone

import audit
from audit.context import Actor
from audit.services import case_stream
from cases.models import Case, CaseState, Queue
from cases.services import case_change_state

from .. import triggers as T
from ..models import Review, ReviewState
from ..states import review_check_transition
from ._common import ACTIVE


def _lock_active_review(case_id: Any) -> Review | None:
    # NOWAIT: the caller (intake) holds the case; a claim or vote holding the review first waits for nobody
    # (reviews.intake retries 55P03, as for re-routing).
    return (Review.objects.filter(case_id=case_id, state__in=ACTIVE)
            .select_for_update(of=("self",), nowait=True).first())


def case_move_to_queue(*, case_id: Any, queue: Queue, actor: Actor, reason: str) -> bool:
    """Puts the case, and its active review, in `queue`: the case is worked
    from there (claims, lists). Seats already claimed stay with their
    holders. Returns False, writing nothing, when it is there already.
    Audits "case.routed" (trigger "rule")."""
    with transaction.atomic():
        active = _lock_active_review(case_id)
        case = Case.objects.select_for_update().only("id", "queue_id", "state").get(pk=case_id)
        if case.queue_id == queue.pk:
            return False
        before = case.queue_id
        Case.objects.filter(pk=case_id).update(queue=queue, updated_at=timezone.now())
        if active is not None:
            Review.objects.filter(pk=active.pk).update(queue=queue)
        audit.record(stream=case_stream(case_id), action="case.routed", actor=actor, target_type="case",
                     target_id=case_id, data={"from": case.state, "to": case.state, "trigger": T.RULE,
                                              "from_queue_id": before, "queue_id": queue.pk, "queue": queue.slug,
                                              "reason": reason})
        return True


def case_hold_automated(*, case_id: Any, actor: Actor, reason: str) -> bool:
    """Puts a case under review on hold (claims stop, the SLA clock stops)
    until a lead resumes it (case_resume). Returns False, writing nothing,
    when it is on hold already or not under review. Audited like a lead's
    hold (case.state_changed), with trigger "rule"."""
    with transaction.atomic():
        review = _lock_active_review(case_id)
        state = Case.objects.select_for_update().values_list("state", flat=True).get(pk=case_id)
        if review is None or state == CaseState.ON_HOLD or review.state != ReviewState.OPEN:
            return False
        review_check_transition(review.state, ReviewState.ON_HOLD)
        Review.objects.filter(pk=review.pk).update(state=ReviewState.ON_HOLD, held_at=timezone.now())
        case_change_state(case_id=case_id, to_state=CaseState.ON_HOLD, actor=actor, reason=reason, trigger=T.RULE)
        return True
