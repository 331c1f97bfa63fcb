"""The review process as services. Each runs in a transaction, locks what it
changes (the case's active review row is the lock for everything that happens
in a stage), checks the transition and eligibility, and records audit events.
"""

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

import audit
from audit.context import Actor
from audit.services import case_stream
from cases.models import Case, CaseState, Report
from cases.services import case_change_state

from . import sla
from .consensus import CONSENSUS, SPLIT, evaluate
from .errors import AppealRefused, InvalidVote, NotAllowed, NotEligible, NotSeated, ReviewClosed
from .models import (
    DECIDE,
    Appeal,
    AppealResult,
    AppealState,
    Decision,
    DecisionKind,
    DecisionSequence,
    ModeratorIdentity,
    Outcome,
    Review,
    ReviewNote,
    ReviewState,
    Seat,
    SeatState,
    Stage,
    StageKind,
    Vote,
    Workflow,
)
from .workflows import choose_first_stage

ACTIVE = (ReviewState.OPEN, ReviewState.ON_HOLD)


def _lease(queue=None):
    seconds = getattr(queue, "lease_seconds", None) or settings.REVIEW_LEASE_SECONDS
    return timedelta(seconds=seconds)


def is_lead(user):
    return user.is_superuser or user.groups.filter(name__in=settings.REVIEW_LEAD_GROUPS).exists()


# ---- routing (called by intake, inside its transaction) ---------------------------

def route_new_case(**kwargs):
    """Opens the first stage of the workflow chosen by the routing rules,
    with its SLA deadlines. Takes case_id, policy_id, queue_id,
    jurisdictions, priority, opened_at and reporter_kind. Returns audit data
    to merge into the case.opened event (one event per report keeps intake
    cheap), or {"workflow": None} when nothing matched."""
    return route_new_cases([kwargs])[0]


def route_new_cases(many):
    """route_new_case for many cases at once (batch intake): one insert."""
    reviews, results = [], []
    for kwargs in many:
        stage = choose_first_stage(policy_id=kwargs["policy_id"], queue_id=kwargs["queue_id"],
                                   jurisdictions=kwargs["jurisdictions"], priority=kwargs["priority"])
        if stage is None:
            results.append({"workflow": None})
            continue
        opened_at = kwargs["opened_at"]
        clock = sla.resolve(stage=stage, policy_id=kwargs["policy_id"], priority=kwargs["priority"],
                            reporter_kinds={kwargs.get("reporter_kind", "")})
        warn_at, due_at = sla.deadlines(clock, opened_at)
        reviews.append(Review(
            case_id=kwargs["case_id"], stage=stage, queue_id=kwargs["queue_id"], group_id=stage.group_id,
            priority=kwargs["priority"], case_opened_at=opened_at, free_seats=stage.seats, opened_at=opened_at,
            sla_seconds=clock.seconds, calendar_id=clock.calendar_id, warn_at=warn_at, due_at=due_at,
        ))
        results.append({"workflow": stage.version.workflow.slug, "workflow_version": stage.version.number,
                        "stage": stage.key, "due_at": due_at.isoformat()})
    Review.objects.bulk_create(reviews)
    return results


