"""Backtests: how a rule would have decided the cases people already decided.

The rule runs over every case whose current decision falls in the chosen
period, on the case's first report (with the subject and author as stored and
the case's counts as they ended up), read in batches from a server-side
cursor. A match stands for the rule's predicted outcome; no match predicts
nothing. Figures: matches, a confusion matrix against the human outcome,
precision and recall per outcome, the disagreeing cases, the reviewer-hours
spent on the cases it would have decided correctly (from seat claim to vote),
and what it would do to the cases still open.
"""

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection

from . import engine
from .effects import effects_preview
from .features import FEATURE_SCHEMA, WINDOW_COUNT_CAP
from .signals_adapter import signal_features, snapshot_signal_features

NO_MATCH = "(no match)"
BATCH_SIZE = 2000
REVIEW_TIME_CHUNK = 20_000
LISTED_CASES = 100

_CASE_COLUMNS = """
       c.id, c.state, c.priority, c.report_count, c.reporter_count, c.max_severity, c.max_classifier_score,
       c.reopen_count, c.opened_at,
       r.id, r.reporter_kind, r.description, r.jurisdiction, r.classifier_score, r.received_at, p.code, p.severity,
       s.kind, s.latest_text, s.language, s.url, s.display_name, s.created_at, a.external_id, a.created_at,
"""
# Window counts, only when the condition reads `counts` (two bounded index scans per case).
_WINDOW_COUNTS = f"""
       (SELECT count(*) FROM (SELECT 1 FROM cases_report w WHERE w.case_id = c.id
                              AND w.received_at < c.opened_at + interval '1 hour' LIMIT {WINDOW_COUNT_CAP}) h),
       (SELECT count(*) FROM (SELECT 1 FROM cases_report w WHERE w.case_id = c.id
                              AND w.received_at < c.opened_at + interval '1 day' LIMIT {WINDOW_COUNT_CAP}) dd)
"""
_NO_WINDOW_COUNTS = "0, 0"

# Signals, only when the condition reads `signals`: the snapshot intake stored with the first report (its
# reporter's record then) and the case's signals as the last report before the decision left them (`{bound}`).
_SIGNAL_COLUMNS = """,
       rs.report_id IS NOT NULL, rs.upheld, rs.rejected,
       ls.reports, ls.weak_reports, ls.near_duplicate_reports, ls.co_report_hits, ls.burst_ratio,
       ls.linked_sanctioned, ls.hash_matches
"""
_SIGNAL_JOINS = """
LEFT JOIN signals_reportsignals rs ON rs.report_id = r.id
LEFT JOIN LATERAL (SELECT s2.* FROM cases_report r2 JOIN signals_reportsignals s2 ON s2.report_id = r2.id
                   WHERE r2.case_id = c.id {bound} ORDER BY r2.received_at DESC, r2.id DESC LIMIT 1) ls ON true
"""

_FIRST_REPORT = """
JOIN LATERAL (SELECT * FROM cases_report r0 WHERE r0.case_id = c.id ORDER BY r0.received_at, r0.id LIMIT 1) r ON true
JOIN cases_policy p ON p.id = r.policy_id
JOIN cases_subject s ON s.id = c.subject_id
LEFT JOIN cases_subject a ON a.id = s.author_id
"""

def _decided_sql(counts: bool, signals: bool = False) -> str:
    return f"""
SELECT o.code, {_CASE_COLUMNS} {_WINDOW_COUNTS if counts else _NO_WINDOW_COUNTS}
       {_SIGNAL_COLUMNS if signals else ""}
FROM reviews_decision d
JOIN reviews_outcome o ON o.id = d.outcome_id
JOIN cases_case c ON c.id = d.case_id
{_FIRST_REPORT}
{_SIGNAL_JOINS.format(bound="AND r2.received_at <= d.decided_at") if signals else ""}
WHERE d.is_current AND d.decided_at >= %s AND d.decided_at < %s
ORDER BY d.decided_at, d.id
"""


def _open_sql(counts: bool, signals: bool = False) -> str:
    return f"""
SELECT '', {_CASE_COLUMNS} {_WINDOW_COUNTS if counts else _NO_WINDOW_COUNTS}
       {_SIGNAL_COLUMNS if signals else ""}
FROM cases_case c
{_FIRST_REPORT}
{_SIGNAL_JOINS.format(bound="") if signals else ""}
WHERE c.state IN ('open', 'in_review', 'escalated', 'on_hold')
ORDER BY c.opened_at, c.id
"""


# Review time per case: each vote from the claim of the voter's seat in that review.
_REVIEW_SECONDS_SQL = """
SELECT rv.case_id, COALESCE(sum(EXTRACT(EPOCH FROM v.cast_at - st.claimed_at)), 0)
FROM reviews_vote v
JOIN reviews_review rv ON rv.id = v.review_id
JOIN LATERAL (SELECT s.claimed_at FROM reviews_seat s WHERE s.review_id = v.review_id
              AND s.moderator_id = v.reviewer_id AND s.claimed_at <= v.cast_at
              ORDER BY s.claimed_at DESC LIMIT 1) st ON true
WHERE rv.case_id = ANY(%s)
GROUP BY rv.case_id
"""


