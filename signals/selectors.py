"""Reads of the signals layer: what the case page and the rules engine see."""

from dataclasses import dataclass, field

from django.conf import settings

from cases.models import Case, Subject
from cases.priority import case_priority, priority_terms, reach_of

from . import brigade
from .models import AccountSanction, IdentifierLink, SubjectSignals


@dataclass(frozen=True)
class CaseSignals:
    brigade: brigade.BrigadeVerdict | None
    linked_sanctioned: list = field(default_factory=list)
    hash_matches: list = field(default_factory=list)

    @property
    def coordinated(self) -> bool:
        return bool(self.brigade and self.brigade.flagged)

    @property
    def evasion(self) -> bool:
        return bool(self.linked_sanctioned)


def verdict_of(row: SubjectSignals) -> brigade.BrigadeVerdict:
    return brigade.verdict(brigade.Counters(
        reports=row.reports, weak_reports=row.weak_reports, near_duplicate_reports=row.near_duplicate_reports,
        co_report_hits=row.co_report_hits, burst_ratio=row.burst_ratio))


def case_signals(*, case_id, subject_id) -> CaseSignals:
    """The signals intake stored for this case (one query)."""
    row = SubjectSignals.objects.filter(subject_id=subject_id).first()
    if row is None or (row.case_id is not None and row.case_id != case_id):
        return CaseSignals(brigade=None)
    return CaseSignals(brigade=verdict_of(row), linked_sanctioned=row.linked_sanctioned or [],
                       hash_matches=row.hash_matches or [])


LINKED_LIMIT = 50


def linked_accounts(*, account_ids: list) -> list[dict]:
    """Accounts sharing an identifier hash with any of `account_ids` (at most
    LINKED_LIMIT links), with the kinds they share and their sanctions: one
    query when there is nothing linked, three otherwise."""
    if not account_ids:
        return []
    mine = IdentifierLink.objects.filter(subject_id__in=account_ids)
    rows = list(IdentifierLink.objects.filter(digest__in=mine.values("digest"), source_id__in=mine.values("source_id"))
                .exclude(subject_id__in=account_ids).order_by("subject_id", "kind")
                .values_list("subject_id", "kind")[:LINKED_LIMIT])
    if not rows:
        return []
    others = {}
    for subject_id, kind in rows:
        others.setdefault(subject_id, set()).add(kind)
    subjects = {s.pk: s for s in Subject.objects.filter(pk__in=list(others))}
    sanctions = {}
    for sanction in AccountSanction.objects.filter(subject_id__in=list(others)).order_by("decided_at"):
        sanctions.setdefault(sanction.subject_id, []).append(
            {"case_id": sanction.case_id, "outcome": sanction.outcome, "decided_at": sanction.decided_at})
    return [{"subject_id": sid, "external_id": subjects[sid].external_id if sid in subjects else "",
             "shared": sorted(kinds), "sanctions": sanctions.get(sid, [])}
            for sid, kinds in sorted(others.items(), key=lambda kv: str(kv[0]))]


def case_accounts(case: Case) -> list:
    """The account subjects of a case: the subject if an account, else the author."""
    subject = case.subject
    if subject.kind == "account":
        return [subject.pk]
    return [subject.author_id] if subject.author_id else []


def priority_explanation(case: Case) -> dict:
    """Why the case has its priority: each term of the formula (cases.priority)
    as intake last computed it, and what raised it since (escalations, missed
    deadlines). One query (the subject's signals); `case.subject` is loaded."""
    found = case_signals(case_id=case.pk, subject_id=case.subject_id)
    inputs = dict(max_severity=case.max_severity, reporter_weight=case.reporter_weight,
                  max_classifier_score=case.max_classifier_score, reach=reach_of(case.subject.metadata),
                  reporter_damping=found.brigade.damping if found.brigade else 1.0,
                  bonus=settings.SIGNALS_EVASION_BONUS if found.evasion else 0)
    formula = case_priority(**inputs)
    return {**priority_terms(**inputs), "reporter_weight": round(case.reporter_weight, 2),
            "reporter_count": case.reporter_count, "damping": round(inputs["reporter_damping"], 3),
            "evasion_bonus": inputs["bonus"], "formula": formula, "raised_by": max(0, case.priority - formula),
            "signals": found}
