"""Building statements of reasons: the facts a statement needs (one query
per batch of decisions) and the pure function that turns them into the
Commission's schema. Validation is dsa.validation; the writes are
dsa.services."""

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.apps import apps
from django.contrib.postgres.expressions import ArraySubquery
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Exists, OuterRef, Q, Subquery
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce

from cases.models import Report, ReporterKind, SubjectKind
from reviews.models import Decision

from . import vocabulary as v
from .personal_data import personal_data_problems
from .validation import Errors, validate_statement

_IMAGE = re.compile(r"\.(jpe?g|png|gif|webp|avif|bmp|heic|svg)$", re.IGNORECASE)
_VIDEO = re.compile(r"\.(mp4|webm|mov|mkv|avi|m4v)$", re.IGNORECASE)
_AUDIO = re.compile(r"\.(mp3|ogg|oga|wav|flac|m4a|opus)$", re.IGNORECASE)


@dataclass
class StatementFacts:
    """Everything a statement is built from, read in one query."""

    decision_id: str
    is_violation: bool
    outcome_code: str
    outcome_mapping: Any  # dsa.OutcomeMapping or None
    policy_code: str | None
    policy_category: str
    policy_mapping: Any  # dsa.PolicyMapping or None
    duration_days: int | None
    decided_at: datetime
    decision_facts: str
    automated_detection: bool
    automated_decision: bool
    subject_kind: str
    subject_text: str
    subject_media: list
    subject_language: str
    subject_metadata: dict
    subject_created_at: datetime
    reporter_kinds: list[str] = field(default_factory=list)
    # Strings that name people: never allowed in a payload (dsa.personal_data).
    identifiers: list[str] = field(default_factory=list)
    # The registered organisations (trust registry) whose trusted-flagger notices are on the case: names of
    # organisations, never of people.
    flagger_names: list[str] = field(default_factory=list)
    # What the platform last said about the affected account: ACCOUNT_TYPE_* or "".
    account_type: str = ""


def restricts(facts: StatementFacts) -> bool:
    """Only decisions that restrict something get a statement."""
    return facts.is_violation and not getattr(facts.outcome_mapping, "no_restriction", False)


def _mapping(obj, name):
    if obj is None:
        return None
    try:
        return getattr(obj, name)
    except ObjectDoesNotExist:
        return None


def flagger_names_of(case_ref: str) -> ArraySubquery:
    """The names of the registered trusted flaggers (trust.TrustedFlagger)
    whose notices are on the case `case_ref` names (an outer column): a
    trusted-flagger report filed with the organisation's own API client or
    under an identity the platform vouched for. Read through the app
    registry, so dsa does not import trust."""
    flagger_model = apps.get_model("trust", "TrustedFlagger")
    identity_model = apps.get_model("trust", "FlaggerIdentity")
    flagged = Report.objects.filter(reporter_kind=ReporterKind.TRUSTED_FLAGGER)
    by_client = flagged.filter(case_id=OuterRef(OuterRef(case_ref)), api_client_id=OuterRef("api_client_id"))
    by_identity = identity_model.objects.filter(flagger=OuterRef("pk")).filter(Exists(flagged.filter(
        case_id=OuterRef(OuterRef(OuterRef(case_ref))), source_id=OuterRef("source_id"),
        reporter_external_id=OuterRef("reporter_external_id"))))
    return ArraySubquery(flagger_model.objects.filter(Q(Exists(by_client)) | Q(Exists(by_identity)))
                         .order_by("name").values("name"))


def account_type_of(case_ref: str) -> Subquery:
    """The account type the platform sent with the case's latest report that
    carried one (subject.account_type for an account, subject.author.account_type
    for content; kept in the report's snapshot of the subject)."""
    said = Coalesce(KT("snapshot__account_type"), KT("snapshot__author__account_type"))
    return Subquery(Report.objects.filter(case_id=OuterRef(case_ref)).annotate(said=said).exclude(said=None)
                    .order_by("-received_at", "-id").values("said")[:1])


