"""The one place that opens and closes reviews (a stage carried out on a
case) and moves a case between stages. Routing, votes, escalation, appeals
and the SLA sweep all go through here: `review_build`/`reviews_open_many`
and `reviews_close_many` are the bulk forms of `review_open` and
`review_close` for callers that must run a fixed number of statements."""

from datetime import datetime
from typing import Any

from django.conf import settings

import audit
from audit.context import Actor
from audit.services import case_stream
from cases.models import Case, CaseState, Report
from cases.priority import priority_raise
from cases.services import case_change_state

from .. import sla
from .. import triggers as T
from ..errors import NotAllowed
from ..models import RAISE_PRIORITY, Appeal, Review, ReviewState, Seat, SeatState, Stage, StageKind
from ..states import review_check_transition, review_sources, seat_sources


def review_build(*, case_id: Any, stage: Stage, queue_id: int, priority: int, case_opened_at: datetime,
                 clock: sla.Sla, now: datetime, appeal_id: Any = None,
                 proposed: dict | None = None, barred: Any = ()) -> Review:
    """An unsaved Review for `stage` opening at `now` with the SLA `clock`."""
    warn_at, due_at = sla.deadlines(clock, now)
    return Review(
        case_id=case_id, stage=stage, queue_id=queue_id, group_id=stage.group_id, priority=priority,
        case_opened_at=case_opened_at, free_seats=stage.seats, opened_at=now, sla_seconds=clock.seconds,
        calendar_id=clock.calendar_id, warn_at=warn_at, due_at=due_at, appeal_id=appeal_id,
        proposed_outcome=proposed["outcome"] if proposed else None,
        proposed_policy=proposed["policy"] if proposed else None,
        proposed_duration_days=proposed["duration_days"] if proposed else None,
        proposed_from=proposed["review"] if proposed else None, barred_user_ids=sorted(set(barred)),
    )


def review_opened_data(review: Review, *, trigger: str, reason: str) -> dict:
    """The data of the review.opened audit event."""
    stage = review.stage
    return {"stage": stage.key, "kind": stage.kind, "rule": stage.rule, "reason": reason, "trigger": trigger,
            "due_at": review.due_at.isoformat() if review.due_at else None,
            "proposed": review.proposed_outcome.code if review.proposed_outcome_id else None}


def reviews_open_many(reviews: list[Review]) -> list[Review]:
    """Saves reviews built by review_build in one statement (the callers write
    their own audit rows in bulk)."""
    return Review.objects.bulk_create(reviews)


def case_policy_id(case_id: Any) -> int | None:
    """The policy of the case's first report (what SLA policies match on)."""
    return (Report.objects.filter(case_id=case_id).order_by("received_at", "id")
            .values_list("policy_id", flat=True).first())


def review_open(*, case: Case, stage: Stage, actor: Actor, now: datetime, trigger: str, reason: str = "",
                proposed: dict | None = None, appeal: Appeal | None = None, barred: Any = (),
                data: dict | None = None) -> Review:
    """Opens `stage` on `case` with a fresh SLA clock, clears the case's
    at-risk mark and records review.opened. The caller holds the case lock
    and has closed the previous review (one active review per case)."""
    reporter_kinds = set(Report.objects.filter(case=case).values_list("reporter_kind", flat=True).distinct())
    clock = sla.resolve(stage=stage, policy_id=case_policy_id(case.pk), priority=case.priority,
                        reporter_kinds=reporter_kinds)
    review = review_build(case_id=case.pk, stage=stage, queue_id=case.queue_id, priority=case.priority,
                          case_opened_at=case.opened_at, clock=clock, now=now,
                          appeal_id=appeal.pk if appeal else None, proposed=proposed, barred=barred)
    review.save(force_insert=True)
    review.case = case
    if case.at_risk_since is not None:
        Case.objects.filter(pk=case.pk).update(at_risk_since=None)  # a new stage, a new clock
        case.at_risk_since = None
    audit.record(stream=case_stream(case.pk), action="review.opened", actor=actor, target_type="review",
                 target_id=review.pk, data={**review_opened_data(review, trigger=trigger, reason=reason),
                                            **({"barred_user_ids": review.barred_user_ids} if barred else {}),
                                            **(data or {})})
    return review


