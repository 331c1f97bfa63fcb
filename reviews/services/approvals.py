"""Approvals that cannot be shopped.

A proposal that needs four eyes (an outcome that requires approval, or a
time-limited one longer than its `approval_over_days`) goes to the version's
approval stage. A rejection is sticky:

- the case goes up to the proposing stage's next tier (at the top tier: the
  same tier again), not back to the stage that proposed it;
- neither the proposers nor the approvers who rejected may sit there, nor in
  any later approval of the same outcome on the case (`Review.barred_user_ids`);
- re-proposing the same outcome on the case from below that tier goes to that
  tier instead of to approval.

A rejection is data, not a reason string: an approval review closed without
a result (consensus on "reject", or a split).
"""

from collections.abc import Iterable
from typing import Any

from ..models import Outcome, Review, ReviewState, StageKind, Vote
from ..tiers import is_at_or_above, next_tier_key


def needs_approval(outcome: Outcome, duration_days: int | None) -> bool:
    """Whether a result must pass the four-eyes stage."""
    if outcome.requires_approval:
        return True
    return outcome.approval_over_days is not None and (duration_days or 0) > outcome.approval_over_days


def rejection_target(approval_review: Review) -> str:
    """Where a rejection of `approval_review`'s proposal sends the case: the
    proposing stage's next tier; at the top tier, that tier again (with the
    proposers and rejecters barred); for a proposal of unknown origin, the
    approval stage's split target."""
    proposer = approval_review.proposed_from
    if proposer is None:
        return approval_review.stage.on_split
    version = approval_review.stage.version
    return next_tier_key(proposer.stage, version.escalation_stage_key) or proposer.stage.key


def _rejections(case_id: Any, outcome_id: int) -> list[Review]:
    return list(Review.objects.filter(case_id=case_id, stage__kind=StageKind.APPROVAL, proposed_outcome_id=outcome_id,
                                      state__in=[ReviewState.CONSENSUS, ReviewState.SPLIT],
                                      result_outcome__isnull=True)
                .select_related("stage__version", "proposed_from__stage").order_by("closed_at", "opened_at"))


def _bars_of(rejections: Iterable[Review]) -> set[int]:
    """The proposers and rejecting approvers of these rejected proposals (and whoever they barred)."""
    rejections = list(rejections)
    barred: set[int] = set()
    review_ids = []
    for r in rejections:
        barred.update(r.barred_user_ids or ())
        if r.proposed_from_id:
            review_ids.append(r.proposed_from_id)
    proposers = Vote.objects.filter(review_id__in=review_ids).values_list("reviewer_id", flat=True)
    rejecters = Vote.objects.filter(review__in=rejections, approved=False).values_list("reviewer_id", flat=True)
    barred.update(proposers)
    barred.update(rejecters)
    return barred


def rejection_bars(approval_review: Review) -> set[int]:
    """Who may not sit where the rejection of `approval_review` goes: its
    proposers and rejecters, and those of earlier rejections of the same outcome."""
    earlier = _rejections(approval_review.case_id, approval_review.proposed_outcome_id)
    return _bars_of([*earlier, approval_review])


def reproposal_rule(*, review: Review, outcome: Outcome, stages: dict[str, Any]) -> tuple[str, set[int]]:
    """For a result of `review` proposing `outcome`: the tier that an
    earlier rejection of it on this case requires ("" when the review's stage
    already is at or above it, or nothing was rejected) and who is barred
    from judging it."""
    rejections = _rejections(review.case_id, outcome.pk)
    if not rejections:
        return "", set()
    barred = _bars_of(rejections)
    tier = rejection_target(rejections[-1])
    version = review.stage.version
    if tier not in stages or is_at_or_above(stages, review.stage.key, tier, version.escalation_stage_key):
        return "", barred
    return tier, barred
