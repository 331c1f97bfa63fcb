"""What active rules do through the review process, called by intake while it holds the case row: move a case
to another queue, put it on hold, start a new case in another workflow, require more reviewers of the current
stage. (A rule's automated decision is decisions.decision_automated.)"""

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

import audit
from audit.context import Actor
from audit.services import case_stream
from cases.models import Case, CaseState, Queue
from cases.services import case_change_state

from .. import triggers as T
from ..consensus import requirement
from ..models import MAX_SEATS, Review, ReviewState, Seat, Vote, Workflow
from ..states import review_check_transition
from ._common import ACTIVE
from .lifecycle import review_close, review_open


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


def case_start_in_workflow(*, case_id: Any, workflow: Workflow, actor: Actor, reason: str) -> dict:
    """Starts a case that this intake call opened in the first stage of
    `workflow`'s published version instead of the one routing chose: the
    first review (untouched: no seat, no vote) closes as superseded
    (cancelled) and the new stage opens with a fresh SLA. Returns what was
    done: {"routed": True, "from_workflow", "to_workflow", "review_id"} or
    {"routed": False, "reason"} (already there, no published version, the
    case is no longer in its first untouched review, or the new first stage
    needs fewer matching votes than the review it would replace: a rule never
    lowers the bar). Audits "case.routed" (trigger "rule")."""
    with transaction.atomic():
        reviews = list(Review.objects.filter(case_id=case_id).select_related("stage__version__workflow")
                       .select_for_update(of=("self",), nowait=True)[:2])
        case = Case.objects.select_for_update().get(pk=case_id)
        version = workflow.published_version
        if version is None:
            return {"routed": False, "reason": f"workflow {workflow.slug} has no published version"}
        first = reviews[0] if len(reviews) == 1 else None
        if (first is None or first.state != ReviewState.OPEN or first.appeal_id is not None
                or case.state != CaseState.OPEN or Seat.objects.filter(review=first).exists()
                or Vote.objects.filter(review=first).exists()):
            return {"routed": False, "reason": "only a case still in its first, untouched review is started anew"}
        before = first.stage.version.workflow
        if before.pk == workflow.pk:
            return {"routed": False, "reason": f"the case is in workflow {workflow.slug} already"}
        stage = version.stages.get(key=version.first_stage_key)
        if stage.quorum < first.requirement[0]:
            # A rule never lowers the bar: not by M of N, not by choosing a laxer workflow.
            return {"routed": False, "reason": f"the first stage of {workflow.slug} needs {stage.quorum} matching "
                                               f"vote(s), fewer than the {first.requirement[0]} the case needs"}
        now = timezone.now()
        review_close(first, state=ReviewState.CANCELLED, now=now,
                     reason=f"superseded: {reason} started the case in workflow {workflow.slug}")
        review = review_open(case=case, stage=stage, actor=actor, now=now, trigger=T.RULE, reason=reason,
                             data={"workflow": workflow.slug})
        audit.record(stream=case_stream(case_id), action="case.routed", actor=actor, target_type="case",
                     target_id=case_id, data={"from": case.state, "to": case.state, "trigger": T.RULE,
                                              "from_workflow": before.slug, "to_workflow": workflow.slug,
                                              "superseded_review": str(first.pk), "review_id": str(review.pk),
                                              "stage": stage.key, "reason": reason})
        return {"routed": True, "from_workflow": before.slug, "to_workflow": workflow.slug,
                "review_id": str(review.pk)}


def review_require_more(*, case_id: Any, quorum: int | None, seats: int | None, actor: Actor,
                        reason: str) -> dict:
    """Raises M (matching votes) and/or N (seats) of the case's active review,
    for this case only: the result is never below the stage's or an earlier
    raise (consensus.requirement), N stays at least M and at most MAX_SEATS,
    and the stage's group must have N active members (else nothing changes:
    the case could never be settled). New seats open for claims at once.
    Returns {"raised": True, "from": [M, N], "to": [M, N]} or {"raised":
    False, "reason"}. Audits "review.requirement_raised" (trigger "rule")."""
    with transaction.atomic():
        review = (Review.objects.filter(case_id=case_id, state__in=ACTIVE).select_related("stage__group")
                  .select_for_update(of=("self",), nowait=True).first())
        if review is None:
            return {"raised": False, "reason": "no review is open on the case"}
        before = review.requirement
        after = requirement(stage_quorum=before[0], stage_seats=before[1], required_quorum=quorum,
                            required_seats=seats)
        if after == before:
            return {"raised": False, "reason": f"the review needs {before[0]} of {before[1]} already"}
        if after[1] > MAX_SEATS:
            return {"raised": False, "reason": f"at most {MAX_SEATS} seats"}
        members = review.stage.group.user_set.filter(is_active=True).count()
        if members < after[1]:
            return {"raised": False, "reason": f"group {review.stage.group.name} has {members} active member(s), "
                                               f"fewer than N={after[1]}"}
        Review.objects.filter(pk=review.pk).update(required_quorum=after[0], required_seats=after[1],
                                                   free_seats=F("free_seats") + (after[1] - before[1]))
        audit.record(stream=case_stream(case_id), action="review.requirement_raised", actor=actor,
                     target_type="review", target_id=review.pk,
                     data={"stage": review.stage.key, "from": list(before), "to": list(after), "trigger": T.RULE,
                           "reason": reason})
        return {"raised": True, "from": list(before), "to": list(after)}