def decisions_with_facts(decision_ids):
    """The decisions with what their statements need: one query whatever their number."""
    reports = Report.objects.filter(case=OuterRef("case_id"))
    return (Decision.objects.filter(pk__in=decision_ids)
            .select_related("outcome__dsa_mapping", "policy__dsa_mapping", "case__subject__author")
            .annotate(reporter_kinds=ArraySubquery(reports.values("reporter_kind").distinct()),
                      reporter_ids=ArraySubquery(reports.exclude(reporter_external_id="")
                                                 .values("reporter_external_id").distinct()),
                      flagger_names=flagger_names_of("case_id"), account_type=account_type_of("case_id")))


def facts_of(decision) -> StatementFacts:
    """StatementFacts of a decision read by decisions_with_facts."""
    subject = decision.case.subject
    author = subject.author
    identifiers = list(decision.reporter_ids or [])
    identifiers += [r.get("username") or "" for r in decision.reviewers or []]
    identifiers += [subject.display_name] if subject.kind == SubjectKind.ACCOUNT else []
    if author is not None:
        identifiers += [author.external_id, author.display_name]
    elif subject.kind == SubjectKind.ACCOUNT:
        identifiers.append(subject.external_id)
    return StatementFacts(
        decision_id=str(decision.pk), is_violation=decision.outcome.is_violation, outcome_code=decision.outcome.code,
        outcome_mapping=_mapping(decision.outcome, "dsa_mapping"),
        policy_code=decision.policy.code if decision.policy_id else None,
        policy_category=decision.policy.dsa_category if decision.policy_id else "",
        policy_mapping=_mapping(decision.policy, "dsa_mapping"), duration_days=decision.duration_days,
        decided_at=decision.decided_at, decision_facts=decision.facts_and_reasons,
        automated_detection=decision.automated_detection, automated_decision=decision.automated_decision,
        subject_kind=subject.kind, subject_text=subject.latest_text, subject_media=subject.latest_media or [],
        subject_language=subject.language, subject_metadata=subject.metadata or {},
        subject_created_at=subject.created_at, reporter_kinds=list(decision.reporter_kinds or []),
        identifiers=[i for i in identifiers if i], flagger_names=list(decision.flagger_names or []),
        account_type=v.INTAKE_ACCOUNT_TYPES.get(decision.account_type or "", ""),
    )


def content_types(facts: StatementFacts) -> tuple[list[str], str]:
    """(content_type list, content_type_other) from the subject and its media."""
    if facts.subject_kind == SubjectKind.ACCOUNT:
        return [v.CONTENT_TYPE_OTHER], "User account"
    found: list[str] = []
    if facts.subject_text.strip():
        found.append("CONTENT_TYPE_TEXT")
    other = False
    for item in facts.subject_media:
        mime = str((item or {}).get("mime_type") or "").lower()
        url = str((item or {}).get("url") or "").split("?")[0]
        if mime.startswith("image/") or (not mime and _IMAGE.search(url)):
            found.append("CONTENT_TYPE_IMAGE")
        elif mime.startswith("video/") or (not mime and _VIDEO.search(url)):
            found.append("CONTENT_TYPE_VIDEO")
        elif mime.startswith("audio/") or (not mime and _AUDIO.search(url)):
            found.append("CONTENT_TYPE_AUDIO")
        else:
            other = True
    if other or not found:
        found.append(v.CONTENT_TYPE_OTHER)
    other_text = ""
    if v.CONTENT_TYPE_OTHER in found:
        other_text = "Media of an unrecognised type" if other else "Content without text or media"
    return list(dict.fromkeys(found)), other_text


def content_language(tag: str) -> str | None:
    """ISO 639-1 in upper case from a BCP 47 tag (pt-BR → PT); None when there is no two-letter code."""
    primary = (tag or "").split("-")[0].strip()
    return primary.upper() if re.fullmatch(r"[A-Za-z]{2}", primary) else None


def content_date(facts: StatementFacts) -> str:
    """When the content was posted, if the platform sent it (metadata created_at / posted_at), else when
    Quorum first saw the subject."""
    for key in ("created_at", "posted_at"):
        raw = facts.subject_metadata.get(key) if isinstance(facts.subject_metadata, dict) else None
        if isinstance(raw, str):
            try:
                return date.fromisoformat(raw[:10]).isoformat()
            except ValueError:
                pass
    return facts.subject_created_at.date().isoformat()


