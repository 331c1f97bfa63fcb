"""Opening and closing reviews (stages carried out on a case) and moving a case between stages."""

import audit
from audit.services import case_stream
from cases.models import Case, CaseState, Report
from cases.services import case_change_state

from .. import sla
from ..errors import NotAllowed
from ..models import (
    Review,
    Seat,
    SeatState,
    StageKind,
)
from ..states import review_check_transition
from ._common import _case_policy_id, _raise_priority


def _open_review(*, case, stage, actor, now, proposed=None, appeal=None, reason="", barred=(), data=None):
    reporter_kinds = set(Report.objects.filter(case=case).values_list("reporter_kind", flat=True).distinct())
    clock = sla.resolve(stage=stage, policy_id=_case_policy_id(case), priority=case.priority,
                        reporter_kinds=reporter_kinds)
    warn_at, due_at = sla.deadlines(clock, now)
    review = Review.objects.create(
        case=case, stage=stage, queue_id=case.queue_id, group_id=stage.group_id, priority=case.priority,
        case_opened_at=case.opened_at, free_seats=stage.seats, opened_at=now, sla_seconds=clock.seconds,
        calendar_id=clock.calendar_id, warn_at=warn_at, due_at=due_at, appeal=appeal,
        proposed_outcome=proposed["outcome"] if proposed else None,
        proposed_policy=proposed["policy"] if proposed else None,
        proposed_duration_days=proposed["duration_days"] if proposed else None,
        proposed_from=proposed["review"] if proposed else None, barred_user_ids=sorted(set(barred)),
    )
    if case.at_risk_since is not None:
        Case.objects.filter(pk=case.pk).update(at_risk_since=None)  # a new stage, a new clock
        case.at_risk_since = None
    audit.record(stream=case_stream(case.pk), action="review.opened", actor=actor, target_type="review",
                 target_id=review.pk, data={"stage": stage.key, "kind": stage.kind, "rule": stage.rule,
                                            "reason": reason, "due_at": due_at.isoformat(),
                                            "proposed": proposed["outcome"].code if proposed else None,
                                            **({"barred_user_ids": sorted(set(barred))} if barred else {}),
                                            **(data or {})})
    return review


def _close_review(review, *, state, now, result=None, reason=""):
    review_check_transition(review.state, state)
    review.state = state
    review.closed_at = now
    review.close_reason = reason[:500]
    fields = ["state", "closed_at", "close_reason"]
    if result:
        review.result_outcome = result.get("outcome")
        review.result_policy = result.get("policy")
        review.result_duration_days = result.get("duration_days")
        fields += ["result_outcome", "result_policy", "result_duration_days"]
    review.save(update_fields=fields)
    # Seats not voted are released: their holders can no longer vote here.
    Seat.objects.filter(review=review, state=SeatState.CLAIMED).update(state=SeatState.RELEASED, released_at=now)


def _go_to(*, review, target, actor, now, reason, proposed=None, barred=(), data=None):
    """Moves the case from a closed review to the stage named `target`."""
    case = review.case
    stage = review.stage.version.stages.get(key=target)
    if stage.kind == StageKind.ESCALATION:
        _raise_priority(case, now)
        case_change_state(case_id=case.pk, to_state=CaseState.ESCALATED, actor=actor, reason=reason)
    elif case.state != CaseState.IN_REVIEW:
        case_change_state(case_id=case.pk, to_state=CaseState.IN_REVIEW, actor=actor, reason=reason)
    if stage.kind == StageKind.APPROVAL and proposed is None:
        raise NotAllowed(f"stage {stage.key!r} is an approval stage but there is no result to approve")
    return _open_review(case=case, stage=stage, actor=actor, now=now, proposed=proposed, appeal=review.appeal,
                        reason=reason, barred=barred, data=data)

