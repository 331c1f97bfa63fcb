"""How a case, its subject and a decision look to a platform. The REST API
and the webhook events (integrations/webhooks/events.py) render from here,
so both always say the same thing."""

import json

from django.urls import reverse

from reviews.models import DecisionKind


def case_url(request, case_id) -> str:
    return request.build_absolute_uri(reverse("api-case-detail", args=[case_id]))


def with_case_url(request, body: dict) -> dict:
    """An intake result's body (as stored for replays) with the case's URL."""
    body = json.loads(json.dumps(body))
    body["case"]["url"] = case_url(request, body["case"]["id"])
    return body


def _subject_out(subject):
    author = subject.author
    return {
        "id": str(subject.id), "kind": subject.kind, "external_id": subject.external_id, "url": subject.url,
        "display_name": subject.display_name,
        "author": {"external_id": author.external_id, "display_name": author.display_name} if author else None,
        "text": subject.latest_text, "media": subject.latest_media, "language": subject.language,
        "metadata": subject.metadata,
    }


def _appeal_out(appeal):
    if appeal is None:
        return None
    return {"id": str(appeal.id), "state": appeal.state, "result": appeal.result or None,
            "opened_at": appeal.opened_at, "decided_at": appeal.decided_at}


def decision_out(decision):
    """What a platform learns of a decision. Never who reviewed it or how
    each reviewer voted (Decision.reviewers, decided_by stay inside)."""
    if decision is None:
        return None
    return {
        "id": str(decision.id), "sequence": decision.sequence, "kind": decision.kind,
        "outcome": decision.outcome.code, "policy": decision.policy.code if decision.policy_id else None,
        "duration_days": decision.duration_days, "statement_of_reasons": decision.facts_and_reasons,
        "territorial_scope": decision.territorial_scope, "automated_detection": decision.automated_detection,
        "automated_decision": decision.automated_decision, "decided_at": decision.decided_at,
        "supersedes": str(decision.supersedes_id) if decision.supersedes_id else None,
        "appeals_exhausted": decision.appeals_exhausted,
        "appeal": _appeal_out(decision.latest_appeal),
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
        "subject": _subject_out(case.subject),
        "decision": decision_out(decision),
    }
    if reports is not None:
        body["reports"] = [
            {
                "id": str(r.id), "policy": r.policy.code,
                "reporter": {"kind": r.reporter_kind, "external_id": r.reporter_external_id or None},
                "description": r.description, "jurisdiction": r.jurisdiction,
                "classifier_score": r.classifier_score, "snapshot": r.snapshot, "received_at": r.received_at,
            }
            for r in reports
        ]
        body["reports_truncated"] = truncated
    return body
