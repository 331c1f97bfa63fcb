"""Decisions: recording them, their statement of reasons, publishing them (the decision feed sequence)."""

from django.db import connection, transaction
from django.db.models import F

import audit
from audit.context import Actor
from audit.services import case_stream
from cases.models import Case, CaseState, Report
from cases.services import case_change_state
from signals.services import signals_record_decision

from .. import hooks
from .. import triggers as T
from ..errors import NotAllowed
from ..models import (
    Appeal,
    AppealResult,
    AppealState,
    Decision,
    DecisionKind,
    DecisionSequence,
    Outcome,
    Review,
    ReviewState,
    Vote,
)
from ..states import appeal_check_transition
from ._common import ACTIVE, is_lead
from .lifecycle import review_close

# What a decision of the final appeal tier tells the appellant (DSA Art. 21).
OUT_OF_COURT_NOTICE = (
    "This decision was taken in the final appeal tier; no further internal appeal is possible. It can be referred to "
    "a certified out-of-court dispute settlement body (Regulation (EU) 2022/2065, Art. 21); the right to go to court "
    "is not affected.")


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


def _take_sequence(decision_id) -> int:
    """Gives the decision the next feed position; on PostgreSQL the counter
    and the decision in one statement (the counter's row lock is held until
    commit, as with _next_sequence)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "WITH s AS (UPDATE reviews_decisionsequence SET value = value + 1 WHERE id = 1 RETURNING value) "
                "UPDATE reviews_decision d SET sequence = s.value FROM s WHERE d.id = %s RETURNING d.sequence",
                [decision_id])
            row = cursor.fetchone()
        if row:
            return row[0]
        # No counter row yet (the first decision ever), or no such decision: the portable path.
    sequence = _next_sequence()
    Decision.objects.filter(pk=decision_id).update(sequence=sequence)
    return sequence


def _review_chain(review):
    chain, seen = [], set()
    while review is not None and review.pk not in seen:
        seen.add(review.pk)
        chain.append(review)
        review = review.proposed_from
    return chain


def statement_of_reasons(*, outcome, policy, public_explanation: str = "", duration_days=None,
                         language: str = "en") -> str:
    """The public facts and reasons: the outcome, the policy it rests on, the
    reason text admins maintain for that policy and outcome (reviews.hooks)
    and the reviewers' public explanation. Never the reviewers' rationales,
    which stay internal (Decision.reviewers, the console)."""
    lines = [f"Decision: {outcome.name}" + (f" for {duration_days} days" if duration_days else "") + "."]
    if policy is not None:
        lines.append(f"Ground: the {policy.name} policy ({policy.code}) of the terms of service. {policy.description}")
    reason = hooks.public_reason(policy=policy, outcome=outcome, language=language).strip()
    if reason:
        lines.append(reason)
    if public_explanation.strip():
        lines.append(public_explanation.strip())
    return "\n".join(lines)


def public_explanation_of(votes) -> str:
    """The deciding reviewers' public explanations, each once, in the order cast."""
    texts = [v.public_explanation.strip() for v in votes if v.public_explanation.strip()]
    return "\n".join(dict.fromkeys(texts))


def _decide_from_review(*, review, result, actor, now, votes=None):
    """`votes`: the review's votes with reviewer, outcome and policy, when the
    caller holds them (vote_cast); used when no earlier review is in the chain."""
    if votes is None or review.proposed_from_id is not None:
        chain = _review_chain(review)
        votes = list(Vote.objects.filter(review__in=chain).select_related("reviewer", "outcome", "policy")
                     .order_by("cast_at"))
    deciding_votes = [v for v in votes if v.outcome_id == result["outcome"].pk or v.approved]
    kind, supersedes = DecisionKind.ORIGINAL, None
    appeal = review.appeal
    final = False
    if appeal is None:
        # A re-review round (re-opened by the re-review rules) supersedes the decision it followed.
        supersedes = Decision.objects.filter(case=review.case, is_current=True).select_related("outcome").first()
        if supersedes is not None:
            kind = DecisionKind.REREVIEW
    if appeal is not None:
        supersedes = appeal.decision
        kind = appeal_result_kind(previous=supersedes, outcome=result["outcome"], policy=result["policy"],
                                  duration_days=result["duration_days"])
        final = appeal.level >= 2
    explanation = public_explanation_of(deciding_votes)
    facts = statement_of_reasons(outcome=result["outcome"], policy=result["policy"], public_explanation=explanation,
                                 duration_days=result["duration_days"])
    if final:
        facts = f"{facts}\n{OUT_OF_COURT_NOTICE}"
    return decision_record(
        case=review.case, review=review, kind=kind, outcome=result["outcome"], policy=result["policy"],
        duration_days=result["duration_days"], votes=votes, facts=facts, public_explanation=explanation,
        actor=actor, now=now, supersedes=supersedes, appeal=appeal, appeals_exhausted=final,
    )


