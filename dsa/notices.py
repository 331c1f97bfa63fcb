"""Notices to people (docs/dsa.md, "Notices"): to each identified reporter
a receipt (Art. 16(5)) when their report is filed and the outcome when the
case is decided; to the affected user the statement of reasons with redress
(Art. 17) when it is published. The platform delivers them: it polls
GET /api/v1/notices (integrations.api.notices).

Made from the audit log like the webhooks and the submission (audit.tail):
the tail reads settled `case.opened` / `report.filed` / `decision.published`
/ `statement.published` events after its cursor and, in
one transaction under the cursor row's lock, writes the notices with
consecutive sequence numbers, records `notice.created` for each (which the
webhooks deliver as the event of that name) and moves the cursor. So notices become visible
in sequence order (a poll from the last sequence never skips one), none is
made twice, and intake pays nothing for them. Reviewers' rationales are
never read here; bodies pass the personal-data check (a body that fails is
not written: the notice carries only the structured data).
"""

from collections import defaultdict
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

import audit
from audit.context import Actor
from audit.services import case_stream
from audit.tail import settled_batch, watermark
from cases.models import Case, Report, ReporterKind, SubjectKind
from reviews.models import Decision
from reviews.services.appeals import original_decision

from .models import Notice, NoticeKind, NoticeRecipient, NoticeTemplate, Statement, TailCursor
from .personal_data import personal_data_problems
from .services import public_reason_text

CURSOR = "notices"
SYSTEM = Actor.system("dsa-notices")
ACTIONS = ("case.opened", "report.filed", "decision.made", "decision.reversed", "decision.published",
           "statement.published")


def _outcome_event(row: dict) -> bool:
    """Reporters hear the outcome when the decision is published (decision.published; a decision whose
    statement is held is not); decision.made / decision.reversed only for events recorded before that
    existed (they carry the feed sequence)."""
    if row["action"] == "decision.published":
        return True
    return row["action"] in ("decision.made", "decision.reversed") and row["data"].get("sequence") is not None
NOTIFIED_REPORTERS = (ReporterKind.USER, ReporterKind.TRUSTED_FLAGGER)

# Used when an admin has not written a template for a kind (English).
FALLBACK = {
    NoticeKind.RECEIPT: ("We received your notice ({reference})",
                         "We received your notice about {subject} under our {policy} policy on {received_at}. We "
                         "will tell you what we decide."),
    NoticeKind.OUTCOME: ("Outcome of your notice ({reference})",
                         "We reviewed the content you reported ({subject}). Our decision: {outcome}{duration}. "
                         "Reasons: {statement}\nYou may ask us to review this decision until {appeal_deadline}; "
                         "out-of-court dispute settlement: {dispute_settlement}."),
    NoticeKind.STATEMENT: ("Statement of reasons ({reference})",
                           "Decision: {outcome}{duration} under our {policy} policy.\n{statement}\nGround: {ground}\n"
                           "Where it applies: {territorial_scope}. Until: {end_date}. Automated means: {automated}.\n"
                           "Your options: an internal complaint (appeal) until {appeal_deadline}; a certified "
                           "out-of-court dispute settlement body ({dispute_settlement}); a court."),
    NoticeKind.REVERSAL: ("Decision reversed ({reference})",
                          "We looked again at our decision about {subject} under our {policy} policy and reversed "
                          "it. Our decision now: {outcome}. The restriction was lifted on {end_date}.\n"
                          "{explanation}"),
}


class _Blank(dict):
    def __missing__(self, key):
        return ""


def language_of(tag: str, available: set[str]) -> str:
    """The recipient's language if a template exists for it, else English."""
    primary = (tag or "").split("-")[0].lower()
    return primary if primary in available else "en"


def render(kind: str, language: str, values: dict[str, str],
           templates: dict[tuple[str, str], NoticeTemplate]) -> tuple[str, str]:
    template = templates.get((kind, language)) or templates.get((kind, "en"))
    subject, body = (template.subject, template.body) if template else FALLBACK[kind]
    return subject.format_map(_Blank(values))[:300], body.format_map(_Blank(values))


def _appeal_deadline(decision: Decision | None) -> str:
    """The last day of the internal appeal window, which counts from the original decision (reviews.appeals)."""
    if decision is None:
        return ""
    if decision.appeals_exhausted:
        return "—"
    start = original_decision(decision).decided_at  # walks back only over appeal decisions (rare)
    return (start + timedelta(days=settings.APPEAL_WINDOW_DAYS)).date().isoformat()


