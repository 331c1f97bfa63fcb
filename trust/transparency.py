"""The transparency report (DSA Art. 15, 24): figures for a period, each with
the ids of the cases behind it, so every number can be traced and checked.

Formulas (docs/dsa-trust.md, "Transparency report"): a period is
[start, end). Notices are reports received in it; actions are decisions of
kind original or rereview made in it whose outcome is a violation;
complaints are appeals opened in it (outcomes and times: appeals decided in
it); Art. 23 figures are reporter sanctions and repeat-offender proposals
created in it; trusted flaggers' figures are over their notices received in
it. Medians are over the cases listed with them.

The model tables are the source (they hold what the audit events do not:
policies' categories and grounds, the decision's case opening time, which
reports a case holds). `audit_replay` recounts the decision and appeal
figures from the audit trail's `decision.made` / `decision.reversed` /
`appeal.opened` / `appeal.decided` events alone, and `audit_disagreements`
names every figure where the two differ (`transparency_report --check`).
"""

import csv
import io
import json
import statistics
from datetime import datetime

from django.core.exceptions import ObjectDoesNotExist

from audit.models import AuditEvent
from cases.models import Policy, Report, ReporterKind
from reviews.models import Appeal, Decision, DecisionKind, Outcome

from .models import HeldNotice, ReporterSanction, SanctionKind, StrikeProposal
from .selectors import flagger_figures_between

UNSPECIFIED = "unspecified"
# Reporter kinds that are notices from outside the platform; a case without one acted on is own-initiative.
NOTICE_KINDS = ("user", "trusted_flagger")
ACTION_KINDS = (DecisionKind.ORIGINAL, DecisionKind.REREVIEW)


def decision_ground(policy: Policy | None) -> str:
    """The DSA decision ground a policy maps to (illegal content or
    incompatible with the terms): its `dsa.PolicyMapping`, reached through the
    reverse one-to-one `policy.dsa_mapping` (select_related it); "unspecified"
    for a policy without a mapping. The one place the report asks for a ground."""
    if policy is None:
        return UNSPECIFIED
    try:
        mapping = policy.dsa_mapping
    except ObjectDoesNotExist:
        return UNSPECIFIED
    return mapping.decision_ground or UNSPECIFIED


def category_of(policy: Policy | None) -> str:
    return (policy.dsa_category if policy is not None else "") or UNSPECIFIED


class _Tally:
    """name → the set of case ids behind it."""

    def __init__(self):
        self.cases: dict[str, list[str]] = {}

    def add(self, key: str, case_id) -> None:
        self.cases.setdefault(key, [])
        self.cases[key].append(str(case_id))

    def out(self) -> dict:
        return {key: _figure(ids) for key, ids in sorted(self.cases.items())}


def _figure(case_ids: list[str]) -> dict:
    """A count and the distinct cases it counts in (a case can hold several notices)."""
    return {"count": len(case_ids), "case_ids": sorted(set(case_ids))}


def _median_hours(pairs: list[tuple[str, float]]) -> dict:
    seconds = [s for _c, s in pairs]
    return {"median_hours": round(statistics.median(seconds) / 3600, 2) if seconds else None,
            "count": len(pairs), "case_ids": sorted({str(c) for c, _s in pairs})}


def _notices(start: datetime, end: datetime) -> dict:
    reports = (Report.objects.filter(received_at__gte=start, received_at__lt=end).select_related("policy")
               .only("case_id", "reporter_kind", "claimed_reporter_kind", "policy__dsa_category"))
    by_category, by_kind, unconfirmed, unconfirmed_staff, total = _Tally(), _Tally(), [], [], []
    for report in reports:
        total.append(report.case_id)
        by_category.add(category_of(report.policy), report.case_id)
        by_kind.add(report.reporter_kind, report.case_id)
        if report.claimed_reporter_kind == ReporterKind.TRUSTED_FLAGGER:
            unconfirmed.append(str(report.case_id))
        elif report.claimed_reporter_kind == ReporterKind.STAFF:
            unconfirmed_staff.append(str(report.case_id))
    held = HeldNotice.objects.filter(received_at__gte=start, received_at__lt=end).count()
    return {
        "total": _figure([str(c) for c in total]),
        "by_category": by_category.out(),
        "by_reporter_type": by_kind.out(),
        "trusted_flagger_claims_not_confirmed": _figure(unconfirmed),
        "staff_claims_not_confirmed": _figure(unconfirmed_staff),
        "held_from_suspended_reporters": {"count": held, "case_ids": []},
    }