def appeal_result_kind(*, previous: Decision, outcome: Outcome, policy, duration_days: int | None) -> str:
    """What an appeal did to `previous`, whoever appealed: upheld (same
    outcome, policy and duration), reversed (`appeal_overturned`: a violation
    found to be none, or "no action" found to be a violation, as on a
    reporter's successful appeal), otherwise modified."""
    if (outcome.pk == previous.outcome_id and getattr(policy, "pk", None) == previous.policy_id
            and duration_days == previous.duration_days):
        return DecisionKind.APPEAL_UPHELD
    if outcome.is_violation != previous.outcome.is_violation:
        return DecisionKind.APPEAL_OVERTURNED
    return DecisionKind.APPEAL_MODIFIED


def decision_record(*, case, review, kind, outcome, policy, duration_days, votes, facts, actor, now,
                    supersedes=None, appeal=None, decided_by=None, appeals_exhausted=False, automated_decision=False,
                    public_explanation=""):
    """Records a Decision and moves the case to `decided`. The previous
    current decision (if any) stays in the history, no longer current.
    `automated_decision` only for a decision no person took (a rule's, see
    decision_automated)."""
    Decision.objects.filter(case=case, is_current=True).update(is_current=False)
    kinds_and_places = list(Report.objects.filter(case=case).values_list("reporter_kind", "jurisdiction"))
    # A rule that decides detected the case by automated means too (DSA automated_detection).
    automated_detection = automated_decision or any(kind == "automated" for kind, _ in kinds_and_places)
    jurisdictions = sorted({code for _, j in kinds_and_places for code in (j or [])})
    decision = Decision.objects.create(
        case=case, review=review, stage_key=review.stage.key if review else "", kind=kind, outcome=outcome,
        policy=policy, duration_days=duration_days,
        reviewers=[{"user_id": v.reviewer_id, "username": v.reviewer.get_username(), "review_id": str(v.review_id),
                    "outcome": v.outcome.code if v.outcome else None, "policy": v.policy.code if v.policy else None,
                    "approved": v.approved, "rationale": v.rationale} for v in votes],
        automated_detection=automated_detection,
        # People decide every review, appeal and re-review; only decision_automated passes True.
        automated_decision=automated_decision,
        facts_and_reasons=facts, public_explanation=public_explanation, territorial_scope=jurisdictions,
        decided_at=now, decided_by=decided_by,
        supersedes=supersedes, is_current=True, sequence=None, appeals_exhausted=appeals_exhausted,
    )
    if appeal is not None:
        appeal_check_transition(Appeal.objects.select_for_update().values_list("state", flat=True).get(pk=appeal.pk),
                                AppealState.DECIDED)
        result = {DecisionKind.APPEAL_UPHELD: AppealResult.UPHELD, DecisionKind.APPEAL_OVERTURNED:
                  AppealResult.OVERTURNED}.get(kind, AppealResult.MODIFIED)
        Appeal.objects.filter(pk=appeal.pk).update(state=AppealState.DECIDED, result=result, result_decision=decision,
                                                   decided_at=now)
        audit.record(stream=case_stream(case.pk), action="appeal.decided", actor=actor, target_type="appeal",
                     target_id=appeal.pk, data={"result": result, "decision_id": str(decision.pk), "trigger": T.APPEAL})
    case_change_state(case_id=case.pk, to_state=CaseState.DECIDED, actor=actor, reason=f"decision {kind}",
                      trigger=T.DECISION)
    # G4: reporters' reputation and account sanctions follow the current decision.
    signals_record_decision(case=case, outcome_code=outcome.code, violation=outcome.is_violation, actor=actor, now=now)
    audit.record(
        stream=case_stream(case.pk),
        action="decision.reversed" if kind == DecisionKind.APPEAL_OVERTURNED else "decision.made",
        actor=actor, target_type="decision", target_id=decision.pk,
        data={"outcome": outcome.code, "policy": policy.code if policy else None, "duration_days": duration_days,
              "kind": kind, "appeals_exhausted": appeals_exhausted,
              "supersedes": str(supersedes.pk) if supersedes else None, "automated": automated_decision,
              "trigger": T.APPEAL if appeal is not None else T.DECISION},
    )
    hooks.decision_recorded(decision=decision, actor=actor)  # dsa: the statement; trust: strikes (Art. 23)
    if not hooks.publication_held(decision=decision):  # dsa: held while its statement does not validate
        _publish(decision, actor=actor, held=False)
    return decision