def _statement_values(statement: Statement | None) -> dict[str, str]:
    if statement is None:
        return {}
    p = statement.payload
    ground = p.get("illegal_content_legal_ground") or p.get("incompatible_content_ground") or ""
    explanation = p.get("illegal_content_explanation") or p.get("incompatible_content_explanation") or ""
    end_dates = sorted({p[f] for f in p if f.startswith("end_date_") and p[f]})
    return {"ground": f"{ground}: {explanation}".strip(": "), "territorial_scope": ", ".join(p.get("territorial_scope", [])),
            "end_date": ", ".join(end_dates) or "—",
            "automated": f"detection {p.get('automated_detection')}, decision {p.get('automated_decision')}"}


def _plan(rows: list[dict]) -> list[dict[str, Any]]:
    """The notices the events call for, in event order (a fixed number of queries)."""
    case_ids = {r["stream"][len("case:"):] for r in rows}
    cases = {str(c.pk): c for c in Case.objects.select_related("subject__author", "source").filter(pk__in=case_ids)}
    report_ids = [r["data"].get("report_id") for r in rows if r["action"] in ("case.opened", "report.filed")]
    decision_ids = [r["target_id"] for r in rows if _outcome_event(r)]
    statement_ids = [r["target_id"] for r in rows if r["action"] == "statement.published"]
    statements = {str(s.pk): s for s in Statement.objects.filter(pk__in=statement_ids)}
    decision_ids += [str(s.decision_id) for s in statements.values()]
    decision_ids += [r["data"]["reversed_by"] for r in rows
                     if r["action"] == "statement.published" and r["data"].get("reversed_by")]
    decisions = {str(d.pk): d for d in Decision.objects.select_related("outcome", "policy").defer("reviewers")
                 .filter(pk__in=decision_ids)}
    reports = {str(r.pk): r for r in Report.objects.select_related("policy").filter(pk__in=[i for i in report_ids if i])}
    decided_cases = {str(d.case_id) for d in decisions.values()}
    reporters = defaultdict(list)  # case id -> [report] of identified reporters, first report per reporter
    languages = {}  # (case id, kind, external id) -> the latest language the reporter's reports gave
    for report in (Report.objects.filter(case_id__in=decided_cases, reporter_kind__in=NOTIFIED_REPORTERS)
                   .exclude(reporter_external_id="").order_by("received_at", "id")):
        key = (str(report.case_id), report.reporter_kind, report.reporter_external_id)
        if key not in languages:
            reporters[str(report.case_id)].append(report)
        languages[key] = report.reporter_language or languages.get(key, "")
    plan = []
    for row in rows:
        case = cases.get(row["stream"][len("case:"):])
        if case is None:
            continue
        action = row["action"]
        if action in ("case.opened", "report.filed"):
            report = reports.get(row["data"].get("report_id") or "")
            if report and report.reporter_kind in NOTIFIED_REPORTERS and report.reporter_external_id:
                plan.append({"case": case, "kind": NoticeKind.RECEIPT, "recipient": NoticeRecipient.REPORTER,
                             "external_id": report.reporter_external_id, "report": report,
                             "language": report.reporter_language})
        elif action in ("decision.made", "decision.reversed", "decision.published"):
            decision = decisions.get(row["target_id"]) if _outcome_event(row) else None
            for report in reporters.get(str(case.pk), []) if decision else []:
                if report.received_at <= decision.decided_at:
                    plan.append({"case": case, "kind": NoticeKind.OUTCOME, "recipient": NoticeRecipient.REPORTER,
                                 "external_id": report.reporter_external_id, "report": report,
                                 "decision": decision, "language": languages.get(
                                     (str(case.pk), report.reporter_kind, report.reporter_external_id), "")})
        else:
            statement = statements.get(row["target_id"])
            subject = case.subject
            person = subject.author if subject.kind == SubjectKind.CONTENT else subject
            reversed_by = row["data"].get("reversed_by")
            if statement is not None and person is not None and reversed_by:
                # the correction that ends a reversed restriction (dsa.services.statement_end_superseded)
                plan.append({"case": case, "kind": NoticeKind.REVERSAL, "recipient": NoticeRecipient.AFFECTED_USER,
                             "external_id": person.external_id, "statement": statement,
                             "decision": decisions.get(reversed_by),
                             "restricted": decisions.get(str(statement.decision_id))})
            elif statement is not None and person is not None:
                plan.append({"case": case, "kind": NoticeKind.STATEMENT, "recipient": NoticeRecipient.AFFECTED_USER,
                             "external_id": person.external_id, "statement": statement,
                             "decision": decisions.get(str(statement.decision_id))})
    return plan


