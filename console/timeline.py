"""The case page's timeline as people read it: every audit event's data with
a label in the console's language, names instead of ids and codes (queues,
users, policies, outcomes, workflows, stages, decisions, case references),
times in the viewer's zone and format.

Evidence is never hidden: a key this module does not know is still shown,
under its own name made readable, with its value as recorded; a name that
no longer resolves shows the id or code as recorded. Values are text; the
template escapes them (audit data can carry reported words)."""
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Any

from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from audit.models import AuditAction, AuditEvent
from cases.models import CaseState, ReporterKind
from cases.references import case_reference
from cases.translations import translated_name
from reviews.casefile import REOPEN_REASON_LABELS, CaseFile
from reviews.timeline import TimelineNames

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise  # a dev (type-checking) dependency only

VALUE_CHARS = 300
ACTION_LABELS = dict(AuditAction.choices)
CASE_STATES = dict(CaseState.choices)
REPORTER_KINDS = dict(ReporterKind.choices)

FIELD_LABELS = {
    # what and who
    "report_id": gettext_lazy("report"), "subject_id": gettext_lazy("subject"), "policy": gettext_lazy("policy"),
    "reporter_kind": gettext_lazy("reporter"), "report_count": gettext_lazy("reports so far"),
    "post_decision": gettext_lazy("after the decision"), "queue_id": gettext_lazy("queue"),
    "priority": gettext_lazy("priority"), "previous_case_id": gettext_lazy("previous case"),
    "moderator": gettext_lazy("moderator"), "moderator_id": gettext_lazy("moderator"),
    "assigned_by": gettext_lazy("assigned by"), "released": gettext_lazy("seats released"),
    # workflow and stages
    "workflow": gettext_lazy("workflow"), "workflow_version": gettext_lazy("version of the workflow"),
    "from_workflow": gettext_lazy("from workflow"), "to_workflow": gettext_lazy("to workflow"),
    "stage": gettext_lazy("stage"), "from_stage": gettext_lazy("from stage"), "to_stage": gettext_lazy("to stage"),
    "deferred_to": gettext_lazy("deferred move to"), "sent_back_from": gettext_lazy("sent back from"),
    "proposed_in": gettext_lazy("proposed in"), "kind": gettext_lazy("kind"), "rule": gettext_lazy("rule"),
    "review_id": gettext_lazy("stage opened"), "superseded_review": gettext_lazy("stage superseded"),
    # why and when
    "trigger": gettext_lazy("cause"), "reason": gettext_lazy("reason"), "reasons": gettext_lazy("reasons"),
    "from": gettext_lazy("from"), "to": gettext_lazy("to"), "due_at": gettext_lazy("due"),
    "warn_at": gettext_lazy("warning time"), "late": gettext_lazy("warned late"),
    "lease_expires_at": gettext_lazy("lease until"), "expires_at": gettext_lazy("expires"),
    "decided_at": gettext_lazy("decided"), "appeal_deadline": gettext_lazy("appeal deadline"),
    "action": gettext_lazy("timeout action"), "seats_held": gettext_lazy("seats still held"),
    # votes, decisions, appeals
    "outcome": gettext_lazy("outcome"), "proposed": gettext_lazy("proposed outcome"),
    "rejected_outcome": gettext_lazy("rejected outcome"), "reproposal": gettext_lazy("proposed again"),
    "approved": gettext_lazy("approved"), "duration_days": gettext_lazy("duration"),
    "votes": gettext_lazy("votes"), "votes_cast": gettext_lazy("votes cast"),
    "decision_id": gettext_lazy("decision"), "follows_decision": gettext_lazy("follows decision"),
    "supersedes": gettext_lazy("supersedes decision"), "sequence": gettext_lazy("decision number"),
    "appeals_exhausted": gettext_lazy("appeals exhausted"), "result": gettext_lazy("result"),
    "appellant_kind": gettext_lazy("appellant"), "level": gettext_lazy("appeal level"),
    # notes, media, console
    "note_id": gettext_lazy("note"), "guidance": gettext_lazy("guidance"), "index": gettext_lazy("media"),
    "url": gettext_lazy("address"), "path": gettext_lazy("page"), "created": gettext_lazy("created"),
    "changes": gettext_lazy("changes"), "before": gettext_lazy("before"), "after": gettext_lazy("after"),
}