def _actions(start: datetime, end: datetime) -> dict:
    decisions = list(Decision.objects.filter(decided_at__gte=start, decided_at__lt=end, kind__in=ACTION_KINDS,
                                             outcome__is_violation=True)
                     .select_related("policy__dsa_mapping", "outcome", "case"))
    case_ids = {d.case_id for d in decisions}
    noticed = set(Report.objects.filter(case_id__in=case_ids, reporter_kind__in=NOTICE_KINDS)
                  .values_list("case_id", flat=True).distinct())
    by_ground, by_category, by_outcome = _Tally(), _Tally(), _Tally()
    own, detected, automated, total, timed = [], [], [], [], []
    for d in decisions:
        total.append(str(d.case_id))
        by_ground.add(decision_ground(d.policy), d.case_id)
        by_category.add(category_of(d.policy), d.case_id)
        by_outcome.add(d.outcome.code, d.case_id)
        if d.case_id not in noticed:
            own.append(str(d.case_id))
        if d.automated_detection:
            detected.append(str(d.case_id))
        if d.automated_decision:
            automated.append(str(d.case_id))
        if d.kind == DecisionKind.ORIGINAL:
            timed.append((d.case_id, (d.decided_at - d.case.opened_at).total_seconds()))
    return {
        "total": _figure(total), "by_ground": by_ground.out(), "by_category": by_category.out(),
        "by_outcome": by_outcome.out(), "own_initiative": _figure(own),
        "automated_detection": _figure(detected), "automated_decision": _figure(automated),
        "time_to_action": _median_hours(timed),
    }


def _complaints(start: datetime, end: datetime) -> dict:
    received = list(Appeal.objects.filter(opened_at__gte=start, opened_at__lt=end))
    by_basis = _Tally()
    for appeal in received:
        by_basis.add(appeal.appellant_kind, appeal.case_id)
    decided = list(Appeal.objects.filter(decided_at__gte=start, decided_at__lt=end))
    outcomes, timed, reversed_ = _Tally(), [], []
    for appeal in decided:
        outcomes.add(appeal.result, appeal.case_id)
        timed.append((appeal.case_id, (appeal.decided_at - appeal.opened_at).total_seconds()))
        if appeal.result == "overturned":
            reversed_.append(str(appeal.case_id))
    return {"received": _figure([str(a.case_id) for a in received]), "by_basis": by_basis.out(),
            "decided": _figure([str(a.case_id) for a in decided]), "outcomes": outcomes.out(),
            "time_to_decide": _median_hours(timed), "reversals": _figure(reversed_)}


def _article_23(start: datetime, end: datetime) -> dict:
    sanctions = ReporterSanction.objects.filter(created_at__gte=start, created_at__lt=end).select_related("decision")
    kinds = _Tally()
    for sanction in sanctions:
        # a suspension by its state: proposed, confirmed (imposed), rejected or lifted by a lead
        key = sanction.kind if sanction.kind == SanctionKind.WARNING else f"{sanction.kind}_{sanction.state}"
        kinds.add(key, sanction.decision.case_id if sanction.decision_id else "")
    proposals = _Tally()
    for proposal in StrikeProposal.objects.filter(created_at__gte=start, created_at__lt=end):
        proposals.add(proposal.action, proposal.case_id or "")
    out_kinds = {k: {**v, "case_ids": [c for c in v["case_ids"] if c]} for k, v in kinds.out().items()}
    out_proposals = {k: {**v, "case_ids": [c for c in v["case_ids"] if c]} for k, v in proposals.out().items()}
    return {"reporter_sanctions": out_kinds, "account_proposals": out_proposals}


def _trusted_flaggers(start: datetime, end: datetime) -> dict:
    """Per registered flagger ("name (#id)": the id keeps a renamed flagger's
    figures apart, and no admin-typed name can pass for a figure's own keys):
    notices, decided, upheld (with accuracy = upheld / decided) and the median
    hours from notice to decision."""
    notices, decided, upheld, handling = {}, {}, {}, {}
    for fig in flagger_figures_between(start=start, end=end):
        name = f"{fig.flagger.name} (#{fig.flagger.pk})"
        notices[name] = {"count": fig.notices, "case_ids": sorted(fig.notice_cases)}
        decided[name] = {"count": fig.decided, "case_ids": sorted(fig.decided_cases)}
        upheld[name] = {"count": fig.upheld, "case_ids": sorted(fig.upheld_cases),
                        "accuracy": round(fig.accuracy, 4) if fig.accuracy is not None else None}
        handling[name] = {"count": fig.decided, "median_hours": fig.median_hours, "case_ids": sorted(fig.decided_cases)}
    return {"notices": notices, "decided": decided, "upheld": upheld, "handling_time": handling}


def transparency_report(*, start: datetime, end: datetime) -> dict:
    """Every figure for [start, end). Requires start < end (aware datetimes)."""
    return {
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "notices": _notices(start, end),
        "actions": _actions(start, end),
        "complaints": _complaints(start, end),
        "article_23": _article_23(start, end),
        "trusted_flaggers": _trusted_flaggers(start, end),
    }