def _name(obj, language: str) -> str:
    """A configured name in the notice's language (name_translations), else the name."""
    if obj is None:
        return ""
    return (obj.name_translations or {}).get(language) or obj.name


def _build(item: dict, templates, available: set[str], now) -> Notice:
    case, decision, statement = item["case"], item.get("decision"), item.get("statement")
    subject = case.subject
    # The affected user's language is the subject's; a reporter's is the one their reports gave.
    language = language_of(subject.language if item["recipient"] == NoticeRecipient.AFFECTED_USER
                           else item.get("language") or "", available)
    report = item.get("report")
    restricted = item.get("restricted")  # a reversal: the decision whose restriction was lifted
    policy = (decision.policy if decision and decision.policy_id else report.policy if report
              else restricted.policy if restricted and restricted.policy_id else None)
    values = {
        "reference": str(case.pk), "subject": subject.url or f"{subject.kind} {subject.external_id}",
        "policy": _name(policy, language), "outcome": _name(decision.outcome, language) if decision else "",
        "duration": f" ({decision.duration_days} days)" if decision and decision.duration_days else "",
        "statement": decision.facts_and_reasons if decision else "",
        "appeal_deadline": _appeal_deadline(decision), "dispute_settlement": settings.DSA_DISPUTE_SETTLEMENT_URL,
        "received_at": report.received_at.date().isoformat() if report else "",
        # the admins' reason text in the recipient's language, and the reviewers' public explanation
        "reason": public_reason_text(policy=policy, outcome=decision.outcome, language=language) if decision else "",
        "explanation": decision.public_explanation if decision else "",
        **_statement_values(statement),
    }
    title, body = render(item["kind"], language, values, templates)
    identifiers = [r for r in (subject.display_name,) if r]
    problems = personal_data_problems({"subject": title, "body": body}, identifiers=identifiers)
    data: dict[str, Any] = {
        "redress": {"internal_appeal_until": values["appeal_deadline"] or None,
                    "out_of_court_dispute_settlement": settings.DSA_DISPUTE_SETTLEMENT_URL,
                    "judicial_redress": True} if item["kind"] not in (NoticeKind.RECEIPT, NoticeKind.REVERSAL)
                   else None,
        "outcome": decision.outcome.code if decision else None,
        "statement_puid": statement.puid if statement else None,
    }
    if problems:
        title, body = title if "subject" not in problems else "", ""
        data["withheld"] = "the rendered text contained personal data; render from the structured fields"
    return Notice(source_id=case.source_id, case=case, kind=item["kind"], recipient=item["recipient"],
                  recipient_external_id=item["external_id"], report=report, decision=decision, statement=statement,
                  language=language, subject=title, body=body, data=data, created_at=now)


def dispatch(*, batch_size: int = 500) -> int:
    """One pass of the notices tail; returns how many notices were made."""
    TailCursor.objects.get_or_create(name=CURSOR)
    mark = watermark()
    made = 0
    templates = {(t.kind, t.language): t for t in NoticeTemplate.objects.all()}
    available = {language for _, language in templates} | {"en"}
    while True:
        with transaction.atomic(), audit.batch():
            cursor_row = TailCursor.objects.select_for_update().get(name=CURSOR)
            cursor = (cursor_row.cursor_xid, cursor_row.cursor_event_id)
            rows, new_cursor, complete = settled_batch(cursor=cursor, mark=mark, actions=ACTIONS,
                                                       batch_size=batch_size, stream__startswith="case:",
                                                       fields=("stream", "action", "target_id", "data"))
            now = timezone.now()
            notices = [_build(item, templates, available, now) for item in _plan(rows)]
            for offset, notice in enumerate(notices, start=1):
                notice.sequence = cursor_row.last_sequence + offset
            Notice.objects.bulk_create(notices)
            for notice in notices:  # the webhooks' outbox (notice.created); buffered into one insert by audit.batch
                audit.record(stream=case_stream(notice.case_id), action="notice.created", actor=SYSTEM,
                             target_type="notice", target_id=notice.pk,
                             data={"kind": notice.kind, "recipient": notice.recipient, "sequence": notice.sequence})
            TailCursor.objects.filter(name=CURSOR).update(cursor_xid=new_cursor[0], cursor_event_id=new_cursor[1],
                                                          last_sequence=cursor_row.last_sequence + len(notices))
            made += len(notices)
        if complete:
            return made


def notices_for_source_since(*, source, since: int, limit: int) -> list[Notice]:
    """Up to `limit` notices of `source` after sequence `since`, in order."""
    return list(Notice.objects.filter(source=source, sequence__gt=since).order_by("sequence")[:limit])
