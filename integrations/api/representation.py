"""How decisions, cases and statements look to the outside, in one place:
the REST API (case detail, decision feed, notices feed, intake results),
webhook bodies (integrations/webhooks/events.py) and notices all render
from here, so none of them imports another's view code. What a
platform learns of a decision never includes who reviewed it, how each
reviewer voted or their rationales (Decision.reviewers, decided_by stay
inside); `statement_of_reasons` is the public text (reviews.services.
decisions.statement_of_reasons) and `statement` the DSA statement of
reasons once published."""

import json

from django.urls import reverse

from reviews.models import DecisionKind


def case_url(request, case_id):
    return request.build_absolute_uri(reverse("api-case-detail", args=[case_id]))


def with_case_url(request, body: dict) -> dict:
    """An intake result's body (as stored for replays) with the case's URL;
    a held notice (trust, DSA Art. 23(2)) has no case."""
    body = json.loads(json.dumps(body))
    if body.get("case") is not None:
        body["case"]["url"] = case_url(request, body["case"]["id"])
    return body


def subject_out(subject):
    author = subject.author
    return {
        "id": str(subject.id), "kind": subject.kind, "external_id": subject.external_id, "url": subject.url,
        "display_name": subject.display_name,
        "author": {"external_id": author.external_id, "display_name": author.display_name} if author else None,
        "text": subject.latest_text, "media": subject.latest_media, "language": subject.language,
        "metadata": subject.metadata,
    }


def appeal_out(appeal):
    if appeal is None:
        return None
    return {"id": str(appeal.id), "state": appeal.state, "result": appeal.result or None,
            "opened_at": appeal.opened_at, "decided_at": appeal.decided_at}


def statement_out(statement):
    """The DSA statement of reasons as submitted to the transparency
    database, when published; while held only its state (the errors are for
    leads, in the console)."""
    if statement is None:
        return None
    body = {"puid": statement.puid, "state": statement.state,
            "corrects_puid": statement.corrects.puid if statement.corrects_id else None}
    body["payload"] = statement.payload if statement.state == "published" else None
    return body


def decision_out(decision):
    """What a platform learns of a decision (selectors.with_public_parts sets
    latest_appeal and public_statement). A decision not published yet (its
    DSA statement is held: no feed sequence) is not shown at all."""
    if decision is None or decision.sequence is None:
        return None
    statement = getattr(decision, "public_statement", None)
    published = statement is not None and statement.state == "published"
    return {
        "id": str(decision.id), "sequence": decision.sequence, "kind": decision.kind,
        "outcome": decision.outcome.code, "policy": decision.policy.code if decision.policy_id else None,
        "duration_days": decision.duration_days, "statement_of_reasons": decision.facts_and_reasons,
        # Where the decision applies, as decided by policy (the statement), never the reporters' claims.
        "territorial_scope": statement.payload.get("territorial_scope", []) if published else [],
        "automated_detection": decision.automated_detection,
        "automated_decision": decision.automated_decision, "decided_at": decision.decided_at,
        "supersedes": str(decision.supersedes_id) if decision.supersedes_id else None,
        "appeals_exhausted": decision.appeals_exhausted,
        "appeal": appeal_out(getattr(decision, "latest_appeal", None)),
        "statement": statement_out(statement),
    }


def decision_event(decision):
    return "decision.reversed" if decision.kind == DecisionKind.APPEAL_OVERTURNED else "decision.made"


def case_out(request, case, reports=None, truncated=False, decision=None):
    body = {
        "id": str(case.id), "url": case_url(request, case.id), "state": case.state, "priority": case.priority,
        "queue": case.queue.slug, "report_count": case.report_count, "reporter_count": case.reporter_count,
        "opened_at": case.opened_at, "updated_at": case.updated_at, "closed_at": case.closed_at,
        "previous_case_id": str(case.previous_case_id) if case.previous_case_id else None,
        "post_decision_report_count": case.post_decision_report_count, "reopen_count": case.reopen_count,
        "subject": subject_out(case.subject),
        "decision": decision_out(decision),
    }
    if reports is not None:
        body["reports"] = [
            {
                "id": str(r.id), "policy": r.policy.code,
                "reporter": {"kind": r.reporter_kind, "external_id": r.reporter_external_id or None,
                             "claimed_kind": r.claimed_reporter_kind or None},
                "description": r.description, "jurisdiction": r.jurisdiction,
                "classifier_score": r.classifier_score, "snapshot": r.snapshot, "received_at": r.received_at,
            }
            for r in reports
        ]
        body["reports_truncated"] = truncated
    return body


def notice_out(notice):
    """A notice to a reporter or the affected user, as the platform delivers it (dsa.notices)."""
    data = notice.data or {}
    return {
        "id": str(notice.id), "sequence": notice.sequence, "case_id": str(notice.case_id), "kind": notice.kind,
        "recipient": notice.recipient, "recipient_external_id": notice.recipient_external_id,
        "report_id": str(notice.report_id) if notice.report_id else None,
        "decision_id": str(notice.decision_id) if notice.decision_id else None,
        "statement_puid": data.get("statement_puid"), "language": notice.language, "subject": notice.subject,
        "body": notice.body, "withheld": data.get("withheld"), "outcome": data.get("outcome"),
        "redress": data.get("redress"), "created_at": notice.created_at,
    }
