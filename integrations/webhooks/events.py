"""Which audit events become which webhook events, and their bodies.

`data` holds the case (and decision, appeal) as the REST API shows them,
never who reviewed: integrations.api.representation renders both. The body is rendered
once per event, when it is first dispatched, and stored (WebhookEvent), so
every attempt and every endpoint receives the same bytes.
"""

import json

from django.conf import settings
from django.utils.crypto import salted_hmac
from rest_framework.utils.encoders import JSONEncoder

from cases.models import Case
from dsa.models import Notice
from reviews import triggers
from reviews.models import Appeal

from ..api.representation import case_out, decision_out, notice_out
from ..models import WEBHOOK_EVENT_TYPES
from ..selectors import _decisions, current_decisions_by_case, with_public_parts

API_VERSION = "1"
CASE_STREAM_PREFIX = "case:"

# The audit actions each webhook event type is made from.
AUDIT_ACTIONS = {
    "case.opened": ("case.opened",),
    # A manual escalation records case.escalated (then a state change, which is not sent twice); splits,
    # rejected approvals and missed deadlines only record the state change to `escalated`.
    "case.escalated": ("case.escalated", "case.state_changed"),
    "case.sla_warning": ("case.sla_warning",),
    "case.sla_breached": ("case.sla_breached",),
    # Sent when the decision is published (decision.published, in the deciding transaction unless the DSA
    # statement held it); decision.made / decision.reversed only for events recorded before publication was
    # separate (they carry the feed sequence).
    "decision.made": ("decision.made", "decision.published"),
    "decision.reversed": ("decision.reversed", "decision.published"),
    "appeal.opened": ("appeal.opened",),
    "appeal.decided": ("appeal.decided",),
    "notice.created": ("notice.created",),
}
assert set(AUDIT_ACTIONS) == set(WEBHOOK_EVENT_TYPES)
_DECISION_ACTIONS = ("decision.made", "decision.reversed", "decision.published")


def audit_actions(event_types):
    return sorted({action for t in event_types for action in AUDIT_ACTIONS.get(t, ())})


def public_id(audit_event_id):
    """Stable, opaque event id derived from the audit event (ids are not counters)."""
    digest = salted_hmac("quorum.webhooks.event-id", str(audit_event_id), algorithm="sha256").hexdigest()
    return f"evt_{digest[:32]}"


def case_id_of(stream):
    return stream[len(CASE_STREAM_PREFIX):] if stream.startswith(CASE_STREAM_PREFIX) else None


# The audit events' `trigger` (reviews.triggers) as the webhook API names it.
ESCALATION_TRIGGERS = {
    triggers.ESCALATION: "manual",
    triggers.SPLIT: "split",
    triggers.REJECTION: "approval_rejected",
    triggers.SLA_BREACH: "sla_breached",
    triggers.REPROPOSAL: "reproposal",
}


def _escalation_trigger(row):
    if row["action"] == "case.escalated":
        return "manual"
    return ESCALATION_TRIGGERS.get(row["data"].get("trigger"), "workflow")


def classify(rows):
    """{audit event id: webhook type} for the rows (dicts with id, xid,
    stream, seq, action, data) that are webhook events."""
    out = {}
    for row in rows:
        action = row["action"]
        if action == "case.state_changed":
            data = row["data"]
            # Resuming an escalated case is not a new escalation; a manual one is sent from its
            # case.escalated event, not a second time from the state change it causes.
            if (data.get("to") == "escalated" and data.get("from") != "on_hold"
                    and data.get("trigger") != triggers.ESCALATION):
                out[row["id"]] = "case.escalated"
        elif action == "decision.published" and case_id_of(row["stream"]):
            out[row["id"]] = row["data"].get("event") or "decision.made"
        elif action in ("decision.made", "decision.reversed"):
            if row["data"].get("sequence") is not None and case_id_of(row["stream"]):
                out[row["id"]] = action  # recorded before decision.published existed
        elif action in WEBHOOK_EVENT_TYPES and case_id_of(row["stream"]):
            out[row["id"]] = action
    return out


class _Urls:
    """What integrations.api.representation needs of a request to build absolute URLs."""

    def build_absolute_uri(self, path):
        return f"{settings.WEBHOOK_PUBLIC_URL}{path}"


def _appeal(appeal):
    return {
        "id": str(appeal.id), "decision_id": str(appeal.decision_id), "appellant": appeal.appellant_kind,
        "appellant_external_id": appeal.appellant_external_id or None, "state": appeal.state,
        "result": appeal.result or None,
        "result_decision_id": str(appeal.result_decision_id) if appeal.result_decision_id else None,
        "opened_at": appeal.opened_at, "decided_at": appeal.decided_at,
    }


def render(rows, types):
    """{audit event id: body bytes} for the rows that `types` ({id: type})
    names. A fixed number of queries whatever the number of rows."""
    rows = [r for r in rows if r["id"] in types]
    if not rows:
        return {}
    case_ids = {case_id_of(r["stream"]) for r in rows}
    cases = {str(c.pk): c for c in Case.objects.select_related("subject__author", "queue").filter(pk__in=case_ids)}
    current = {str(k): v for k, v in current_decisions_by_case(case_ids=list(cases)).items()}
    decision_ids, appeal_ids = set(), set()
    for r in rows:
        if r["action"] in _DECISION_ACTIONS:
            decision_ids.add(r["target_id"])
        elif r["action"] in ("appeal.opened", "appeal.decided"):
            appeal_ids.add(r["target_id"])
            if r["data"].get("decision_id") and r["action"] == "appeal.decided":
                decision_ids.add(r["data"]["decision_id"])
    decisions = {str(d.pk): d for d in with_public_parts(list(_decisions().filter(pk__in=decision_ids)))}
    appeals = {str(a.pk): a for a in Appeal.objects.filter(pk__in=appeal_ids)}
    notices = {str(n.pk): n for n in Notice.objects.filter(
        pk__in=[r["target_id"] for r in rows if r["action"] == "notice.created"])}
    urls = _Urls()
    bodies = {}
    for r in rows:
        case = cases.get(case_id_of(r["stream"]))
        data = {"case": case_out(urls, case, decision=current.get(str(case.pk))) if case else None}
        kind, action, facts = types[r["id"]], r["action"], r["data"]
        if kind == "case.escalated":
            data["escalation"] = {"trigger": _escalation_trigger(r)}
        elif kind == "case.sla_warning":
            data["sla"] = {"warn_at": facts.get("warn_at"), "due_at": facts.get("due_at"), "late": bool(facts.get("late"))}
        elif kind == "case.sla_breached":
            data["sla"] = {"due_at": facts.get("due_at")}
        elif action in _DECISION_ACTIONS:
            data["decision"] = decision_out(decisions.get(r["target_id"]))
        elif action in ("appeal.opened", "appeal.decided"):
            appeal = appeals.get(r["target_id"])
            data["appeal"] = _appeal(appeal) if appeal else None
            if action == "appeal.decided":
                data["decision"] = decision_out(decisions.get(facts.get("decision_id")))
        elif action == "notice.created":
            notice = notices.get(r["target_id"])
            data["notice"] = notice_out(notice) if notice else None
        envelope = {"id": public_id(r["id"]), "type": kind, "created_at": r["created_at"], "api_version": API_VERSION,
                    "data": data}
        bodies[r["id"]] = json.dumps(envelope, cls=JSONEncoder, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return bodies
