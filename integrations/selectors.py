"""Reads of decisions and appeals for the REST API, scoped to the caller's
source. Each runs a fixed number of queries whatever the number of rows:
one for the decisions, one for their appeals, one for their DSA statements.

(They belong with the review process; they live here until reviews has a
selectors module of its own.)"""

from django.db.models import Q

from dsa.models import Statement
from reviews.models import Appeal, Decision


def _with_latest_appeal(decisions):
    """Sets `latest_appeal` on each decision: the most recent appeal filed
    against it or decided by it (the appeal that produced it), or None."""
    by_id = {d.pk: d for d in decisions}
    for decision in decisions:
        decision.latest_appeal = None
    if not by_id:
        return decisions
    appeals = Appeal.objects.filter(Q(decision_id__in=by_id) | Q(result_decision_id__in=by_id)).only(
        "id", "decision_id", "result_decision_id", "state", "result", "opened_at", "decided_at")
    for appeal in appeals.order_by("opened_at", "id"):
        for decision_id in {appeal.decision_id, appeal.result_decision_id}:
            decision = by_id.get(decision_id)
            if decision is not None:
                decision.latest_appeal = appeal  # ascending order: the last one wins
    return decisions


def _with_public_statement(decisions):
    """Sets `public_statement` on each decision: its live DSA statement
    (published or held), or None. One query."""
    by_id = {d.pk: d for d in decisions}
    for decision in decisions:
        decision.public_statement = None
    if by_id:
        live = Statement.objects.filter(decision_id__in=by_id, state__in=["published", "held"])
        for statement in live.select_related("corrects").only("puid", "state", "payload", "decision_id",
                                                               "corrects__puid"):
            by_id[statement.decision_id].public_statement = statement
    return decisions


def with_public_parts(decisions):
    """What decision_out shows besides the row: latest appeal and statement."""
    return _with_public_statement(_with_latest_appeal(decisions))


def _decisions():
    return Decision.objects.select_related("outcome", "policy").defer("reviewers")


def current_decisions_by_case(*, case_ids):
    """{case_id: current decision (with latest_appeal)} for the cases that have one."""
    case_ids = list(case_ids)
    if not case_ids:
        return {}
    decisions = list(_decisions().filter(case_id__in=case_ids, is_current=True))
    return {d.case_id: d for d in with_public_parts(decisions)}


def decisions_for_source_since(*, source, since, limit):
    """Up to `limit` decisions about `source`'s cases with a sequence above
    `since`, in sequence order. Sequences are taken under a row lock held
    until commit, so they become visible in order: a later poll from the last
    sequence seen never skips one."""
    decisions = list(_decisions().filter(case__source=source, sequence__gt=since).order_by("sequence")[:limit])
    return with_public_parts(decisions)
