"""Reads of the signals layer: what the case page and the rules engine see."""

from dataclasses import dataclass, field

from cases.models import Case, Subject

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


def linked_accounts(*, account_ids: list) -> list[dict]:
    """Accounts sharing an identifier hash with any of `account_ids`, with the
    kinds they share and their sanctions (three queries)."""
    mine = list(IdentifierLink.objects.filter(subject_id__in=account_ids).values_list("source_id", "kind", "digest"))
    if not mine:
        return []
    others = {}
    for source_id, kind, digest in mine:
        for subject_id in (IdentifierLink.objects.filter(source_id=source_id, kind=kind, digest=digest)
                           .exclude(subject_id__in=account_ids).values_list("subject_id", flat=True)[:50]):
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