# The fixed reasons the services record (free-text reasons are people's words and stay as written).
REASONS = {
    "SLA breached": gettext_lazy("SLA breached"), "appeal": gettext_lazy("appeal"),
    "approved": gettext_lazy("approved"), "consensus": gettext_lazy("consensus"),
    "first claim": gettext_lazy("first claim"), "rejected in approval": gettext_lazy("rejected in approval"),
    "rejected": gettext_lazy("rejected"), "split": gettext_lazy("split"),
    "lease expired": gettext_lazy("lease expired"), "released on the case page": gettext_lazy("released on the case page"),
    "the case moved to a more severe workflow": gettext_lazy("the case moved to a more severe workflow"),
    "re-routed to a more severe workflow": gettext_lazy("re-routed to a more severe workflow"),
    "decision delivered and appeal window passed unused":
        gettext_lazy("decision delivered and appeal window passed unused"),
}
TRIGGERS = {
    "routing": gettext_lazy("routing of a new case"), "first_claim": gettext_lazy("first seat claimed"),
    "consensus": gettext_lazy("consensus"), "approval": gettext_lazy("approved (four eyes)"),
    "split": gettext_lazy("split vote"), "rejection": gettext_lazy("rejected in approval"),
    "escalation": gettext_lazy("escalation"), "sla_breach": gettext_lazy("SLA breach"),
    "lead_hold": gettext_lazy("put on hold by a lead"), "lead_resume": gettext_lazy("resumed by a lead"),
    "decision": gettext_lazy("decision"), "appeal": gettext_lazy("appeal"),
    "lease_expired": gettext_lazy("lease expired"), "release": gettext_lazy("seat released"),
    "review_closed": gettext_lazy("stage closed"), "rerouted": gettext_lazy("re-routed by a more severe report"),
    "rereview": gettext_lazy("re-review"), "auto_close": gettext_lazy("closed automatically"),
    "send_back": gettext_lazy("sent back down"), "reproposal": gettext_lazy("outcome proposed again"),
}
STAGE_KINDS = {"review": gettext_lazy("review"), "approval": gettext_lazy("approval (four eyes)"),
               "escalation": gettext_lazy("escalation"), "appeal": gettext_lazy("appeal")}
DECISION_KINDS = {
    "original": gettext_lazy("original decision"), "appeal_upheld": gettext_lazy("upheld on appeal"),
    "appeal_overturned": gettext_lazy("reversed on appeal"), "appeal_modified": gettext_lazy("modified on appeal"),
    "rereview": gettext_lazy("decided again after a re-review"),
}
APPEAL_RESULTS = {"upheld": gettext_lazy("upheld"), "overturned": gettext_lazy("overturned"),
                  "modified": gettext_lazy("modified")}
APPELLANTS = {"affected_user": gettext_lazy("the affected user"), "reporter": gettext_lazy("the reporter")}
TIMEOUT_ACTIONS = {"record": gettext_lazy("record only"), "raise_priority": gettext_lazy("raise the priority"),
                   "decide": gettext_lazy("decide")}
SYSTEM_ACTORS = {"routing": gettext_lazy("routing"), "sla clock": gettext_lazy("SLA clock"),
                 "claim leases": gettext_lazy("seat leases"), "case closer": gettext_lazy("case closing"),
                 "quorum": gettext_lazy("Quorum"), "webhooks": gettext_lazy("webhooks")}

_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


@dataclass(frozen=True)
class TimelineField:
    label: str
    text: str
    url: str = ""


def user_label(user: Any) -> str:
    """A user as the console names them: "Full Name (username)", or the username."""
    full = user.get_full_name().strip() if hasattr(user, "get_full_name") else ""
    return f"{full} ({user.get_username()})" if full else user.get_username()