def source_type(kinds: list[str]) -> str:
    """Trusted flaggers first, then Article 16 notices by users; staff and classifiers alone are the
    platform's own initiative."""
    if ReporterKind.TRUSTED_FLAGGER in kinds:
        return v.SOURCE_TRUSTED_FLAGGER
    if ReporterKind.USER in kinds:
        return v.SOURCE_ARTICLE_16
    return v.SOURCE_VOLUNTARY


def build_payload(facts: StatementFacts, *, puid: str) -> tuple[dict[str, Any], Errors]:
    """The statement in the Commission's schema and every problem with it:
    the schema's rules (dsa.validation), missing mappings, personal data."""
    problems: Errors = {}
    s: dict[str, Any] = {}
    om, pm = facts.outcome_mapping, facts.policy_mapping
    application = facts.decided_at.date()
    end = (application + timedelta(days=facts.duration_days)).isoformat() if facts.duration_days else None
    if om is None:
        problems["decision_visibility"] = [f"outcome {facts.outcome_code!r} has no DSA outcome mapping"]
    else:
        if om.decision_visibility:
            s["decision_visibility"] = list(om.decision_visibility)
            s[v.END_DATE_FIELDS["visibility"]] = end
            if om.decision_visibility_other:
                s["decision_visibility_other"] = om.decision_visibility_other
        for kind in ("account", "provision", "monetary"):
            value = getattr(om, f"decision_{kind}")
            if value:
                s[f"decision_{kind}"] = value
                s[v.END_DATE_FIELDS[kind]] = end
        if om.decision_monetary_other:
            s["decision_monetary_other"] = om.decision_monetary_other
    s["category"] = facts.policy_category
    if pm is None:
        problems["decision_ground"] = [f"policy {facts.policy_code!r} has no DSA policy mapping"]
    else:
        s["decision_ground"] = pm.decision_ground
        if pm.decision_ground == v.GROUND_ILLEGAL:
            s["illegal_content_legal_ground"] = pm.illegal_content_legal_ground
            s["illegal_content_explanation"] = pm.illegal_content_explanation
        else:
            s["incompatible_content_ground"] = pm.incompatible_content_ground
            s["incompatible_content_explanation"] = pm.incompatible_content_explanation
            if pm.incompatible_content_illegal:
                s["incompatible_content_illegal"] = pm.incompatible_content_illegal
        if pm.decision_ground_reference_url:
            s["decision_ground_reference_url"] = pm.decision_ground_reference_url
        if pm.category_addition:
            s["category_addition"] = list(pm.category_addition)
        if pm.category_specification:
            s["category_specification"] = list(pm.category_specification)
        if pm.category_specification_other:
            s["category_specification_other"] = pm.category_specification_other
        s["territorial_scope"] = list(pm.territorial_scope)
    s["content_type"], other = content_types(facts)
    if other:
        s["content_type_other"] = other
    language = content_language(facts.subject_language)
    if language:
        s["content_language"] = language
    s["content_date"] = content_date(facts)
    s["application_date"] = application.isoformat()
    s["decision_facts"] = facts.decision_facts
    s["source_type"] = source_type(facts.reporter_kinds)
    if s["source_type"] == v.SOURCE_TRUSTED_FLAGGER and facts.flagger_names:
        # The organisation, never a person: the schema's source_identity (users' notices get none).
        s["source_identity"] = "; ".join(facts.flagger_names)[:v.MAX_SHORT_TEXT]
    if facts.account_type:
        s["account_type"] = facts.account_type
    s["automated_detection"] = "Yes" if facts.automated_detection else "No"
    s["automated_decision"] = v.AUTOMATED_FULLY if facts.automated_decision else v.NOT_AUTOMATED
    s["puid"] = puid
    return s, merge_errors(problems, check_payload(s, identifiers=facts.identifiers))


def check_payload(payload: dict[str, Any], *, identifiers=()) -> Errors:
    """The schema's rules and the personal-data check, as one {field: [reasons]}."""
    errors = validate_statement(payload)
    for path, found in personal_data_problems(payload, identifiers=identifiers, skip={"puid"}).items():
        errors.setdefault(path.split(".")[0], []).append("contains personal data: " + ", ".join(found))
    return errors


def merge_errors(first: Errors, second: Errors) -> Errors:
    out = {k: list(reasons) for k, reasons in first.items()}
    for k, reasons in second.items():
        for reason in reasons:
            if reason not in out.setdefault(k, []):
                out[k].append(reason)
    return out
