"""The case priority formula (documented in the README, section "Cases").

    priority = 100 × max severity                     (100 … 500)
             + round(d × min(150, round(40 × log2(1 + W))))  (0 … 150)
             + round(100 × max classifier score)      (0 … 100)
             + min(100, round(10 × log10(1 + reach))) (0 … 100)

             + bonus                                  (ban evasion; total capped at 850)

W is the weighted count of distinct reporters: user and anonymous 1, staff 2,
trusted flagger 3, automated 0 (classifiers count through their score), each
multiplied by the reporter's reputation factor (signals: accuracy over the
prior mean, 1 for a reporter without record or without the signals layer).
d is the brigading damping (1 unless the case is flagged as coordinated
reporting; docs/rules.md, "Reputation and brigading formulas").
Anonymous reports count once in total, whatever their number, since they
cannot be told apart. Reach is the subject's `metadata.reach`, or else
`followers_count`, else `view_count`: a non-negative number; anything else
counts as 0. The result is an integer from 100 to 850; higher is worked first.
"""

import math

PRIORITY_MIN = 100
PRIORITY_MAX = 850
REPORTER_WEIGHTS = {"user": 1, "staff": 2, "trusted_flagger": 3, "automated": 0}
REACH_KEYS = ("reach", "followers_count", "view_count")


def reach_of(metadata):
    if not isinstance(metadata, dict):
        return 0
    for key in REACH_KEYS:
        value = metadata.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and value >= 0:
            return value  # arbitrarily large integers are fine: log10 takes them
        if isinstance(value, float) and math.isfinite(value) and value >= 0:
            return value
    return 0


def priority_terms(*, max_severity, reporter_weight, max_classifier_score, reach, reporter_damping=1.0,
                   bonus=0) -> dict:
    """Each term of the formula (the case page explains the priority with them)."""
    full_reporter_points = min(150, round(40 * math.log2(1 + max(0, reporter_weight))))
    return {
        "severity_points": 100 * max(1, min(5, int(max_severity))),
        "full_reporter_points": full_reporter_points,
        "reporter_points": round(reporter_damping * full_reporter_points),
        "score_points": round(100 * max(0.0, min(1.0, max_classifier_score or 0.0))),
        "reach_points": min(100, round(10 * math.log10(1 + max(0, reach)))),
        "bonus": bonus,
    }


def case_priority(*, max_severity, reporter_weight, max_classifier_score, reach, reporter_damping=1.0, bonus=0):
    t = priority_terms(max_severity=max_severity, reporter_weight=reporter_weight,
                       max_classifier_score=max_classifier_score, reach=reach, reporter_damping=reporter_damping)
    total = t["severity_points"] + t["reporter_points"] + t["score_points"] + t["reach_points"]
    return min(PRIORITY_MAX, total + bonus) if bonus else total


def priority_raise(priority: int, bonus: int) -> int:
    """`priority` raised by `bonus` (an escalation, a missed deadline), never
    above PRIORITY_MAX: a case that keeps breaching must not outrank every
    case the formula puts at the top. A priority already above the cap (set
    before the cap existed) is left as it is, never lowered."""
    return max(priority, min(PRIORITY_MAX, priority + bonus))