# ---- the check against the audit trail ------------------------------------------------------------------------

REPLAYED = ("actions.total", "actions.by_outcome", "actions.automated_decision", "complaints.received",
            "complaints.decided", "complaints.outcomes")


def audit_replay(*, start: datetime, end: datetime) -> dict:
    """The figures of REPLAYED recounted from audit events recorded in
    [start, end) alone (one query for the events, one for the outcomes'
    violation flags). An event is recorded in the deciding transaction a
    moment after the decision's time, so a decision within milliseconds
    before a period's end can fall on the other side of it here."""
    violation = dict(Outcome.objects.values_list("code", "is_violation"))
    events = (AuditEvent.objects.filter(created_at__gte=start, created_at__lt=end, stream__startswith="case:",
                                        action__in=["decision.made", "decision.reversed", "appeal.opened",
                                                    "appeal.decided"])
              .values_list("action", "stream", "data"))
    total, automated, received, decided = [], [], [], []
    by_outcome, outcomes = _Tally(), _Tally()
    for action, stream, data in events:
        case_id = stream.removeprefix("case:")
        if action in ("decision.made", "decision.reversed"):
            if data.get("kind") in ACTION_KINDS and violation.get(data.get("outcome")):
                total.append(case_id)
                by_outcome.add(data["outcome"], case_id)
                if data.get("automated"):
                    automated.append(case_id)
        elif action == "appeal.opened":
            received.append(case_id)
        else:
            decided.append(case_id)
            outcomes.add(data.get("result", ""), case_id)
    return {"actions": {"total": _figure(total), "by_outcome": by_outcome.out(),
                        "automated_decision": _figure(automated)},
            "complaints": {"received": _figure(received), "decided": _figure(decided), "outcomes": outcomes.out()}}


def _strip(value):
    """A figure or a breakdown without medians: what the replay can recount."""
    if isinstance(value, dict) and "count" in value:
        return {"count": value["count"], "case_ids": value["case_ids"]}
    return {k: _strip(v) for k, v in value.items()}


def audit_disagreements(report: dict, replay: dict) -> list[str]:
    """One line per REPLAYED figure where the report and the audit replay
    differ (count or cases); empty when they agree."""
    out = []
    for path in REPLAYED:
        section, name = path.split(".")
        ours, theirs = _strip(report[section][name]), _strip(replay[section][name])
        if ours != theirs:
            out.append(f"{path}: report {json.dumps(ours, sort_keys=True)} != audit trail "
                       f"{json.dumps(theirs, sort_keys=True)}")
    return out


# ---- what a console viewer may see ------------------------------------------------------------------------------

def case_ids_in(report: dict) -> set[str]:
    """Every case id the report names."""
    found = set()
    for value in report.values():
        if isinstance(value, dict) and "case_ids" in value:
            found.update(value["case_ids"])
        elif isinstance(value, dict):
            found |= case_ids_in(value)
    return found


def without_cases(report: dict, hidden: set[str]) -> dict:
    """A copy of `report` in which each figure lists only the case ids not in
    `hidden` and says how many it left out (`hidden_cases`); counts and
    medians are unchanged (they are the platform's aggregate figures)."""
    out = {}
    for name, value in report.items():
        if isinstance(value, dict) and "case_ids" in value:
            shown = [c for c in value["case_ids"] if c not in hidden]
            out[name] = {**value, "case_ids": shown, "hidden_cases": len(value["case_ids"]) - len(shown)}
        elif isinstance(value, dict):
            out[name] = without_cases(value, hidden)
        else:
            out[name] = value
    return out


def rows(report: dict, prefix: str = ""):
    """(figure, key, count, median hours or "", case ids) for every figure, depth first; `key` names the entry
    of a breakdown (a category, a reporter type, ...) and is empty for a figure of its own."""
    for name, value in report.items():
        if name == "period":
            continue
        path = f"{prefix}.{name}" if prefix else name
        if isinstance(value, dict) and "count" in value:
            yield path, "", value["count"], value.get("median_hours", ""), " ".join(value["case_ids"])
        elif isinstance(value, dict) and value and all(isinstance(v, dict) and "count" in v for v in value.values()):
            for key, figure in value.items():
                yield path, key, figure["count"], figure.get("median_hours", ""), " ".join(figure["case_ids"])
        elif isinstance(value, dict):
            yield from rows(value, path)


def _cell(value):
    # A category is free text an admin typed: never let a spreadsheet read it as a formula.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def as_csv(report: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["figure", "key", "count", "median_hours", "case_ids"])
    writer.writerow(["period", "", "", "", f"{report['period']['from']} / {report['period']['to']}"])
    for row in rows(report):
        writer.writerow(["" if v is None else _cell(v) for v in row])
    return out.getvalue()
