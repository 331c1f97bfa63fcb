"""Votes and what a stage does once M of them agree (consensus) or agreement became impossible (split)."""

import json
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

import audit
from audit.context import Actor
from audit.models import AuditStreamHead
from audit.services import case_stream
from cases.models import Case, Policy
from config.sql import insert_sql, together

from .. import triggers as T
from ..consensus import CONSENSUS, PENDING, SPLIT, evaluate
from ..errors import InvalidVote, NotEligible, NotSeated, ReviewClosed
from ..models import (
    DECIDE,
    ModeratorIdentity,
    Outcome,
    Review,
    ReviewState,
    Seat,
    SeatState,
    Stage,
    StageKind,
    Vote,
    WorkflowVersion,
)
from ..states import seat_check_transition
from .approvals import needs_approval, rejection_bars, rejection_target, reproposal_rule
from .decisions import _decide_from_review
from .lifecycle import review_advance, review_close, review_timeout_if_owed
from .seats import _fetch_prepared, _from_db_values, _identities, eligibility_problem, moderator_groups_table


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
    statement of reasons (required for outcomes that ask for one).

    On PostgreSQL a vote that does not close the stage is two statements
    (tests/reviews/test_vote_round_trips.py): the first locks the review, its
    case and the case's audit head and reads the stage, the votes so far,
    the reviewer's seat, group, platform identities at the source and
    whether the outcome is allowed (_lock_for_vote); the second inserts the
    vote, marks the seat voted and appends the audit event at the head it
    holds."""
    now = now or timezone.now()
    with transaction.atomic(), audit.batch() as batch:
        locked = _lock_for_vote(review_id=review_id, reviewer=reviewer, outcome=outcome)
        if locked is not None:
            review, facts = locked
            votes = facts.votes
            for v in votes:  # the full objects the caller passed, where they are the same rows
                if outcome is not None and v.outcome_id == outcome.pk:
                    Vote._meta.get_field("outcome").set_cached_value(v, outcome)
                if policy is not None and v.policy_id == policy.pk:
                    Vote._meta.get_field("policy").set_cached_value(v, policy)
            if facts.head is not None:
                batch.known_heads[case_stream(review.case_id)] = facts.head
        else:  # SQLite, or a case without an audit head row yet: the same reads, one by one
            review = Review.objects.select_for_update(of=("self",)).select_related(
                "stage__version", "case", "appeal", "proposed_outcome", "proposed_policy").get(pk=review_id)
            # Every vote of the review, read once under the review lock (votes are only cast under it).
            votes = list(Vote.objects.filter(review=review).order_by("cast_at", "pk"))
            facts = None
        stage = review.stage
        existing = next((v for v in votes if v.reviewer_id == reviewer.pk), None)
        if existing is not None:
            same = (existing.outcome_id == getattr(outcome, "pk", None) and existing.policy_id == getattr(policy, "pk", None)
                    and existing.approved == approved)
            if same:
                return existing
            raise InvalidVote("you already voted in this review; votes are final", code="vote_final")
        if review.state != ReviewState.OPEN:
            raise ReviewClosed(f"this review is {review.get_state_display().lower()}; the vote was not counted")
        if facts is not None:
            seat_id = facts.seat_id
        else:
            seat_id = (Seat.objects.select_for_update().filter(review=review, moderator=reviewer,
                                                                state=SeatState.CLAIMED).values_list("pk", flat=True)
                       .first())
        if seat_id is None:
            raise NotSeated("you hold no seat in this review (claim one first, or your lease expired)")
        # Eligibility again, not only at claim: identities, groups and earlier stages may have changed since.
        if facts is not None:
            problem = eligibility_problem(review, reviewer, seat_checked=True,
                                          group_ids={stage.group_id} if facts.in_group else set(),
                                          identities=_identities(reviewer) if facts.has_identity else {})
        else:
            problem = eligibility_problem(review, reviewer, seat_checked=True)
        if problem:
            raise NotEligible(f"{reviewer.get_username()} {problem}; the vote was not counted",
                              code="not_eligible_to_vote")
        _validate_vote(stage, outcome, policy, rationale, duration_days, approved,
                       allowed=facts.outcome_allowed if facts is not None else None)
        if approved is None and outcome is not None and outcome.requires_public_explanation \
                and not public_explanation.strip():
            raise InvalidVote(f"{outcome.code} needs a public explanation for the affected user",
                              field="public_explanation", code="public_explanation_required")
        vote = Vote(review=review, reviewer=reviewer, outcome=outcome, policy=policy, approved=approved,
                    duration_days=duration_days, rationale=rationale, public_explanation=public_explanation.strip(),
                    cast_at=now)
        seat_check_transition(SeatState.CLAIMED, SeatState.VOTED)  # the seat read above is claimed
        if facts is not None:
            vote.pk = facts.next_vote_id
        else:
            _store_vote(vote, seat_id=seat_id, vote_id=None, batch=None)
        votes = sorted([*votes, vote], key=lambda v: (v.cast_at, v.pk))
        quorum, seats_needed = review.requirement  # the stage's M of N, or more if a rule required it
        tally = evaluate(quorum=quorum, seats=seats_needed, votes=[_vote_key(stage, v) for v in votes])
        if facts is not None:
            # Nothing after a pending vote reads the vote or seat table (a breached review's owed
            # timeout reads the seats), so its rows can go in the statement of the audit event.
            _store_vote(vote, seat_id=seat_id, vote_id=vote.pk,
                        batch=batch if tally.state == PENDING and review.breached_at is None else None)
        actor = Actor.user(reviewer)
        audit.record(stream=case_stream(review.case_id), action="vote.cast", actor=actor, target_type="review",
                     target_id=review.pk, data={
                         "outcome": outcome.code if outcome else None, "policy": policy.code if policy else None,
                         "approved": approved, "duration_days": duration_days, "votes_cast": len(votes)})
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


def _store_vote(vote: Vote, *, seat_id: int, vote_id: int | None, batch: Any) -> None:
    """The vote row and its seat marked voted: one statement now, or (with
    `batch`, an audit batch) in the statement that writes the audit events."""
    seat_update = (f"UPDATE {Seat._meta.db_table} SET state = %s WHERE id = %s", [SeatState.VOTED, seat_id])
    if vote_id is None:
        vote.save(force_insert=True)
        Seat.objects.filter(pk=seat_id).update(state=SeatState.VOTED)
        return
    vote.pk = vote_id
    statements = [insert_sql([vote]), seat_update]
    if batch is not None:
        batch.also.extend(statements)
        return
    together(statements)


class _VoteFacts:
    """What _lock_for_vote read besides the review, its case, stage and version."""

    __slots__ = ("votes", "seat_id", "in_group", "has_identity", "outcome_allowed", "next_vote_id", "head")

    def __init__(self, **kwargs: Any) -> None:
        for name, value in kwargs.items():
            setattr(self, name, value)


# The columns the vote's first statement returns: the review's, then its case's, stage's and version's.
_LOCKED = ((Review, "r", None), (Case, "c", "case"), (Stage, "s", "stage"), (WorkflowVersion, "wv", None))
_lock_sql_cache: dict[bool, str] = {}


def _lock_sql(*, audited: bool) -> str:
    """Built once per process; parameters: reviewer (three times), outcome id, review id."""
    user_model = get_user_model()
    select = ", ".join(f"{alias}.{f.column}" for model, alias, _ in _LOCKED for f in model._meta.concrete_fields)
    allowed = Stage.allowed_outcomes.through._meta.db_table
    username = user_model._meta.get_field(user_model.USERNAME_FIELD).column
    votes = (
        "(SELECT json_agg(json_build_object('id', v.id, 'reviewer_id', v.reviewer_id, 'username', u."
        f"{username}, 'outcome_id', v.outcome_id, 'outcome_code', o.code, 'policy_id', v.policy_id, "
        "'policy_code', p.code, 'approved', v.approved, 'duration_days', v.duration_days, 'rationale', v.rationale, "
        "'public_explanation', v.public_explanation, 'cast_at', v.cast_at) ORDER BY v.cast_at, v.id) "
        f"FROM {Vote._meta.db_table} v JOIN {user_model._meta.db_table} u ON u.id = v.reviewer_id "
        f"LEFT JOIN {Outcome._meta.db_table} o ON o.id = v.outcome_id "
        f"LEFT JOIN {Policy._meta.db_table} p ON p.id = v.policy_id WHERE v.review_id = r.id)"
    )
    # The head as this statement's snapshot saw it beside the locked (latest) row: see _lock_for_vote.
    head = (f", h.seq, h.hash, (SELECT h2.seq FROM {AuditStreamHead._meta.db_table} h2 WHERE h2.stream = h.stream)"
            if audited else ", NULL, NULL, NULL")
    head_join = (f" JOIN {AuditStreamHead._meta.db_table} h ON h.stream = 'case:' || r.case_id::text"
                 if audited else "")
    return (
        f"SELECT {select}, {votes}, "
        f"(SELECT st.id FROM {Seat._meta.db_table} st WHERE st.review_id = r.id AND st.moderator_id = %s "
        "AND st.state = 'claimed' LIMIT 1), "
        f"EXISTS (SELECT 1 FROM {moderator_groups_table()} ug WHERE ug.user_id = %s AND ug.group_id = s.group_id), "
        f"EXISTS (SELECT 1 FROM {ModeratorIdentity._meta.db_table} mi WHERE mi.user_id = %s "
        "AND mi.source_id = c.source_id), "
        f"EXISTS (SELECT 1 FROM {allowed} ao WHERE ao.stage_id = s.id AND ao.outcome_id = %s), "
        f"nextval(pg_get_serial_sequence('{Vote._meta.db_table}', 'id'))" + head +
        f" FROM {Review._meta.db_table} r JOIN {Case._meta.db_table} c ON c.id = r.case_id "
        f"JOIN {Stage._meta.db_table} s ON s.id = r.stage_id "
        f"JOIN {WorkflowVersion._meta.db_table} wv ON wv.id = s.version_id" + head_join +
        # The house lock order: review, case, audit head (a deciding vote changes the case).
        " WHERE r.id = %s FOR UPDATE OF r, c" + (", h" if audited else "")
    )


def _lock_for_vote(*, review_id: Any, reviewer: Any, outcome: Outcome | None) -> tuple[Review, _VoteFacts] | None:
    """The review locked with its case and the case's audit head (in that
    order, waiting like any writer), and everything a vote checks, in one
    prepared statement. None off PostgreSQL or when the review or the head
    row is missing (the caller then reads the same one by one)."""
    if connection.vendor != "postgresql":
        return None
    audited = not settings.AUDIT_DISABLED_FOR_BENCHMARK
    if audited not in _lock_sql_cache:
        _lock_sql_cache[audited] = _lock_sql(audited=audited)
    params = [reviewer.pk, reviewer.pk, reviewer.pk, getattr(outcome, "pk", None), str(review_id)]
    row = _fetch_prepared(_lock_sql_cache[audited], params)
    if row is None:
        return None
    # The statement reads the votes and seats on the snapshot it started with; if it had to wait for the
    # locks, the vote that held them may have committed since, unseen. Every vote moves the case's audit
    # head, and a locked row is returned as its latest version: a head newer than the snapshot's means
    # read again (holding the locks now, so that statement's snapshot has everything). Without the
    # audit (benchmark mode) there is no such sign: always read again.
    if not audited or row[-1] != row[-3]:
        row = _fetch_prepared(_lock_sql_cache[audited], params)
    instances, at = [], 0
    for model, _alias, _prefix in _LOCKED:
        names = [f.attname for f in model._meta.concrete_fields]
        instances.append(model.from_db(connection.alias, names, _from_db_values(model, row[at:at + len(names)])))
        at += len(names)
    review, case, stage, version = instances
    Stage._meta.get_field("version").set_cached_value(stage, version)
    Review._meta.get_field("case").set_cached_value(review, case)
    Review._meta.get_field("stage").set_cached_value(review, stage)
    raw_votes, seat_id, in_group, has_identity, allowed, next_vote_id, head_seq, head_hash, _seen = row[at:at + 9]
    votes = [_vote_from_row(review, item) for item in (raw_votes if isinstance(raw_votes, list)
                                                      else json.loads(raw_votes or "null") or [])]
    return review, _VoteFacts(votes=votes, seat_id=seat_id, in_group=in_group, has_identity=has_identity,
                              outcome_allowed=allowed, next_vote_id=next_vote_id,
                              head=(head_seq, head_hash) if head_seq is not None else None)


def _vote_from_row(review: Review, item: dict) -> Vote:
    """A stored vote from the first statement's JSON, with its reviewer (id
    and name), outcome and policy (id and code) attached; any other field of
    those loads on first use, as a deferred field does."""
    user_model = get_user_model()
    vote = Vote(id=item["id"], review_id=review.pk, reviewer_id=item["reviewer_id"], outcome_id=item["outcome_id"],
                policy_id=item["policy_id"], approved=item["approved"], duration_days=item["duration_days"],
                rationale=item["rationale"], public_explanation=item["public_explanation"],
                cast_at=datetime.fromisoformat(item["cast_at"]))
    vote._state.adding = False
    vote._state.db = connection.alias
    Vote._meta.get_field("review").set_cached_value(vote, review)
    Vote._meta.get_field("reviewer").set_cached_value(vote, user_model.from_db(
        connection.alias, ["id", user_model.USERNAME_FIELD], [item["reviewer_id"], item["username"]]))
    if item["outcome_id"] is not None:
        Vote._meta.get_field("outcome").set_cached_value(vote, Outcome.from_db(
            connection.alias, ["id", "code"], [item["outcome_id"], item["outcome_code"]]))
    if item["policy_id"] is not None:
        Vote._meta.get_field("policy").set_cached_value(vote, Policy.from_db(
            connection.alias, ["id", "code"], [item["policy_id"], item["policy_code"]]))
    return vote


def _validate_vote(stage, outcome, policy, rationale, duration_days, approved, *, allowed=None):
    """`allowed`: whether the stage allows `outcome`, when the caller read it already."""
    if stage.kind == StageKind.APPROVAL:
        if approved is None:
            raise InvalidVote("an approval vote approves or rejects (approved=true/false)", field="approved")
        if not approved and not rationale.strip():
            raise InvalidVote("a rejection needs the approver's reason", field="rationale")
        return
    if approved is not None:
        raise InvalidVote("approve/reject is only for approval stages", field="approved")
    if allowed is None and outcome is not None:
        allowed = stage.allowed_outcomes.filter(pk=outcome.pk).exists()
    if outcome is None or not outcome.active or not allowed:
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
                  trigger=T.CONSENSUS, votes=votes)


def _after_result(*, review, result, target, actor, now, trigger, votes=None):
    if target == DECIDE:
        _decide_from_review(review=review, result=result, actor=actor, now=now, votes=votes)
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

