"""Votes and what a stage does once M of them agree (consensus) or agreement became impossible (split)."""

from django.db import transaction
from django.utils import timezone

import audit
from audit.context import Actor
from audit.services import case_stream

from .. import triggers as T
from ..consensus import CONSENSUS, SPLIT, evaluate
from ..errors import InvalidVote, NotEligible, NotSeated, ReviewClosed
from ..models import (
    DECIDE,
    Review,
    ReviewState,
    Seat,
    SeatState,
    StageKind,
    Vote,
)
from ..states import seat_check_transition
from .approvals import needs_approval, rejection_bars, rejection_target, reproposal_rule
from .decisions import _decide_from_review
from .lifecycle import review_advance, review_close, review_timeout_if_owed
from .seats import eligibility_problem


def _vote_key(stage, vote):
    if stage.kind == StageKind.APPROVAL:
        return ("approve",) if vote.approved else ("reject",)
    return (vote.outcome_id, vote.policy_id)


def vote_cast(*, review_id, reviewer, outcome=None, policy=None, rationale="", duration_days=None, approved=None,
              now=None, public_explanation=""):
    """Casts `reviewer`'s vote; final once cast. Requires a claimed seat in an
    open review. Closes the stage as soon as M votes agree (consensus) or
    agreement has become impossible (split), inside the review lock, so
    exactly one result and at most one decision come out however many
    reviewers vote at once. A repeated identical submission returns the
    first vote; a vote after the stage closed raises ReviewClosed.
    `rationale` is internal; `public_explanation` is published in the
    statement of reasons (required for outcomes that ask for one)."""
    now = now or timezone.now()
    with transaction.atomic(), audit.batch():
        review = Review.objects.select_for_update(of=("self",)).select_related(
            "stage__version", "case", "appeal", "proposed_outcome", "proposed_policy").get(pk=review_id)
        stage = review.stage
        # Every vote of the review, read once under the review lock (votes are only cast under it):
        # whether this reviewer voted already, and then the tally.
        votes = list(Vote.objects.filter(review=review).order_by("cast_at", "pk"))
        existing = next((v for v in votes if v.reviewer_id == reviewer.pk), None)
        if existing is not None:
            same = (existing.outcome_id == getattr(outcome, "pk", None) and existing.policy_id == getattr(policy, "pk", None)
                    and existing.approved == approved)
            if same:
                return existing
            raise InvalidVote("you already voted in this review; votes are final", code="vote_final")
        if review.state != ReviewState.OPEN:
            raise ReviewClosed(f"this review is {review.get_state_display().lower()}; the vote was not counted")
        seat = Seat.objects.select_for_update().filter(review=review, moderator=reviewer,
                                                       state=SeatState.CLAIMED).first()
        if seat is None:
            raise NotSeated("you hold no seat in this review (claim one first, or your lease expired)")
        # Eligibility again, not only at claim: identities, groups and earlier stages may have changed since.
        problem = eligibility_problem(review, reviewer, seat_checked=True)
        if problem:
            raise NotEligible(f"{reviewer.get_username()} {problem}; the vote was not counted",
                              code="not_eligible_to_vote")
        _validate_vote(stage, outcome, policy, rationale, duration_days, approved)
        if approved is None and outcome is not None and outcome.requires_public_explanation \
                and not public_explanation.strip():
            raise InvalidVote(f"{outcome.code} needs a public explanation for the affected user",
                              field="public_explanation", code="public_explanation_required")
        vote = Vote.objects.create(review=review, reviewer=reviewer, outcome=outcome, policy=policy, approved=approved,
                                   duration_days=duration_days, rationale=rationale,
                                   public_explanation=public_explanation.strip(), cast_at=now)
        seat_check_transition(seat.state, SeatState.VOTED)
        seat.state = SeatState.VOTED
        seat.save(update_fields=["state"])
        votes = sorted([*votes, vote], key=lambda v: (v.cast_at, v.pk))
        actor = Actor.user(reviewer)
        audit.record(stream=case_stream(review.case_id), action="vote.cast", actor=actor, target_type="review",
                     target_id=review.pk, data={
                         "outcome": outcome.code if outcome else None, "policy": policy.code if policy else None,
                         "approved": approved, "duration_days": duration_days, "votes_cast": len(votes)})
        quorum, seats_needed = review.requirement  # the stage's M of N, or more if a rule required it
        tally = evaluate(quorum=quorum, seats=seats_needed, votes=[_vote_key(stage, v) for v in votes])
        if tally.state == CONSENSUS:
            _on_consensus(review=review, votes=votes, key=tally.key, actor=actor, now=now)
        elif tally.state == SPLIT:
            review_close(review, state=ReviewState.SPLIT, now=now, reason="split")
            audit.record(stream=case_stream(review.case_id), action="review.split", actor=actor,
                         target_type="review", target_id=review.pk, data={"votes": len(votes), "trigger": T.SPLIT})
            if stage.kind == StageKind.APPROVAL:
                # approvers who cannot agree to approve have not approved: a rejection, just as sticky
                _after_rejection(review=review, actor=actor, now=now, reason="rejected in approval")
            else:
                review_advance(review=review, target=stage.on_split, actor=actor, now=now, reason="split",
                               trigger=T.SPLIT)
        else:
            review_timeout_if_owed(review=review, now=now, actor=actor)
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
            raise InvalidVote(f"{outcome.code} needs a duration in days", field="duration_days",
                              code="duration_required")
    elif duration_days is not None:
        raise InvalidVote(f"{outcome.code} takes no duration", field="duration_days", code="duration_not_allowed")
    if (outcome.approval_over_days is not None and needs_approval(outcome, duration_days)
            and not stage.version.approval_stage_key):
        raise InvalidVote(f"{outcome.code} for more than {outcome.approval_over_days} days needs approval, and this "
                          "workflow has no approval stage", field="duration_days", code="approval_unavailable")