def sync_priority(*, case_id, priority):
    """Keeps the active review's copy of the case priority current (claim
    order). Intake holds the case row here, while votes, claims and sweeps
    lock the review first and the case second; so intake does not wait for a
    locked review (SKIP LOCKED) — that would be the one lock-order inversion.
    A skipped update is made good by the next report or stage change."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE reviews_review SET priority = %s WHERE id IN ("
                " SELECT id FROM reviews_review WHERE case_id = %s AND state IN ('open', 'on_hold')"
                " AND priority <> %s FOR UPDATE SKIP LOCKED)",
                [priority, case_id, priority],
            )
        return
    Review.objects.filter(case_id=case_id, state__in=ACTIVE).exclude(priority=priority).update(priority=priority)


# ---- opening and closing stages -----------------------------------------------

def _case_policy_id(case):
    first = Report.objects.filter(case=case).order_by("received_at", "id").values_list("policy_id", flat=True).first()
    return first


def _open_review(*, case, stage, actor, now, proposed=None, appeal=None, reason=""):
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
        proposed_from=proposed["review"] if proposed else None,
    )
    if case.at_risk_since is not None:
        Case.objects.filter(pk=case.pk).update(at_risk_since=None)  # a new stage, a new clock
        case.at_risk_since = None
    audit.record(stream=case_stream(case.pk), action="review.opened", actor=actor, target_type="review",
                 target_id=review.pk, data={"stage": stage.key, "kind": stage.kind, "rule": stage.rule,
                                            "reason": reason, "due_at": due_at.isoformat(),
                                            "proposed": proposed["outcome"].code if proposed else None})
    return review


def _close_review(review, *, state, now, result=None, reason=""):
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


def _lock_case(case_id):
    return Case.objects.select_for_update().get(pk=case_id)


def _active_review(case_id, *, lock=True):
    qs = Review.objects.filter(case_id=case_id, state__in=ACTIVE).select_related("stage__version", "case")
    if lock:
        qs = qs.select_for_update(of=("self",))
    return qs.first()


def _raise_priority(case, now):
    new = case.priority + settings.ESCALATION_PRIORITY_BONUS
    Case.objects.filter(pk=case.pk).update(priority=new, updated_at=now)
    case.priority = new


def _go_to(*, review, target, actor, now, reason, proposed=None):
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
                        reason=reason)


# ---- eligibility ---------------------------------------------------------------

def _identities(moderator):
    """{source id: the moderator's own external ids there}."""
    out = {}
    for source_id, external_id in ModeratorIdentity.objects.filter(user=moderator).values_list("source_id", "external_id"):
        out.setdefault(source_id, set()).add(external_id)
    return out


def eligibility_problem(review, moderator, *, group_ids=None, identities=None, seat_checked=False):
    """Why `moderator` may not take a seat in `review`, or None.

    claim_next passes what it already knows (the moderator's groups and
    platform identities, and that its candidate query excluded reviews where
    the moderator holds or held a seat — a vote needs a seat) so that the
    common case costs no query at all."""
    stage = review.stage
    if not moderator.is_active:
        return "the account is inactive"
    in_group = (stage.group_id in group_ids) if group_ids is not None else \
        moderator.groups.filter(pk=stage.group_id).exists()
    if not in_group:
        return f"not in the group {stage.group.name!r} that reviews stage {stage.key!r}"
    if not seat_checked:
        if Vote.objects.filter(review=review, reviewer=moderator).exists():
            return "already voted in this review"
        if Seat.objects.filter(review=review, moderator=moderator,
                               state__in=[SeatState.CLAIMED, SeatState.VOTED]).exists():
            return "already holds a seat in this review"
    case = review.case
    if identities is None:
        identities = _identities(moderator)
    mine = identities.get(case.source_id)
    if mine:
        subject = case.subject
        involved = {subject.external_id}
        if subject.author_id:
            involved.add(subject.author.external_id)
        if mine & involved:
            return "is the subject of this case (linked platform identity)"
        if Report.objects.filter(case=case, reporter_external_id__in=mine).exists():
            return "reported this case (linked platform identity)"
    if stage.kind == StageKind.APPROVAL and review.proposed_from_id:
        if Vote.objects.filter(review_id=review.proposed_from_id, reviewer=moderator).exists():
            return "voted for the result under approval (four eyes)"
    if stage.kind == StageKind.APPEAL or review.appeal_id:
        before = review.appeal.opened_at if review.appeal_id else review.opened_at
        if Vote.objects.filter(review__case=case, reviewer=moderator, review__opened_at__lt=before).exclude(
                review=review).exists():
            return "took part in the decision under appeal"
    if stage.exclude_earlier_reviewers and (
        Vote.objects.filter(review__case=case, reviewer=moderator).exclude(review=review).exists()
        or Seat.objects.filter(review__case=case, moderator=moderator).exclude(review=review).exists()
    ):
        return "reviewed this case in an earlier stage"
    return None


# ---- seats -----------------------------------------------------------------------

def _take_seat(*, review, moderator, now, actor, assigned_by=None):
    seat = Seat.objects.create(review=review, moderator=moderator, state=SeatState.CLAIMED, claimed_at=now,
                               lease_expires_at=now + _lease(review.queue), assigned_by=assigned_by)
    Review.objects.filter(pk=review.pk).update(free_seats=F("free_seats") - 1)
    review.free_seats -= 1
    if review.case.state == CaseState.OPEN:
        case_change_state(case_id=review.case_id, to_state=CaseState.IN_REVIEW, actor=actor, reason="first claim")
    audit.record(stream=case_stream(review.case_id), action="review.seat_claimed", actor=actor,
                 target_type="review", target_id=review.pk,
                 data={"moderator": moderator.get_username(), "assigned_by": assigned_by.get_username()
                       if assigned_by else None, "lease_expires_at": seat.lease_expires_at.isoformat()})
    return seat


def claim_next(*, moderator, queue, now=None, max_skips=25):
    """Gives `moderator` a seat in the highest-priority, oldest open review
    of `queue` they are eligible for, with a lease; None when there is none.

    Candidates come from one index scan (review_claim_idx) with FOR UPDATE
    SKIP LOCKED, so concurrent claimers never wait for each other and never
    get the same seat."""
    now = now or timezone.now()
    group_ids = set(moderator.groups.values_list("pk", flat=True))
    if not group_ids:
        return None
    identities = _identities(moderator)
    skipped = []
    for _ in range(max_skips):
        with transaction.atomic(), audit.batch():
            candidates = (
                Review.objects.filter(queue=queue, state=ReviewState.OPEN, free_seats__gt=0, group_id__in=group_ids)
                .exclude(pk__in=skipped)
                .exclude(seat_set__moderator=moderator)
                .order_by("-priority", "case_opened_at")
                .select_for_update(skip_locked=True, of=("self",))
                # only what every claim needs; identities and appeals load lazily when they apply
                .select_related("stage", "case", "queue")
            )
            review = candidates.first()
            if review is None:
                return None
            if eligibility_problem(review, moderator, group_ids=group_ids, identities=identities,
                                   seat_checked=True) is not None:
                skipped.append(review.pk)
                continue
            return _take_seat(review=review, moderator=moderator, now=now, actor=Actor.user(moderator))
    return None


def seat_assign(*, review_id, moderator, lead, now=None):
    """A lead gives a seat to a named moderator (eligibility still applies)."""
    now = now or timezone.now()
    if not is_lead(lead):
        raise NotAllowed("only a lead can assign seats")
    with transaction.atomic(), audit.batch():
        review = Review.objects.select_for_update(of=("self",)).select_related("stage", "case").get(pk=review_id)
        if review.state != ReviewState.OPEN:
            raise ReviewClosed(f"the review is {review.state}")
        if review.free_seats <= 0:
            raise NotAllowed("every seat in this review is taken")
        problem = eligibility_problem(review, moderator)
        if problem:
            raise NotEligible(f"{moderator.get_username()} {problem}")
        return _take_seat(review=review, moderator=moderator, now=now, actor=Actor.user(lead), assigned_by=lead)


def seat_release(*, seat_id, actor_user, now=None, reason=""):
    """Gives a claimed seat back. The holder or a lead may; idempotent."""
    now = now or timezone.now()
    with transaction.atomic(), audit.batch():
        seat = Seat.objects.select_related("review").get(pk=seat_id)
        review = Review.objects.select_for_update(of=("self",)).get(pk=seat.review_id)
        seat = Seat.objects.select_for_update().get(pk=seat_id)
        if seat.state != SeatState.CLAIMED:
            return seat
        if actor_user.pk != seat.moderator_id and not is_lead(actor_user):
            raise NotAllowed("only the holder or a lead can release a seat")
        seat.state = SeatState.RELEASED
        seat.released_at = now
        seat.save(update_fields=["state", "released_at"])
        if review.state in ACTIVE:
            Review.objects.filter(pk=review.pk).update(free_seats=F("free_seats") + 1)
        audit.record(stream=case_stream(review.case_id), action="review.seat_released", actor=Actor.user(actor_user),
                     target_type="review", target_id=review.pk,
                     data={"moderator_id": seat.moderator_id, "reason": reason})
        return seat


def lease_renew(*, seat_id, moderator, now=None):
    """Extends the holder's lease while they work on the case."""
    now = now or timezone.now()
    seat = Seat.objects.filter(pk=seat_id).select_related("review__queue").first()
    lease = _lease(seat.review.queue if seat else None)
    updated = Seat.objects.filter(pk=seat_id, moderator=moderator, state=SeatState.CLAIMED).update(
        lease_expires_at=now + lease)
    if not updated:
        raise NotSeated("you do not hold this seat any more")
    return now + lease


# ---- votes -----------------------------------------------------------------------

def _vote_key(stage, vote):
    if stage.kind == StageKind.APPROVAL:
        return ("approve",) if vote.approved else ("reject",)
    return (vote.outcome_id, vote.policy_id)


def vote_cast(*, review_id, reviewer, outcome=None, policy=None, rationale="", duration_days=None, approved=None,
              now=None):
    """Casts `reviewer`'s vote; final once cast. Requires a claimed seat in an
    open review. Closes the stage as soon as M votes agree (consensus) or
    agreement has become impossible (split), inside the review lock, so
    exactly one result and at most one decision come out however many
    reviewers vote at once. A repeated identical submission returns the
    first vote; a vote after the stage closed raises ReviewClosed."""
    now = now or timezone.now()
    with transaction.atomic(), audit.batch():
        review = Review.objects.select_for_update(of=("self",)).select_related(
            "stage__version", "case", "appeal", "proposed_outcome", "proposed_policy").get(pk=review_id)
        stage = review.stage
        existing = Vote.objects.filter(review=review, reviewer=reviewer).first()
        if existing is not None:
            same = (existing.outcome_id == getattr(outcome, "pk", None) and existing.policy_id == getattr(policy, "pk", None)
                    and existing.approved == approved)
            if same:
                return existing
            raise InvalidVote("you already voted in this review; votes are final")
        if review.state != ReviewState.OPEN:
            raise ReviewClosed(f"this review is {review.get_state_display().lower()}; the vote was not counted")
        seat = Seat.objects.select_for_update().filter(review=review, moderator=reviewer,
                                                       state=SeatState.CLAIMED).first()
        if seat is None:
            raise NotSeated("you hold no seat in this review (claim one first, or your lease expired)")
        _validate_vote(stage, outcome, policy, rationale, duration_days, approved)
        vote = Vote.objects.create(review=review, reviewer=reviewer, outcome=outcome, policy=policy, approved=approved,
                                   duration_days=duration_days, rationale=rationale, cast_at=now)
        seat.state = SeatState.VOTED
        seat.save(update_fields=["state"])
        votes = list(Vote.objects.filter(review=review).order_by("cast_at", "pk"))
        actor = Actor.user(reviewer)
        audit.record(stream=case_stream(review.case_id), action="vote.cast", actor=actor, target_type="review",
                     target_id=review.pk, data={
                         "outcome": outcome.code if outcome else None, "policy": policy.code if policy else None,
                         "approved": approved, "duration_days": duration_days, "votes_cast": len(votes)})
        tally = evaluate(quorum=stage.quorum, seats=stage.seats, votes=[_vote_key(stage, v) for v in votes])
        if tally.state == CONSENSUS:
            _on_consensus(review=review, votes=votes, key=tally.key, actor=actor, now=now)
        elif tally.state == SPLIT:
            _close_review(review, state=ReviewState.SPLIT, now=now, reason="split")
            audit.record(stream=case_stream(review.case_id), action="review.split", actor=actor,
                         target_type="review", target_id=review.pk, data={"votes": len(votes)})
            _go_to(review=review, target=stage.on_split, actor=actor, now=now,
                   reason="rejected in approval" if stage.kind == StageKind.APPROVAL else "split",
                   proposed=None)
        return vote


def _validate_vote(stage, outcome, policy, rationale, duration_days, approved):
    if stage.kind == StageKind.APPROVAL:
        if approved is None:
            raise InvalidVote("an approval vote approves or rejects (approved=true/false)", field="approved")
        if not approved and not rationale.strip():
            raise InvalidVote("a rejection needs the approver's reason", field="rationale")
        return
    if approved is not None:
        raise InvalidVote("approve/reject is only for approval stages", field="approved")
    if outcome is None or not outcome.active or not stage.allowed_outcomes.filter(pk=outcome.pk).exists():
        allowed = ", ".join(stage.allowed_outcomes.filter(active=True).values_list("code", flat=True))
        raise InvalidVote(f"outcome must be one of: {allowed}", field="outcome")
    if policy is None or not policy.active:
        raise InvalidVote("a vote names the (active) policy it rests on", field="policy")
    if outcome.is_violation and not rationale.strip():
        raise InvalidVote("a rationale is required for outcomes other than no_violation", field="rationale")
    if outcome.time_limited:
        if not duration_days or duration_days < 1:
            raise InvalidVote(f"{outcome.code} needs a duration in days", field="duration_days")
    elif duration_days is not None:
        raise InvalidVote(f"{outcome.code} takes no duration", field="duration_days")


def _on_consensus(*, review, votes, key, actor, now):
    stage = review.stage
    version = stage.version
    if stage.kind == StageKind.APPROVAL:
        result = {"outcome": review.proposed_outcome, "policy": review.proposed_policy,
                  "duration_days": review.proposed_duration_days}
        if key == ("reject",):
            _close_review(review, state=ReviewState.CONSENSUS, now=now, reason="rejected")
            reasons = "; ".join(v.rationale for v in votes if v.approved is False)
            audit.record(stream=case_stream(review.case_id), action="review.approval_rejected", actor=actor,
                         target_type="review", target_id=review.pk, data={"reason": reasons})
            _go_to(review=review, target=stage.on_split, actor=actor, now=now, reason=f"approval rejected: {reasons}")
            return
        _close_review(review, state=ReviewState.CONSENSUS, now=now, result=result, reason="approved")
        audit.record(stream=case_stream(review.case_id), action="review.consensus", actor=actor,
                     target_type="review", target_id=review.pk,
                     data={"outcome": result["outcome"].code, "approved": True})
        _after_result(review=review, result=result, target=stage.on_consensus, actor=actor, now=now)
        return

    agreeing = [v for v in votes if _vote_key(stage, v) == key]
    durations = sorted(v.duration_days for v in agreeing if v.duration_days)
    result = {"outcome": agreeing[0].outcome, "policy": agreeing[0].policy,
              # agreeing reviewers may differ on the length: the shortest is what all of them support
              "duration_days": durations[0] if durations else None}
    _close_review(review, state=ReviewState.CONSENSUS, now=now, result=result, reason="consensus")
    audit.record(stream=case_stream(review.case_id), action="review.consensus", actor=actor, target_type="review",
                 target_id=review.pk, data={"outcome": result["outcome"].code, "policy": result["policy"].code,
                                            "duration_days": result["duration_days"], "votes": len(votes)})
    if result["outcome"].requires_approval and version.approval_stage_key:
        _go_to(review=review, target=version.approval_stage_key, actor=actor, now=now,
               reason=f"{result['outcome'].code} requires approval", proposed={**result, "review": review})
        return
    _after_result(review=review, result=result, target=stage.on_consensus, actor=actor, now=now)


def _after_result(*, review, result, target, actor, now):
    if target == DECIDE:
        _decide_from_review(review=review, result=result, actor=actor, now=now)
        return
    next_stage = review.stage.version.stages.get(key=target)
    proposed = {**result, "review": review} if next_stage.kind == StageKind.APPROVAL else None
    _go_to(review=review, target=target, actor=actor, now=now, reason="consensus", proposed=proposed)


# ---- decisions ---------------------------------------------------------------------

def _next_sequence():
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("UPDATE reviews_decisionsequence SET value = value + 1 WHERE id = 1 RETURNING value")
            row = cursor.fetchone()
        if row:
            return row[0]
        DecisionSequence.objects.get_or_create(pk=1)
        return _next_sequence()
    counter, _ = DecisionSequence.objects.select_for_update().get_or_create(pk=1)
    DecisionSequence.objects.filter(pk=1).update(value=F("value") + 1)
    return counter.value + 1


def _review_chain(review):
    chain, seen = [], set()
    while review is not None and review.pk not in seen:
        seen.add(review.pk)
        chain.append(review)
        review = review.proposed_from
    return chain


def statement_of_reasons(*, outcome, policy, votes, duration_days=None):
    """Facts and reasons, built from the policy and the reviewers' rationales."""
    lines = [f"Decision: {outcome.name}" + (f" for {duration_days} days" if duration_days else "") + "."]
    if policy is not None:
        lines.append(f"Ground: the {policy.name} policy ({policy.code}) of the terms of service. {policy.description}")
    rationales = [v.rationale.strip() for v in votes if v.rationale.strip()]
    if rationales:
        lines.append("Reasons given by the reviewers:")
        lines.extend(f"- {r}" for r in dict.fromkeys(rationales))
    return "\n".join(lines)


def _decide_from_review(*, review, result, actor, now):
    chain = _review_chain(review)
    votes = list(Vote.objects.filter(review__in=chain).select_related("reviewer", "outcome", "policy").order_by("cast_at"))
    deciding_votes = [v for v in votes if v.outcome_id == result["outcome"].pk or v.approved]
    kind, supersedes = DecisionKind.ORIGINAL, None
    appeal = review.appeal
    if appeal is not None:
        supersedes = appeal.decision
        if result["outcome"].pk == supersedes.outcome_id and result["policy"] == supersedes.policy:
            kind = DecisionKind.APPEAL_UPHELD
        elif not result["outcome"].is_violation and supersedes.outcome.is_violation:
            kind = DecisionKind.APPEAL_OVERTURNED
        else:
            kind = DecisionKind.APPEAL_MODIFIED
    return decision_record(
        case=review.case, review=review, kind=kind, outcome=result["outcome"], policy=result["policy"],
        duration_days=result["duration_days"], votes=votes, facts=statement_of_reasons(
            outcome=result["outcome"], policy=result["policy"], votes=deciding_votes,
            duration_days=result["duration_days"]),
        actor=actor, now=now, supersedes=supersedes, appeal=appeal,
    )


def decision_record(*, case, review, kind, outcome, policy, duration_days, votes, facts, actor, now,
                    supersedes=None, appeal=None, decided_by=None):
    """Records a Decision and moves the case to `decided`. The previous
    current decision (if any) stays in the history, no longer current."""
    Decision.objects.filter(case=case, is_current=True).update(is_current=False)
    reports = Report.objects.filter(case=case)
    automated_detection = reports.filter(reporter_kind="automated").exists()
    jurisdictions = sorted({code for j in reports.values_list("jurisdiction", flat=True) for code in (j or [])})
    decision = Decision.objects.create(
        case=case, review=review, stage_key=review.stage.key if review else "", kind=kind, outcome=outcome,
        policy=policy, duration_days=duration_days,
        reviewers=[{"user_id": v.reviewer_id, "username": v.reviewer.get_username(), "review_id": str(v.review_id),
                    "outcome": v.outcome.code if v.outcome else None, "policy": v.policy.code if v.policy else None,
                    "approved": v.approved, "rationale": v.rationale} for v in votes],
        automated_detection=automated_detection,
        # Humans decide every case in this workflow engine; appeals never automated.
        automated_decision=False,
        facts_and_reasons=facts, territorial_scope=jurisdictions, decided_at=now, decided_by=decided_by,
        supersedes=supersedes, is_current=True, sequence=_next_sequence(),
    )
    if appeal is not None:
        result = {DecisionKind.APPEAL_UPHELD: AppealResult.UPHELD, DecisionKind.APPEAL_OVERTURNED:
                  AppealResult.OVERTURNED}.get(kind, AppealResult.MODIFIED)
        Appeal.objects.filter(pk=appeal.pk).update(state=AppealState.DECIDED, result=result, result_decision=decision,
                                                   decided_at=now)
        audit.record(stream=case_stream(case.pk), action="appeal.decided", actor=actor, target_type="appeal",
                     target_id=appeal.pk, data={"result": result, "decision_id": str(decision.pk)})
    case_change_state(case_id=case.pk, to_state=CaseState.DECIDED, actor=actor, reason=f"decision {kind}")
    audit.record(
        stream=case_stream(case.pk),
        action="decision.reversed" if kind == DecisionKind.APPEAL_OVERTURNED else "decision.made",
        actor=actor, target_type="decision", target_id=decision.pk,
        data={"outcome": outcome.code, "policy": policy.code if policy else None, "duration_days": duration_days,
              "kind": kind, "supersedes": str(supersedes.pk) if supersedes else None, "sequence": decision.sequence},
    )
    return decision


# ---- escalation and hold ------------------------------------------------------------

def case_escalate(*, case_id, actor_user, reason, now=None):
    """A seated reviewer or a lead sends the case to its workflow's
    escalation stage, raising its priority. Idempotent when already there."""
    now = now or timezone.now()
    if not reason.strip():
        raise NotAllowed("an escalation needs a reason")
    with transaction.atomic(), audit.batch():
        review = _active_review(case_id)  # lock order everywhere: review, then case
        _lock_case(case_id)
        if review is None:
            raise NotAllowed("the case has no active review to escalate")
        seated = Seat.objects.filter(review=review, moderator=actor_user, state=SeatState.CLAIMED).exists()
        if not seated and not is_lead(actor_user):
            raise NotAllowed("only a reviewer holding a seat, or a lead, can escalate")
        version = review.stage.version
        target = version.escalation_stage_key
        if not target:
            raise NotAllowed("this workflow has no escalation stage")
        if review.stage.key == target:
            return review
        actor = Actor.user(actor_user)
        _close_review(review, state=ReviewState.CANCELLED, now=now, reason=f"escalated: {reason}")
        audit.record(stream=case_stream(case_id), action="case.escalated", actor=actor, target_type="case",
                     target_id=case_id, data={"from_stage": review.stage.key, "to_stage": target, "reason": reason})
        review.case = Case.objects.get(pk=case_id)
        return _go_to(review=review, target=target, actor=actor, now=now, reason=reason)


def case_hold(*, case_id, lead, reason, now=None):
    """A lead pauses the case (waiting for information). Claims stop."""
    now = now or timezone.now()
    if not is_lead(lead):
        raise NotAllowed("only a lead can put a case on hold")
    if not reason.strip():
        raise NotAllowed("a hold needs a reason")
    with transaction.atomic(), audit.batch():
        review = _active_review(case_id)
        case = _lock_case(case_id)
        if case.state == CaseState.ON_HOLD:
            return case
        if review is None:
            raise NotAllowed("only a case under review can be put on hold")
        # The SLA clock stops: resume moves the deadlines by the open time spent on hold.
        Review.objects.filter(pk=review.pk).update(state=ReviewState.ON_HOLD, held_at=now)
        return case_change_state(case_id=case_id, to_state=CaseState.ON_HOLD, actor=Actor.user(lead), reason=reason)


def case_resume(*, case_id, lead, reason="", now=None):
    now = now or timezone.now()
    if not is_lead(lead):
        raise NotAllowed("only a lead can resume a case")
    with transaction.atomic(), audit.batch():
        review = Review.objects.select_for_update(of=("self",)).select_related("stage", "calendar").filter(
            case_id=case_id, state=ReviewState.ON_HOLD).first()
        case = _lock_case(case_id)
        if case.state != CaseState.ON_HOLD or review is None:
            return case
        changes = {"state": ReviewState.OPEN, "held_at": None}
        if review.held_at is not None:
            calendar = sla.calendar_of(review)
            if review.due_at is not None:
                changes["due_at"] = sla.resume_deadline(review.held_at, review.due_at, now, calendar)
            if review.warn_at is not None and review.warned_at is None:
                changes["warn_at"] = sla.resume_deadline(review.held_at, review.warn_at, now, calendar)
        Review.objects.filter(pk=review.pk).update(**changes)
        if review.stage.kind == StageKind.ESCALATION:
            target = CaseState.ESCALATED
        elif Seat.objects.filter(review__case_id=case_id).exists():
            target = CaseState.IN_REVIEW
        else:
            target = CaseState.OPEN
        return case_change_state(case_id=case_id, to_state=target, actor=Actor.user(lead), reason=reason or "resumed")


def note_add(*, review_id, author, text, now=None):
    """Reviewers add notes; votes themselves stay final."""
    now = now or timezone.now()
    if not text.strip():
        raise NotAllowed("a note needs text")
    with transaction.atomic(), audit.batch():
        review = Review.objects.get(pk=review_id)
        if not (Seat.objects.filter(review=review, moderator=author).exists() or is_lead(author)):
            raise NotAllowed("only a reviewer of this review, or a lead, can add notes")
        note = ReviewNote.objects.create(review=review, author=author, text=text, created_at=now)
        audit.record(stream=case_stream(review.case_id), action="review.note_added", actor=Actor.user(author),
                     target_type="review", target_id=review.pk, data={"note_id": note.pk})
        return note


# ---- appeals ---------------------------------------------------------------------

def appeal_file(*, case_id, appellant_kind, statement, actor, appellant_external_id="", now=None):
    """Opens an appeal against the case's current decision, reviewed in the
    appeal stage by people who took no part in it. Refused outside the
    window (APPEAL_WINDOW_DAYS from the decision) or when one is open."""
    now = now or timezone.now()
    if not statement.strip():
        raise AppealRefused("an appeal needs the appellant's statement", field="statement")
    with transaction.atomic(), audit.batch():
        case = _lock_case(case_id)
        decision = Decision.objects.filter(case=case, is_current=True).select_related("review__stage__version").first()
        if decision is None:
            raise AppealRefused("the case has no decision to appeal")
        if case.state == CaseState.CLOSED:
            # A closed case cannot reopen (a new report about the subject opens a new case).
            raise AppealRefused("the case is closed; its decision can no longer be appealed here", code="case_closed")
        deadline = decision.decided_at + timedelta(days=settings.APPEAL_WINDOW_DAYS)
        if now > deadline:
            raise AppealRefused(f"the appeal window closed on {deadline.date().isoformat()} "
                                f"({settings.APPEAL_WINDOW_DAYS} days after the decision)", code="appeal_window_closed")
        if Appeal.objects.filter(decision=decision, state=AppealState.OPEN).exists():
            raise AppealRefused("an appeal of this decision is already open", code="appeal_already_open")
        stage = _appeal_stage(decision)
        appeal = Appeal.objects.create(case=case, decision=decision, appellant_kind=appellant_kind,
                                       appellant_external_id=appellant_external_id, statement=statement, opened_at=now)
        audit.record(stream=case_stream(case.pk), action="appeal.opened", actor=actor, target_type="appeal",
                     target_id=appeal.pk, data={"decision_id": str(decision.pk), "appellant_kind": appellant_kind})
        case_change_state(case_id=case.pk, to_state=CaseState.IN_REVIEW, actor=actor, reason="appeal")
        case.refresh_from_db()
        _open_review(case=case, stage=stage, actor=actor, now=now, appeal=appeal, reason="appeal")
        return appeal


def _appeal_stage(decision):
    version = decision.review.stage.version if decision.review else None
    if version is not None and version.appeal_stage_key:
        return version.stages.get(key=version.appeal_stage_key)
    workflow = Workflow.objects.filter(slug=settings.APPEAL_WORKFLOW_SLUG).select_related("published_version").first()
    if workflow is None or workflow.published_version is None:
        raise AppealRefused("no appeal workflow is published")
    version = workflow.published_version
    return Stage.objects.get(version=version, key=version.appeal_stage_key or version.first_stage_key)


def outcome_by_code(code):
    return Outcome.objects.filter(code=code, active=True).first()


def decision_amend_reasons(*, decision_id, lead, text, now=None):
    """A lead edits the statement of reasons of a current decision (the
    generated text is a draft built from the rationales). Outcome, policy and
    reviewers never change; the audit event keeps the previous text."""
    if not is_lead(lead):
        raise NotAllowed("only a lead can edit the statement of reasons")
    if not text.strip():
        raise NotAllowed("the statement of reasons cannot be empty")
    with transaction.atomic(), audit.batch():
        decision = Decision.objects.select_for_update().get(pk=decision_id)
        if not decision.is_current:
            raise NotAllowed("only the current decision's statement can be edited")
        if decision.facts_and_reasons == text:
            return decision
        before = decision.facts_and_reasons
        decision.facts_and_reasons = text
        decision.decided_by = lead
        decision.save(update_fields=["facts_and_reasons", "decided_by"])
        audit.record(stream=case_stream(decision.case_id), action="decision.reasons_amended", actor=Actor.user(lead),
                     target_type="decision", target_id=decision.pk, data={"before": before, "after": text})
        return decision