def _features(row: tuple, now: datetime, groups: frozenset = frozenset(FEATURE_SCHEMA),
              result: "BacktestResult | None" = None) -> tuple[Any, dict[str, Any]]:
    (case_id, state, priority, report_count, reporter_count, max_severity, max_score, reopen_count, opened_at,
     report_id, reporter_kind, description, jurisdiction, score, received_at, policy, severity, kind, text,
     language, url, display_name, subject_created, author_external_id, author_created, last_hour, last_day) = row[:27]
    if isinstance(jurisdiction, str):
        jurisdiction = json.loads(jurisdiction)

    def hours(since):
        return max(0.0, (received_at - since).total_seconds() / 3600) if since else 0.0

    return case_id, {
        "report": {"policy": policy, "policy_severity": severity, "reporter_kind": reporter_kind,
                   "description": description or "", "jurisdictions": list(jurisdiction or []),
                   "classifier_score": float(score) if score is not None else 0.0,
                   "has_classifier_score": score is not None},
        "subject": {"kind": kind, "text": text or "", "language": language or "", "url": url or "",
                    "display_name": display_name or "", "age_hours": hours(subject_created)},
        "author": {"present": author_external_id is not None, "external_id": author_external_id or "",
                   "age_hours": hours(author_created)},
        "case": {"state": state, "priority": priority, "report_count": report_count, "reporter_count": reporter_count,
                 "max_severity": max_severity, "max_classifier_score": float(max_score or 0.0),
                 "reopen_count": reopen_count, "age_hours": 0.0, "is_new": True, "signals_changed": []},
        "counts": {"reports_last_hour": last_hour, "reports_last_day": last_day},
        "signals": _signals(row[27:], report_id, case_id, result) if "signals" in groups else {},
    }


def _signals(columns: tuple, report_id: Any, case_id: Any, result: "BacktestResult | None") -> dict[str, Any]:
    """The signal features from the snapshots intake stored; today's values for reports filed before
    snapshots existed (counted in the result, which says so)."""
    has_snapshot, upheld, rejected, *case_level = columns
    if not has_snapshot or case_level[0] is None:
        if result is not None:
            result.signals_today += 1
        return signal_features(report_id=report_id, case_id=case_id)
    if result is not None:
        result.signals_snapshot += 1
    reports, weak, near, co_hits, burst, linked, matches = case_level
    return snapshot_signal_features(upheld=upheld, rejected=rejected, reports=reports, weak_reports=weak,
                                    near_duplicate_reports=near, co_report_hits=co_hits, burst_ratio=burst,
                                    linked_sanctioned=_json(linked), hash_matches=_json(matches))


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else (value or [])


@dataclass
class OutcomeFigures:
    outcome: str
    human: int = 0
    predicted: int = 0
    agreed: int = 0

    @property
    def precision(self) -> float | None:
        return self.agreed / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.agreed / self.human if self.human else None


@dataclass
class BacktestResult:
    start: datetime
    end: datetime
    predicts: str
    decided: int = 0
    matched: int = 0
    errors: int = 0
    # (human outcome, rule prediction or NO_MATCH) -> count
    matrix: Counter = field(default_factory=Counter)
    disagreements: list[dict] = field(default_factory=list)  # matched, but people decided otherwise
    misses: list[dict] = field(default_factory=list)  # not matched, but people decided the predicted outcome
    reviewer_seconds_saved: float = 0.0
    open_cases: int = 0
    open_matched: int = 0
    open_effects: Counter = field(default_factory=Counter)  # effect type -> cases it would touch
    open_examples: list[dict] = field(default_factory=list)
    # Cases whose signals came from the snapshot stored at intake, and older ones judged on today's values.
    signals_snapshot: int = 0
    signals_today: int = 0
    reads_signals: bool = False

    @property
    def reviewer_hours_saved(self) -> float:
        return self.reviewer_seconds_saved / 3600

    def outcomes(self) -> list[OutcomeFigures]:
        figures: dict[str, OutcomeFigures] = {}
        for (human, predicted), n in self.matrix.items():
            figures.setdefault(human, OutcomeFigures(human)).human += n
            if predicted != NO_MATCH:
                figures.setdefault(predicted, OutcomeFigures(predicted)).predicted += n
                if predicted == human:
                    figures[human].agreed += n
        return sorted(figures.values(), key=lambda f: f.outcome)

    def matrix_rows(self) -> tuple[list[str], list[tuple[str, list[int]]]]:
        """Columns (predictions) and rows (human outcome, counts per column) for display."""
        columns = sorted({p for _h, p in self.matrix if p != NO_MATCH}) + [NO_MATCH]
        humans = sorted({h for h, _p in self.matrix})
        return columns, [(h, [self.matrix[(h, c)] for c in columns]) for h in humans]

    def as_json(self) -> dict[str, Any]:
        """Everything the run page shows, as JSON (BacktestRun.results)."""
        columns, rows = self.matrix_rows()
        return {
            "period": [self.start.isoformat(), self.end.isoformat()], "predicts": self.predicts,
            "decided": self.decided, "matched": self.matched, "errors": self.errors,
            "matrix_columns": columns, "matrix_rows": [[human, counts] for human, counts in rows],
            "outcomes": [{"outcome": f.outcome, "human": f.human, "predicted": f.predicted, "agreed": f.agreed,
                          "precision": f.precision, "recall": f.recall} for f in self.outcomes()],
            "disagreements": [{**d, "case_id": str(d["case_id"])} for d in self.disagreements],
            "misses": [{**d, "case_id": str(d["case_id"])} for d in self.misses],
            "reviewer_seconds_saved": self.reviewer_seconds_saved, "reviewer_hours_saved": self.reviewer_hours_saved,
            "open_cases": self.open_cases, "open_matched": self.open_matched, "open_effects": dict(self.open_effects),
            "open_examples": [{**e, "case_id": str(e["case_id"])} for e in self.open_examples],
            "signals": ({"snapshot": self.signals_snapshot, "today": self.signals_today}
                        if self.reads_signals else None),
        }


