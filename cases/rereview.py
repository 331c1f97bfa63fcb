"""Re-review rules: what a report about a subject whose case is already
decided does (README, "Re-review rules").

The pure core (`reopen_reasons`) says which enabled conditions a report
meets; `judge_after_decision` gathers the facts it needs in one statement
(the one extra round trip intake pays for a report about a decided subject).
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection

from .models import Report, RereviewRule

REASON_MORE_SEVERE = "more_severe"
REASON_TRUSTED_FLAGGER = "trusted_flagger"
REASON_CONTENT_CHANGED = "content_changed"
REASON_NEW_REPORTERS = "new_reporters"
REASONS = (REASON_MORE_SEVERE, REASON_TRUSTED_FLAGGER, REASON_CONTENT_CHANGED, REASON_NEW_REPORTERS)


@dataclass(frozen=True)
class RereviewSettings:
    on_more_severe: bool = True
    on_trusted_flagger: bool = True
    on_content_change: bool = True
    new_reporters: int = 5  # 0: never
    window_hours: int = 24

    @classmethod
    def of(cls, rule: RereviewRule) -> "RereviewSettings":
        return cls(on_more_severe=rule.on_more_severe, on_trusted_flagger=rule.on_trusted_flagger,
                   on_content_change=rule.on_content_change, new_reporters=rule.new_reporters,
                   window_hours=rule.window_hours)


DEFAULT_SETTINGS = RereviewSettings()


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]


def text_hash(text: str) -> str:
    return _digest(text or "")


def media_hash(media: object) -> str:
    return _digest(json.dumps(media or [], sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def content_hash(text: str, media: object) -> str:
    """What the decision judged: 32 hex digits for the text, 32 for the media."""
    return text_hash(text) + media_hash(media)


def content_changed(decided_hash: str, fields: dict) -> bool:
    """Whether the content a report carries differs from what was decided.
    A report that omits the text (or media) says nothing about it."""
    if len(decided_hash or "") != 64:
        return False
    if "latest_text" in fields and text_hash(fields["latest_text"]) != decided_hash[:32]:
        return True
    return "latest_media" in fields and media_hash(fields["latest_media"]) != decided_hash[32:]


@dataclass(frozen=True)
class ReporterFacts:
    """Facts about the reporters of a decided case, as of one new report."""

    new_reporters: int  # distinct identified reporters since the decision, within the window, this one included
    reporter_is_known: bool  # this reporter filed a report on the case before (any time)
    reporter_was_judged: bool  # this reporter filed a report the decision already judged


def reopen_reasons(*, settings: RereviewSettings, report_severity: int, decided_severity: int | None,
                   reporter_kind: str, facts: ReporterFacts, changed: bool) -> list[str]:
    """The enabled conditions the report meets, in a fixed order; empty: it
    joins the decided case as a post-decision report."""
    reasons = []
    if settings.on_more_severe and decided_severity is not None and report_severity > decided_severity:
        reasons.append(REASON_MORE_SEVERE)
    # Once per flagger and decision: a flagger whose report was judged cannot re-open by repeating it.
    if settings.on_trusted_flagger and reporter_kind == "trusted_flagger" and not facts.reporter_was_judged:
        reasons.append(REASON_TRUSTED_FLAGGER)
    if settings.on_content_change and changed:
        reasons.append(REASON_CONTENT_CHANGED)
    if settings.new_reporters and facts.new_reporters >= settings.new_reporters:
        reasons.append(REASON_NEW_REPORTERS)
    return reasons


def _counts(reporter_kind: str, external_id: str) -> bool:
    # Anonymous reports cannot be told apart and classifiers count through their score: neither is a "new reporter".
    return bool(external_id) and reporter_kind != "automated"


def judge_after_decision(*, case_id, decided_at: datetime, reporter_kind: str, reporter_external_id: str,
                         settings: RereviewSettings, now: datetime, discounted: bool = False) -> ReporterFacts:
    """One statement: the reporter facts for a report about a decided case
    (whose row the caller holds locked). Discounted reports (new,
    low-reputation or coordinated reporters, as the signals layer judged them
    at intake) do not count as new reporters."""
    table = Report._meta.db_table
    case_param = Report._meta.get_field("case").target_field.get_db_prep_value(case_id, connection)
    adapt = connection.ops.adapt_datetimefield_value
    since = max(decided_at, now - timedelta(hours=settings.window_hours))
    sql = (
        "SELECT"
        f" (SELECT COUNT(*) FROM (SELECT DISTINCT r.reporter_kind, r.reporter_external_id FROM {table} r"
        "   WHERE r.case_id = %s AND r.received_at > %s AND r.received_at >= %s"
        "   AND r.reporter_external_id <> '' AND r.reporter_kind <> 'automated' AND NOT r.discounted"
        "   AND NOT (r.reporter_kind = %s AND r.reporter_external_id = %s)"
        f"  AND NOT EXISTS (SELECT 1 FROM {table} p WHERE p.case_id = r.case_id AND p.reporter_kind = r.reporter_kind"
        "     AND p.reporter_external_id = r.reporter_external_id AND p.received_at <= %s)) t),"
        f" (SELECT COUNT(*) FROM {table} q WHERE q.case_id = %s AND q.reporter_kind = %s"
        "   AND q.reporter_external_id = %s),"
        f" (SELECT COUNT(*) FROM {table} j WHERE j.case_id = %s AND j.reporter_kind = %s"
        "   AND j.reporter_external_id = %s AND j.received_at <= %s)"
    )
    params = [case_param, adapt(decided_at), adapt(since), reporter_kind, reporter_external_id, adapt(decided_at),
              case_param, reporter_kind, reporter_external_id,
              case_param, reporter_kind, reporter_external_id, adapt(decided_at)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        others, known, judged = cursor.fetchone()
    judged = bool(judged)
    this_one = 1 if _counts(reporter_kind, reporter_external_id) and not judged and not discounted else 0
    return ReporterFacts(new_reporters=others + this_one, reporter_is_known=bool(known), reporter_was_judged=judged)
