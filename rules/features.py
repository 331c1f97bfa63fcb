"""The features a rule condition can read about one report: the report, its
subject and author, the case, counts within time windows and the signals.
docs/rules.md lists them; FEATURE_SCHEMA is the list the save-time check uses.
"""

from datetime import datetime, timedelta
from typing import Any

from django.db import connection

from .signals_adapter import SIGNAL_SCHEMA, signal_features

# The reports counted for a window are bounded: a count saturates at this value.
WINDOW_COUNT_CAP = 1000

# group -> field -> a value of the field's type (the "empty" prototype).
FEATURE_SCHEMA: dict[str, dict[str, Any]] = {
    "report": {"policy": "", "policy_severity": 0, "reporter_kind": "", "description": "", "jurisdictions": [""],
               "classifier_score": 0.0, "has_classifier_score": False},
    "subject": {"kind": "", "text": "", "language": "", "url": "", "display_name": "", "age_hours": 0.0},
    "author": {"present": False, "external_id": "", "age_hours": 0.0},
    "case": {"state": "", "priority": 0, "report_count": 0, "reporter_count": 0, "max_severity": 0,
             "max_classifier_score": 0.0, "reopen_count": 0, "age_hours": 0.0, "is_new": False,
             "signals_changed": [""]},
    "counts": {"reports_last_hour": 0, "reports_last_day": 0},
    "signals": dict(SIGNAL_SCHEMA),
}


def prototypes() -> list[dict[str, Any]]:
    """Two feature sets of the right types: empty (zeros, "", false) and
    filled (non-empty text, true, ones), to trial-run conditions on."""
    empty = {group: dict(fields) for group, fields in FEATURE_SCHEMA.items()}
    filled = {group: {name: _filled(value) for name, value in fields.items()}
              for group, fields in FEATURE_SCHEMA.items()}
    return [empty, filled]


def _filled(value: Any) -> Any:
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return 1
    if isinstance(value, float):
        return 1.0
    if isinstance(value, str):
        return "sample text"
    if isinstance(value, list):
        return ["sample"]
    return value


def _hours(since: datetime | None, now: datetime) -> float:
    return max(0.0, (now - since).total_seconds() / 3600) if since else 0.0


# One statement per report: the report with its policy, subject, author and case, and two bounded window
# counts over the case's reports (index report_case_reporter_idx leads with case_id).
_FEATURE_SQL = f"""
SELECT r.id, r.reporter_kind, r.description, r.jurisdiction, r.classifier_score, r.received_at,
       p.code, p.severity,
       s.kind, s.latest_text, s.language, s.url, s.display_name, s.created_at,
       a.external_id, a.created_at,
       c.id, c.state, c.priority, c.report_count, c.reporter_count, c.max_severity, c.max_classifier_score,
       c.reopen_count, c.opened_at,
       (SELECT count(*) FROM (SELECT 1 FROM cases_report w WHERE w.case_id = c.id AND w.received_at >= %s
                              LIMIT {WINDOW_COUNT_CAP}) h),
       (SELECT count(*) FROM (SELECT 1 FROM cases_report w WHERE w.case_id = c.id AND w.received_at >= %s
                              LIMIT {WINDOW_COUNT_CAP}) d)
FROM cases_report r
JOIN cases_policy p ON p.id = r.policy_id
JOIN cases_subject s ON s.id = r.subject_id
LEFT JOIN cases_subject a ON a.id = s.author_id
JOIN cases_case c ON c.id = r.case_id
WHERE r.id = %s
"""


def report_features(*, report_id: Any, now: datetime, signals_changed: list[str] = ()) -> dict[str, Any]:
    """The features of one stored report as the rules see them now;
    `signals_changed`: the signal flags this report set or cleared on its
    case (rules.signal_flags)."""
    with connection.cursor() as cursor:
        cursor.execute(_FEATURE_SQL, [now - timedelta(hours=1), now - timedelta(days=1), report_id])
        row = cursor.fetchone()
    if row is None:
        raise LookupError(f"report {report_id} not found")
    (rid, reporter_kind, description, jurisdiction, score, received_at, policy, severity,
     kind, text, language, url, display_name, subject_created, author_external_id, author_created,
     case_id, state, priority, report_count, reporter_count, max_severity, max_score, reopen_count, opened_at,
     last_hour, last_day) = row
    if isinstance(jurisdiction, str):  # SQLite returns JSON as text
        import json
        jurisdiction = json.loads(jurisdiction)
    return {
        "report": {"policy": policy, "policy_severity": severity, "reporter_kind": reporter_kind,
                   "description": description or "", "jurisdictions": list(jurisdiction or []),
                   "classifier_score": float(score) if score is not None else 0.0,
                   "has_classifier_score": score is not None},
        "subject": {"kind": kind, "text": text or "", "language": language or "", "url": url or "",
                    "display_name": display_name or "", "age_hours": _hours(subject_created, now)},
        "author": {"present": author_external_id is not None, "external_id": author_external_id or "",
                   "age_hours": _hours(author_created, now)},
        "case": {"state": state, "priority": priority, "report_count": report_count, "reporter_count": reporter_count,
                 "max_severity": max_severity, "max_classifier_score": float(max_score or 0.0),
                 "reopen_count": reopen_count, "age_hours": _hours(opened_at, now), "is_new": report_count == 1,
                 "signals_changed": list(signals_changed)},
        "counts": {"reports_last_hour": last_hour, "reports_last_day": last_day},
        "signals": signal_features(report_id=rid, case_id=case_id),
    }