def _on_consensus(*, review, votes, key, actor, now):
    stage = review.stage
    version = stage.version
    if stage.kind == StageKind.APPROVAL:
        result = {"outcome": review.proposed_outcome, "policy": review.proposed_policy,
                  "duration_days": review.proposed_duration_days}
        if key == ("reject",):
            review_close(review, state=ReviewState.CONSENSUS, now=now, reason="rejected")
            reasons = "; ".join(v.rationale for v in votes if v.approved is False)
            audit.record(stream=case_stream(review.case_id), action="review.approval_rejected", actor=actor,
                         target_type="review", target_id=review.pk,
                         data={"reason": reasons, "trigger": T.REJECTION, "outcome": review.proposed_outcome.code,
                               "to_stage": rejection_target(review),
                               "proposed_in": review.proposed_from.stage.key if review.proposed_from else None})
            _after_rejection(review=review, actor=actor, now=now, reason=f"approval rejected: {reasons}")
            return
        review_close(review, state=ReviewState.CONSENSUS, now=now, result=result, reason="approved")
        audit.record(stream=case_stream(review.case_id), action="review.consensus", actor=actor,
                     target_type="review", target_id=review.pk,
                     data={"outcome": result["outcome"].code, "approved": True, "trigger": T.APPROVAL})
        _after_result(review=review, result=result, target=stage.on_consensus, actor=actor, now=now,
                      trigger=T.APPROVAL)
        return

    agreeing = [v for v in votes if _vote_key(stage, v) == key]
    durations = sorted(v.duration_days for v in agreeing if v.duration_days)
    result = {"outcome": agreeing[0].outcome, "policy": agreeing[0].policy,
              # agreeing reviewers may differ on the length: the shortest is what all of them support
              "duration_days": durations[0] if durations else None}
    review_close(review, state=ReviewState.CONSENSUS, now=now, result=result, reason="consensus")
    audit.record(stream=case_stream(review.case_id), action="review.consensus", actor=actor, target_type="review",
                 target_id=review.pk, data={"outcome": result["outcome"].code, "policy": result["policy"].code,
                                            "duration_days": result["duration_days"], "votes": len(votes),
                                            "trigger": T.CONSENSUS})
    if needs_approval(result["outcome"], result["duration_days"]) and version.approval_stage_key:
        _propose(review=review, result=result, approval_key=version.approval_stage_key, actor=actor, now=now,
                 reason=f"{result['outcome'].code} requires approval", trigger=T.CONSENSUS)
        return
    _after_result(review=review, result=result, target=stage.on_consensus, actor=actor, now=now,
                  trigger=T.CONSENSUS)


def _after_result(*, review, result, target, actor, now, trigger):
    if target == DECIDE:
        _decide_from_review(review=review, result=result, actor=actor, now=now)
        return
    next_stage = review.stage.version.stages.get(key=target)
    if next_stage.kind == StageKind.APPROVAL:
        _propose(review=review, result=result, approval_key=target, actor=actor, now=now, reason="consensus",
                 trigger=trigger)
        return
    review_advance(review=review, target=target, actor=actor, now=now, reason="consensus", trigger=trigger)


def _after_rejection(*, review, actor, now, reason):
    """A rejected proposal goes up a tier, never back to where it was proposed (see approvals)."""
    review_advance(review=review, target=rejection_target(review), actor=actor, now=now, reason=reason,
                   trigger=T.REJECTION, barred=rejection_bars(review),
                   data={"rejected_outcome": review.proposed_outcome.code})


def _propose(*, review, result, approval_key, actor, now, reason, trigger):
    """Sends `review`'s result to approval, unless the same outcome was
    rejected on this case before and `review`'s stage is below the tier
    that rejection went to: then to that tier (see approvals)."""
    stages = {s.key: s for s in review.stage.version.stages.all()}
    code = result["outcome"].code
    tier, barred = reproposal_rule(review=review, outcome=result["outcome"], stages=stages)
    if tier:
        voters = set(Vote.objects.filter(review=review).values_list("reviewer_id", flat=True))
        review_advance(review=review, target=tier, actor=actor, now=now,
                       reason=f"re-proposal of {code}, rejected in approval before, needs the {tier} tier",
                       trigger=T.REPROPOSAL, barred=barred | voters, data={"reproposal": code})
        return
    review_advance(review=review, target=approval_key, actor=actor, now=now, reason=reason, trigger=trigger,
                   proposed={**result, "review": review}, barred=barred,
                   data={"reproposal": code} if barred else None)

