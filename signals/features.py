"""Named, typed features of the signals layer for the rules engine
(docs/rules.md, "Signals"). Each function returns a flat dict whose keys and
types are those of FEATURES, whatever the data."""

from cases.models import Case, Report

from . import brigade
from .models import ReporterReputation
from .reputation import accuracy, prior_mean, reporter_key
from .selectors import CaseSignals, case_signals

FEATURES: dict[str, type] = {
    "reporter_reputation": float,  # posterior mean accuracy of the report's reporter (prior mean if unknown)
    "reporter_decided_reports": float,  # decided reports behind that estimate (upheld + rejected)
    "reporter_is_new": bool,  # no decided report yet
    "brigade_score": float,  # 0–1: share of the four brigading signals tripped
    "brigade_flagged": bool,  # "possible coordinated reporting"
    "burst_ratio": float,  # peak reports-per-hour against the subject's baseline
    "weak_reporter_share": float,  # share of reports from new or low-reputation reporters
    "near_duplicate_share": float,  # share of reports whose description is near-identical to an earlier one
    "co_report_share": float,  # share of reports from reporters who co-reported other subjects
    "ban_evasion_flagged": bool,  # linked by an identifier to a banned or suspended account
    "linked_banned_accounts": int,  # how many such accounts
    "hash_list_matches": int,  # media matching an active hash list (exact or PDQ within threshold)
    "hash_list_names": list,  # names of the lists matched, sorted
}


def for_case(case_id) -> dict:
    """Case-level signals (two queries)."""
    case = Case.objects.only("id", "subject_id").get(pk=case_id)
    return _case_features(case_signals(case_id=case.pk, subject_id=case.subject_id))


def _case_features(found: CaseSignals) -> dict:
    evidence = found.brigade.evidence if found.brigade else {}
    return {
        "reporter_reputation": prior_mean(), "reporter_decided_reports": 0.0, "reporter_is_new": True,
        "brigade_score": float(found.brigade.score) if found.brigade else 0.0,
        "brigade_flagged": found.coordinated,
        "burst_ratio": float(evidence.get("burst_ratio", 0.0)),
        "weak_reporter_share": float(evidence.get("weak_share", 0.0)),
        "near_duplicate_share": float(evidence.get("near_duplicate_share", 0.0)),
        "co_report_share": float(evidence.get("co_report_share", 0.0)),
        "ban_evasion_flagged": found.evasion,
        "linked_banned_accounts": len({str(x.get("subject_id")) for x in found.linked_sanctioned}),
        "hash_list_matches": len(found.hash_matches),
        "hash_list_names": sorted({m.get("list", "") for m in found.hash_matches}),
    }


def _with_reporter(features: dict, upheld: float, rejected: float) -> dict:
    features["reporter_reputation"] = accuracy(upheld, rejected)
    features["reporter_decided_reports"] = float(upheld + rejected)
    features["reporter_is_new"] = upheld + rejected == 0
    return features


def from_snapshot(*, upheld: float | None, rejected: float | None, reports: int, weak_reports: int,
                  near_duplicate_reports: int, co_report_hits: int, burst_ratio: float, linked_sanctioned: list,
                  hash_matches: list) -> dict:
    """The features of a report from what intake stored (ReportSignals): the
    reporter's record then (None: no record) and the case's counters, links
    and matches after a report (no query). Same keys and types as for_report."""
    counters = brigade.Counters(reports=reports, weak_reports=weak_reports,
                                near_duplicate_reports=near_duplicate_reports, co_report_hits=co_report_hits,
                                burst_ratio=burst_ratio)
    features = _case_features(CaseSignals(brigade=brigade.verdict(counters), linked_sanctioned=linked_sanctioned or [],
                                          hash_matches=hash_matches or []))
    return features if upheld is None else _with_reporter(features, upheld, rejected or 0.0)


def for_report(report_id) -> dict:
    """The case's features plus the reporter's reputation (four queries)."""
    report = Report.objects.only("id", "case_id", "source_id", "reporter_kind", "reporter_external_id",
                                 "api_client_id").get(pk=report_id)
    features = for_case(report.case_id)
    key = reporter_key(reporter_kind=report.reporter_kind, reporter_external_id=report.reporter_external_id,
                       api_client_id=report.api_client_id)
    record = (ReporterReputation.objects.filter(source_id=report.source_id, reporter_kind=report.reporter_kind,
                                                reporter_key=key).values_list("upheld", "rejected").first()
              if key else None)
    return features if record is None else _with_reporter(features, *record)
