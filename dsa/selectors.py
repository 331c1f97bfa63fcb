"""Reads of the DSA app for the console (and the notices API)."""

from datetime import datetime

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import F, OuterRef

from cases.models import Case, Report, ReporterKind
from reviews.services import statement_of_reasons

from . import vocabulary as v
from .models import OutcomeMapping, PolicyMapping, Statement
from .statements import StatementFacts, account_type_of, build_payload, flagger_names_of, restricts
from .validation import Errors


def case_statements(*, case_id) -> list[Statement]:
    """Every statement of the case's decisions, oldest first, with `decision_sequence`: empty while the
    decision is not published (held by its statement). One query."""
    return list(Statement.objects.filter(case_id=case_id).select_related("corrects")
                .annotate(decision_sequence=F("decision__sequence")).order_by("created_at", "id"))


def statement_preview(*, case_id, outcome, policy, duration_days: int | None, public_explanation: str,
                      now: datetime) -> tuple[dict | None, Errors]:
    """The statement a decision with this outcome and policy would get now,
    and its problems; (None, {}) when the outcome restricts nothing. Reads
    the case with its reporters (one query) and the two mappings."""
    reports = Report.objects.filter(case=OuterRef("pk"))
    case = (Case.objects.select_related("subject__author")
            .annotate(reporter_kinds=ArraySubquery(reports.values("reporter_kind").distinct()),
                      reporter_ids=ArraySubquery(reports.exclude(reporter_external_id="")
                                                 .values("reporter_external_id").distinct()),
                      flagger_names=flagger_names_of("pk"), account_type=account_type_of("pk"))
            .get(pk=case_id))
    subject, author = case.subject, case.subject.author
    facts = StatementFacts(
        decision_id="preview", is_violation=outcome.is_violation, outcome_code=outcome.code,
        outcome_mapping=OutcomeMapping.objects.filter(outcome=outcome).first(),
        policy_code=policy.code if policy else None, policy_category=policy.dsa_category if policy else "",
        policy_mapping=PolicyMapping.objects.filter(policy=policy).first() if policy else None,
        duration_days=duration_days, decided_at=now,
        decision_facts=statement_of_reasons(outcome=outcome, policy=policy, public_explanation=public_explanation,
                                            duration_days=duration_days),
        automated_detection=ReporterKind.AUTOMATED in (case.reporter_kinds or []), automated_decision=False,
        subject_kind=subject.kind, subject_text=subject.latest_text, subject_media=subject.latest_media or [],
        subject_language=subject.language, subject_metadata=subject.metadata or {},
        subject_created_at=subject.created_at, reporter_kinds=list(case.reporter_kinds or []),
        identifiers=[i for i in [*(case.reporter_ids or []), subject.display_name if subject.kind == "account" else "",
                                 author.external_id if author else "", author.display_name if author else ""] if i],
        flagger_names=list(case.flagger_names or []), account_type=v.INTAKE_ACCOUNT_TYPES.get(case.account_type or "", ""),
    )
    if not restricts(facts):
        return None, {}
    return build_payload(facts, puid="preview")