def _publish(decision, *, actor, held: bool) -> None:
    decision.sequence = _take_sequence(decision.pk)
    audit.record(stream=case_stream(decision.case_id), action="decision.published", actor=actor,
                 target_type="decision", target_id=decision.pk,
                 data={"sequence": decision.sequence, "kind": decision.kind, "held": held,
                       "event": "decision.reversed" if decision.kind == DecisionKind.APPEAL_OVERTURNED
                       else "decision.made"})


def decision_publish(*, decision_id, actor) -> Decision | None:
    """Publishes a decision whose publication was held (the layer that held
    it calls this, in its own transaction, when the hold ends): the decision
    takes the next place in the decision feed — under the counter's row lock,
    held until commit, so feed readers see sequences in order and one that
    paged past the decision's making still receives it — and
    `decision.published` is recorded, from which the webhooks and the
    reporters' outcome notices are made. Already published: returned
    unchanged. No longer current (a later decision replaced it before the
    platform heard of it): not published, None."""
    decision = Decision.objects.select_for_update().get(pk=decision_id)
    if decision.sequence is not None:
        return decision
    if not decision.is_current:
        return None
    _publish(decision, actor=actor, held=True)
    return decision


def decision_amend_reasons(*, decision_id, lead, text, now=None):
    """A lead edits the statement of reasons of a current decision (the
    generated text is built from the admins' reason text and the public explanation). Outcome, policy and
    reviewers never change; the audit event keeps the previous text."""
    if not is_lead(lead):
        raise NotAllowed("only a lead can edit the statement of reasons")
    if not text.strip():
        raise NotAllowed("the statement of reasons cannot be empty")
    with transaction.atomic(), audit.batch():
        decision = Decision.objects.select_for_update().get(pk=decision_id)
        if not decision.is_current:
            raise NotAllowed("only the current decision's statement can be edited")
        if decision.appeals_exhausted and OUT_OF_COURT_NOTICE not in text:
            text = f"{text.rstrip()}\n{OUT_OF_COURT_NOTICE}"  # the Art. 21 route is never edited away
        if decision.facts_and_reasons == text:
            return decision
        before = decision.facts_and_reasons
        decision.facts_and_reasons = text
        decision.decided_by = lead
        decision.save(update_fields=["facts_and_reasons", "decided_by"])
        audit.record(stream=case_stream(decision.case_id), action="decision.reasons_amended", actor=Actor.user(lead),
                     target_type="decision", target_id=decision.pk, data={"before": before, "after": text})
        return decision


def outcome_by_code(code):
    return Outcome.objects.filter(code=code, active=True).first()



def decision_automated(*, case_id, outcome, policy, facts, actor, now):
    """A rule decides a case no person has decided yet (intake calls it,
    holding the case row). Closes the active first-round review (cancelled)
    and records a decision with `automated_decision`. Returns None, deciding
    nothing, when the case was decided before (a re-review round), is under
    appeal, or is not plainly open (claimed, escalated, on hold): appeals,
    re-reviews and cases people are working on always stay with people. Outcomes that need four-eyes approval or a
    duration are refused by the rules' save-time check."""
    if Decision.objects.filter(case_id=case_id).exists():
        return None
    case = Case.objects.select_for_update().get(pk=case_id)
    if case.state != CaseState.OPEN:
        return None  # claimed, escalated or held by people: theirs to decide
    # NOWAIT: intake holds the case; a claim or vote holding the review waits for neither (see routing.case_reroute).
    active = (Review.objects.filter(case_id=case_id, state__in=ACTIVE).select_related("stage")
              .select_for_update(of=("self",), nowait=True).first())
    if active is None or active.appeal_id is not None or active.state != ReviewState.OPEN:
        return None
    review_close(active, state=ReviewState.CANCELLED, now=now, reason="decided automatically by a rule")
    return decision_record(case=case, review=None, kind=DecisionKind.ORIGINAL, outcome=outcome, policy=policy,
                           duration_days=None, votes=[], facts=facts, actor=actor, now=now, automated_decision=True)
