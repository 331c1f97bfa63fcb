"""Moving a case to another queue (a rule's "route" effect, called by intake holding the case row)."""

from typing import Any

from django.db import transaction
from django.utils import timezone

import audit
from audit.context import Actor
from audit.services import case_stream
from cases.models import Case, Queue

from .. import triggers as T
from ..models import Review
from ._common import ACTIVE


def case_move_to_queue(*, case_id: Any, queue: Queue, actor: Actor, reason: str) -> bool:
    """Puts the case, and its active review, in `queue`: the case is worked
    from there (claims, lists). Seats already claimed stay with their
    holders. Returns False, writing nothing, when it is there already.
    Audits "case.routed" (trigger "rule")."""
    with transaction.atomic():
        # NOWAIT: the caller (intake) holds the case; a claim or vote holding the review first waits for nobody
        # (reviews.intake retries 55P03, as for re-routing).
        active = (Review.objects.filter(case_id=case_id, state__in=ACTIVE)
                  .select_for_update(of=("self",), nowait=True).first())
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