def actor_label(event: AuditEvent, names: TimelineNames) -> str:
    if event.actor_type == "user":
        user = names.users_by_id.get(str(event.actor_id))
        return user_label(user) if user is not None else event.actor_name
    if event.actor_type == "api_client":
        return _("API client “%(name)s”") % {"name": event.actor_name}
    return _("System (%(task)s)") % {"task": SYSTEM_ACTORS.get(event.actor_name, event.actor_name)}


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS] + "…"


def _moment(value: Any) -> str | None:
    if not isinstance(value, str) or not _ISO_DATETIME.match(value):
        return None
    moment = parse_datetime(value.replace("Z", "+00:00"))
    if moment is None:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    return date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")


def _number(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return number_format(value)
    return None


# (reader, value) -> text, or None when the rule does not apply (the value is then shown as recorded)
ValueRule = Callable[["_Reader", Any], object]


class _Reader:
    """Turns one event's data into fields, with the case file for what its ids stand for."""

    def __init__(self, cf: CaseFile, event: AuditEvent) -> None:
        self.cf, self.event, self.names = cf, event, cf.names
        self.review_id = event.target_id if event.target_type == "review" else None

    def user(self, value: Any) -> str | None:
        user = (self.names.users_by_id.get(str(value)) if isinstance(value, int) and not isinstance(value, bool)
                else self.names.users_by_name.get(value) if isinstance(value, str) else None)
        return user_label(user) if user is not None else None

    def named(self, table: dict, value: Any) -> str | None:
        obj = table.get(value) if isinstance(value, str | int) and not isinstance(value, bool) else None
        return translated_name(obj) if obj is not None else None

    def stage(self, value: Any) -> str | None:
        stage = self.names.stage(value, self.review_id) if isinstance(value, str) else None
        return translated_name(stage) if stage is not None else None

    def decision(self, value: Any) -> str | None:
        decision = next((d for d in self.cf.decisions if str(d.pk) == str(value)), None)
        if decision is None:
            return None
        text = translated_name(decision.outcome)
        if decision.policy is not None:
            text += f" · {translated_name(decision.policy)}"
        return f"{text} ({date_format(timezone.localtime(decision.decided_at), 'SHORT_DATETIME_FORMAT')})"

    def review(self, value: Any) -> str | None:
        rf = next((rf for rf in self.cf.reviews if str(rf.review.pk) == str(value)), None)
        if rf is None:
            return None
        opened = date_format(timezone.localtime(rf.review.opened_at), "SHORT_DATETIME_FORMAT")
        return _("%(stage)s, opened %(time)s") % {"stage": translated_name(rf.stage), "time": opened}

    def rule(self, value: Any) -> str | None:
        stage = self.names.stage(self.event.data.get("stage"), self.review_id) if self.review_id else None
        if stage is None:
            return None
        if stage.blind:
            return _("%(m)s of %(n)s, blind") % {"m": stage.quorum, "n": stage.seats}
        return _("%(m)s of %(n)s") % {"m": stage.quorum, "n": stage.seats}

    def priority(self, value: Any) -> str | None:
        if isinstance(value, list) and len(value) == 2 and all(_number(v) for v in value):
            before, after = value
            return _number(after) if before == after else f"{_number(before)} → {_number(after)}"
        return _number(value)

    def note(self, value: Any) -> str | None:
        note = next((n for n in self.cf.notes if n.pk == value), None) if isinstance(value, int) else None
        return _short(note.text) if note is not None else None

    def kind(self, value: Any) -> "StrOrPromise | None":
        if not isinstance(value, str):
            return None
        if self.event.action in ("decision.made", "decision.reversed"):
            return DECISION_KINDS.get(value)
        return STAGE_KINDS.get(value)

    def timeout_action(self, value: Any) -> "StrOrPromise | None":
        return (TIMEOUT_ACTIONS.get(value) or self.stage(value)) if isinstance(value, str) else None

    def value(self, key: str, value: Any) -> tuple[str | None, str]:
        """(text, url) for one data item; text None when no rule applies (shown as recorded)."""
        if key == "previous_case_id" and isinstance(value, str):
            # linked only when the viewer may open that case (the case file says so)
            linked = str(self.cf.previous_case_id) == value
            return _case_ref(value), reverse("console:case", args=[value]) if linked else ""
        rule = VALUE_RULES.get(key)
        text = rule(self, value) if rule is not None else None
        return (str(text) if text else None), ""


def _lookup(table: dict[str, Any]) -> ValueRule:
    return lambda reader, value: table.get(value) if isinstance(value, str) else None


def _users_list(reader: _Reader, value: Any) -> str | None:
    if not isinstance(value, list) or not value:
        return None
    return ", ".join(reader.user(v) or _short(v) for v in value)


def _days(reader: _Reader, value: Any) -> str | None:
    number = _number(value)
    return ngettext("%(days)s day", "%(days)s days", value) % {"days": number} if number else None


def _reasons(reader: _Reader, value: Any) -> str | None:
    if not isinstance(value, list):
        return None
    return ", ".join(str(REOPEN_REASON_LABELS.get(v, v)) if isinstance(v, str) else _short(v) for v in value)


# key -> (reader, value) -> text or None. Keys naming the same kind of thing share a rule.
VALUE_RULES: dict[str, ValueRule] = {
    "subject_id": lambda reader, value: reader.cf.subject.display_name or reader.cf.subject.external_id,
    "report_id": lambda reader, value: _case_ref(value),
    "from": _lookup(CASE_STATES), "to": _lookup(CASE_STATES), "reason": _lookup(REASONS),
    "reasons": _reasons, "trigger": _lookup(TRIGGERS), "reporter_kind": _lookup(REPORTER_KINDS),
    "result": _lookup(APPEAL_RESULTS), "appellant_kind": _lookup(APPELLANTS),
    "queue_id": lambda reader, value: reader.named(reader.names.queues, value),
    "policy": lambda reader, value: reader.named(reader.names.policies, value),
    **dict.fromkeys(("moderator", "moderator_id", "assigned_by"), lambda reader, value: reader.user(value)),
    "released": _users_list,
    **dict.fromkeys(("outcome", "proposed", "rejected_outcome", "reproposal"),
                    lambda reader, value: reader.named(reader.names.outcomes, value)),
    **dict.fromkeys(("workflow", "from_workflow", "to_workflow"),
                    lambda reader, value: reader.named(reader.names.workflows, value)),
    **dict.fromkeys(("stage", "from_stage", "to_stage", "deferred_to", "sent_back_from", "proposed_in"),
                    lambda reader, value: reader.stage(value)),
    **dict.fromkeys(("decision_id", "follows_decision", "supersedes"), lambda reader, value: reader.decision(value)),
    **dict.fromkeys(("review_id", "superseded_review"), lambda reader, value: reader.review(value)),
    "kind": lambda reader, value: reader.kind(value),
    "rule": lambda reader, value: reader.rule(value),
    "priority": lambda reader, value: reader.priority(value),
    "duration_days": _days,
    "action": lambda reader, value: reader.timeout_action(value),
    "note_id": lambda reader, value: reader.note(value),
    "index": lambda reader, value: _number(value + 1) if _number(value) else None,
}


def _case_ref(value: Any) -> str:
    try:
        return case_reference(value)
    except (ValueError, TypeError, AttributeError):
        return ""


def _readable_key(key: str) -> str:
    """An unknown key's label: its own name, readable ("lease_expires_at" → "lease expires at")."""
    return str(key).replace("_", " ").strip() or str(key)


def _fallback(value: Any) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return _moment(value) or _number(value) or _short(value)


def present_timeline(cf: CaseFile) -> None:
    """Sets label, actor_label and fields (a list of TimelineField) on each of the case file's events."""
    for event in cf.events:
        event.label = ACTION_LABELS.get(event.action, event.action)
        event.actor_label = actor_label(event, cf.names)
        data = event.data if isinstance(event.data, dict) else {}
        reader = _Reader(cf, event)
        fields = []
        for key, value in data.items():
            if value in (None, "", [], {}):
                continue
            text, url = reader.value(key, value)
            label = FIELD_LABELS.get(key)
            fields.append(TimelineField(label=str(label) if label else _readable_key(key),
                                text=text or _fallback(value), url=url))
        event.fields = fields