def review_close(review: Review, *, state: str, now: datetime, result: dict | None = None, reason: str = "") -> bool:
    """Closes a locked review in `state` (checked against the review table)
    and releases its unvoted seats: their holders can no longer vote here.
    Returns False when it was already in that state. The caller records the
    event that says why (review.consensus, review.split, case.escalated, …)."""
    if not review_check_transition(review.state, state):
        return False
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
    _release_seats([review.pk], now)
    return True


def reviews_close_many(*, review_ids: list[Any], state: str, now: datetime, reason: str = "") -> int:
    """review_close for locked reviews in one statement: a compare-and-swap on
    the states the table allows to move to `state`. Returns how many closed."""
    if not review_ids:
        return 0
    closed = Review.objects.filter(pk__in=review_ids, state__in=review_sources(state)).update(
        state=state, closed_at=now, close_reason=reason[:500])
    _release_seats(review_ids, now)
    return closed


def _release_seats(review_ids: list[Any], now: datetime) -> None:
    Seat.objects.filter(review_id__in=review_ids, state__in=seat_sources(SeatState.RELEASED)).update(
        state=SeatState.RELEASED, released_at=now)


def case_priority_raise(case: Case, now: datetime) -> int:
    """Raises the case's priority by ESCALATION_PRIORITY_BONUS, capped at the
    formula's maximum (cases.priority.PRIORITY_MAX)."""
    new = priority_raise(case.priority, settings.ESCALATION_PRIORITY_BONUS)
    if new != case.priority:
        Case.objects.filter(pk=case.pk).update(priority=new, updated_at=now)
        case.priority = new
    return new


def review_advance(*, review: Review, target: str, actor: Actor, now: datetime, reason: str, trigger: str,
                   proposed: dict | None = None, barred: Any = (), data: dict | None = None) -> Review:
    """Moves the case from a closed review to the stage named `target` of the
    same workflow version: an escalation stage raises priority (capped) and
    marks the case escalated; any other stage keeps it in review."""
    case = review.case
    stage = review.stage.version.stages.get(key=target)
    if stage.kind == StageKind.APPROVAL and proposed is None:
        raise NotAllowed(f"stage {stage.key!r} is an approval stage but there is no result to approve",
                         code="no_result_to_approve")
    if stage.kind == StageKind.ESCALATION:
        case_priority_raise(case, now)
        case_change_state(case_id=case.pk, to_state=CaseState.ESCALATED, actor=actor, reason=reason, trigger=trigger)
    elif case.state != CaseState.IN_REVIEW:
        case_change_state(case_id=case.pk, to_state=CaseState.IN_REVIEW, actor=actor, reason=reason, trigger=trigger)
    return review_open(case=case, stage=stage, actor=actor, now=now, trigger=trigger, reason=reason,
                       proposed=proposed, appeal=review.appeal, barred=barred, data=data)



def review_timeout_if_owed(*, review: Review, now: datetime, actor: Actor) -> Review | None:
    """Runs the timeout move the SLA sweep deferred because a reviewer held a
    valid lease (a breach never takes such a seat): once the review is
    breached, still open, its stage times out into another stage, and nobody
    holds a valid lease any more. The caller holds the review's lock.
    Returns the review opened, or None when nothing is owed."""
    stage = review.stage
    target = stage.on_timeout
    if review.state != ReviewState.OPEN or review.breached_at is None:
        return None
    if not target or target in (RAISE_PRIORITY, stage.key):
        return None
    if Seat.objects.filter(review=review, state=SeatState.CLAIMED, lease_expires_at__gt=now).exists():
        return None
    review.case = Case.objects.select_for_update().get(pk=review.case_id)
    review_close(review, state=ReviewState.TIMED_OUT, now=now, reason="SLA breached (moved once no seat was held)")
    return review_advance(review=review, target=target, actor=actor, now=now, reason="SLA breached",
                          trigger=T.SLA_BREACH)