_COUNT_SQL = """
SELECT (SELECT count(*) FROM reviews_decision d WHERE d.is_current AND d.decided_at >= %s AND d.decided_at < %s),
       (SELECT count(*) FROM cases_case c WHERE c.state IN ('open', 'in_review', 'escalated', 'on_hold'))
"""


def cases_to_evaluate(*, start: datetime, end: datetime) -> int:
    """How many cases a backtest over [start, end) evaluates: the decided ones and the open ones."""
    with connection.cursor() as cursor:
        cursor.execute(_COUNT_SQL, [start, end])
        decided, still_open = cursor.fetchone()
    return decided + still_open


def _rows(sql: str, params: list) -> Any:
    """Rows of `sql` from a server-side cursor, BATCH_SIZE at a time."""
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while True:
            batch = cursor.fetchmany(BATCH_SIZE)
            if not batch:
                return
            yield batch


def backtest(*, expression: str, effects: list, predicts: str, start: datetime, end: datetime,
             include_open: bool = True, progress: Callable[[int], None] | None = None) -> BacktestResult:
    """Runs a condition over the cases decided in [start, end) and the open
    cases. Requires a condition that compiles (raises ExpressionError).
    `progress(n)` is called after each batch with the cases evaluated so far."""
    condition = engine.compile_rule_condition(expression)
    rule = engine.LoadedRule(rule_id=0, slug="backtest", version_id=0, number=0, mode="shadow", condition=condition,
                             effects=effects, sample_share=0.0)
    result = BacktestResult(start=start, end=end, predicts=predicts)
    groups = condition.groups
    result.reads_signals = "signals" in groups
    agreed_ids = []
    for batch in _rows(_decided_sql("counts" in groups, "signals" in groups), [start, end]):
        for row in batch:
            human = row[0]
            case_id, features = _features(row[1:], end, groups, result)
            [verdict] = engine.evaluate([rule], features)
            result.decided += 1
            if verdict.error:
                result.errors += 1
            predicted = predicts if verdict.matched else NO_MATCH
            result.matrix[(human, predicted)] += 1
            if verdict.matched:
                result.matched += 1
                if human == predicts:
                    agreed_ids.append(case_id)
                elif len(result.disagreements) < LISTED_CASES:
                    result.disagreements.append({"case_id": case_id, "human": human, "rule": predicts})
            elif human == predicts and len(result.misses) < LISTED_CASES:
                result.misses.append({"case_id": case_id, "human": human, "rule": NO_MATCH})
        if progress is not None:
            progress(result.decided)
    # Review time in a few large look-ups after the scan (one per batch made the planner scan the votes each time).
    for i in range(0, len(agreed_ids), REVIEW_TIME_CHUNK):
        result.reviewer_seconds_saved += _review_seconds(agreed_ids[i:i + REVIEW_TIME_CHUNK])
    if include_open:
        _open_cases(result, rule, progress)
    return result


def _review_seconds(case_ids: list) -> float:
    with connection.cursor() as cursor:
        cursor.execute(_REVIEW_SECONDS_SQL, [case_ids])
        return float(sum(seconds for _case, seconds in cursor.fetchall()))


def _open_cases(result: BacktestResult, rule: "engine.LoadedRule", progress: Callable[[int], None] | None) -> None:
    groups = rule.condition.groups | {"case"}  # the case's priority, for the effects preview
    for batch in _rows(_open_sql("counts" in groups, "signals" in groups), []):
        for row in batch:
            case_id, features = _features(row[1:], result.end, groups)
            result.open_cases += 1
            [verdict] = engine.evaluate([rule], features)
            if not verdict.matched:
                continue
            result.open_matched += 1
            preview = effects_preview(rule.effects, priority=features["case"]["priority"])
            for effect in preview:
                result.open_effects[effect["type"]] += 1
            if len(result.open_examples) < LISTED_CASES:
                result.open_examples.append({"case_id": case_id, "priority": features["case"]["priority"],
                                             "effects": preview})
        if progress is not None:
            progress(result.decided + result.open_cases)
