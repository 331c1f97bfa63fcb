"""Coordinated reporting: the verdict over a subject's counters. Pure; the
counters are kept by signals.intake (docs/rules.md, "Reputation and
brigading formulas")."""

from dataclasses import dataclass

FAST_SECONDS = 3600.0  # time constant of the burst count
SLOW_SECONDS = 7 * 24 * 3600.0  # time constant of the baseline
BURST_MIN_REPORTS = 10.0  # decayed reports within about an hour
BURST_RATIO = 5.0
MIN_REPORTS = 5
SHARE = 0.6  # share of reports from new or low-reputation reporters
NEAR_DUPLICATE_SHARE = 0.5
CO_REPORT_SHARE = 0.3
FLAG_SCORE = 0.5
MAX_DAMPING = 0.75  # a score of 1 keeps a quarter of the reporters' priority points


@dataclass(frozen=True)
class Counters:
    reports: int
    weak_reports: int
    near_duplicate_reports: int
    co_report_hits: int
    burst_ratio: float  # the peak over the case (signals.intake keeps it)


@dataclass(frozen=True)
class BrigadeVerdict:
    score: float
    flagged: bool
    damping: float
    evidence: dict


def burst_ratio(rate_fast: float, rate_slow: float) -> float:
    """Reports in about the last hour against the subject's hourly baseline
    over about a week (at least one report an hour); 0 below
    BURST_MIN_REPORTS recent reports. signals.intake computes the same in SQL."""
    if rate_fast < BURST_MIN_REPORTS:
        return 0.0
    return rate_fast / max(1.0, rate_slow * FAST_SECONDS / SLOW_SECONDS)


def verdict(c: Counters) -> BrigadeVerdict:
    ratio = c.burst_ratio
    n = max(1, c.reports)
    shares = {"weak_share": c.weak_reports / n, "near_duplicate_share": c.near_duplicate_reports / n,
              "co_report_share": c.co_report_hits / n}
    burst = ratio >= BURST_RATIO
    enough = c.reports >= MIN_REPORTS
    tripped = {
        "burst": burst,
        "weak_reporters": enough and shares["weak_share"] >= SHARE,
        "near_duplicates": enough and shares["near_duplicate_share"] >= NEAR_DUPLICATE_SHARE,
        "co_reporters": enough and shares["co_report_share"] >= CO_REPORT_SHARE,
    }
    score = sum(tripped.values()) / len(tripped)
    # A burst alone is an organic surge as often as a brigade: it takes the burst and a second signal.
    flagged = burst and score >= FLAG_SCORE
    damping = 1.0 - MAX_DAMPING * score if flagged else 1.0
    evidence = {"reports": c.reports, "burst_ratio": round(ratio, 2),
                **{k: round(v, 3) for k, v in shares.items()}, "tripped": sorted(k for k, v in tripped.items() if v)}
    return BrigadeVerdict(score=score, flagged=flagged, damping=damping, evidence=evidence)
