"""Writes of the DSA app: the admin's mappings and reason texts (audited on
the configuration stream), statements for decisions (in the deciding
transaction, through reviews.hooks), and a lead's corrections."""

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

import audit
from audit.context import Actor
from audit.services import CONFIG_STREAM, case_stream
from cases.services import field_changes
from reviews.errors import NotAllowed
from reviews.services import decision_publish, is_lead

from . import vocabulary as v
from .models import NoticeTemplate, OutcomeMapping, PolicyMapping, PublicReason, Statement, StatementState
from .statements import build_payload, check_payload, decisions_with_facts, facts_of, restricts
from .validation import KNOWN_FIELDS

_CONFIG_FIELDS = {
    OutcomeMapping: ("outcome_id", "no_restriction", "decision_visibility", "decision_visibility_other", "decision_account",
                     "decision_provision", "decision_monetary", "decision_monetary_other"),
    PolicyMapping: ("policy_id", "category_addition", "category_specification", "category_specification_other",
                    "decision_ground", "illegal_content_legal_ground", "illegal_content_explanation",
                    "incompatible_content_ground", "incompatible_content_explanation", "incompatible_content_illegal",
                    "decision_ground_reference_url", "territorial_scope"),
    PublicReason: ("outcome_id", "policy_id", "text", "text_de"),
    NoticeTemplate: ("kind", "language", "subject", "body"),
}
_TARGET_TYPES = {OutcomeMapping: "dsa_outcome_mapping", PolicyMapping: "dsa_policy_mapping",
                 PublicReason: "public_reason", NoticeTemplate: "notice_template"}


def dsa_config_save(*, obj: models.Model, actor: Actor) -> models.Model:
    """Creates or updates an outcome mapping, policy mapping or public
    reason after validating it (full_clean: an invalid mapping is refused
    with a ValidationError naming each field). Audited as
    `dsa_mapping.changed` with a before/after diff on the config stream."""
    fields = _CONFIG_FIELDS[type(obj)]
    with transaction.atomic():
        before: dict[str, Any] = {}
        if obj.pk:
            before = type(obj).objects.select_for_update().filter(pk=obj.pk).values(*fields).first() or {}
        obj.full_clean()
        obj.save()
        after = {n: getattr(obj, n) for n in fields}
        changes = field_changes(before, after, fields)
        if changes:
            audit.record(stream=CONFIG_STREAM, action="dsa_mapping.changed", actor=actor,
                         target_type=_TARGET_TYPES[type(obj)], target_id=str(obj.pk),
                         data={"changes": changes, "created": not before})
        return obj


def dsa_config_delete(*, obj: models.Model, actor: Actor) -> None:
    fields = _CONFIG_FIELDS[type(obj)]
    with transaction.atomic():
        before = {n: getattr(obj, n) for n in fields}
        target_id = str(obj.pk)
        obj.delete()
        audit.record(stream=CONFIG_STREAM, action="dsa_mapping.changed", actor=actor,
                     target_type=_TARGET_TYPES[type(obj)], target_id=target_id,
                     data={"changes": {n: [before[n], None] for n in fields}, "deleted": True})


def public_reason_text(*, policy, outcome, language: str = "en") -> str:
    """The admins' reason text for (policy, outcome), else the outcome's
    default; "" when there is none (reviews.hooks provider)."""
    rows = {r.policy_id: r for r in PublicReason.objects.filter(outcome=outcome).filter(
        models.Q(policy=policy) | models.Q(policy__isnull=True))}
    row = rows.get(getattr(policy, "pk", None)) or rows.get(None)
    return row.in_language(language) if row else ""


def _puid(statement_id) -> str:
    return f"quorum-{statement_id}"


def _record(statement: Statement, action: str, actor: Actor, **data) -> None:
    audit.record(stream=case_stream(statement.case_id), action=action, actor=actor, target_type="statement",
                 target_id=statement.pk, data={"decision_id": str(statement.decision_id), "puid": statement.puid,
                                               "invalid_fields": sorted(statement.errors), **data})


def _publish_or_hold(statement: Statement, actor: Actor, now, **data) -> None:
    if statement.errors:
        statement.state = StatementState.HELD
        statement.published_at = None
        _record(statement, "statement.held", actor, **data)
    else:
        statement.state = StatementState.PUBLISHED
        statement.published_at = now
        _record(statement, "statement.published", actor, **data)


def statement_for_decision(*, decision, actor: Actor) -> Statement | None:
    """Builds and validates the statement of a decision that restricts
    something (reviews.hooks listener, inside the deciding transaction):
    published when it validates, else held with each field's problem for a
    lead to see and correct. One query to read what it needs."""
    row = decisions_with_facts([decision.pk]).first()
    facts = facts_of(row)
    if decision.supersedes_id:
        _withdraw_unpublished(decision=decision, actor=actor)
    if not restricts(facts):
        decision.dsa_publication_held = False
        if decision.supersedes_id:
            statement_end_superseded(decision=decision, actor=actor)
        return None
    now = timezone.now()
    statement = Statement(decision_id=decision.pk, case_id=decision.case_id, created_at=now)
    statement.puid = _puid(statement.pk)
    statement.payload, statement.errors = build_payload(facts, puid=statement.puid)
    _publish_or_hold(statement, actor, now)
    statement.save(force_insert=True)
    decision.dsa_publication_held = statement.state == StatementState.HELD
    return statement


def _withdraw_unpublished(*, decision, actor: Actor) -> None:
    """The decision this one replaces was never published (its statement was
    held): the platform never applied it, so its statement must never be
    published either — it is withdrawn (superseded, with nothing after it)."""
    held = (Statement.objects.select_for_update()
            .filter(decision_id=decision.supersedes_id, state=StatementState.HELD, decision__sequence__isnull=True)
            .first())
    if held is not None:
        held.state = StatementState.SUPERSEDED
        held.save(update_fields=["state"])
        _record(held, "statement.corrected", actor, withdrawn=True, superseded_by_decision=str(decision.pk))


def statement_end_superseded(*, decision, actor: Actor, now=None) -> Statement | None:
    """A decision that restricts nothing (an appeal or re-review that found
    no violation, or a referral) replaced a decision whose restriction has a
    published statement: that statement must not stand alone. The
    transparency database has no update, so — as for any correction — a new
    statement with its own puid `corrects` it (the old one becomes
    superseded): the same restrictions, each ending on the day they were
    lifted, and the decision facts saying so. Its publication is what the
    affected user is told (a `reversal` notice, dsa.notices) and what is
    submitted. Runs in the deciding transaction (statement_for_decision)."""
    old = (Statement.objects.select_for_update().filter(decision_id=decision.supersedes_id,
                                                        state=StatementState.PUBLISHED).first())
    if old is None:
        return None  # nothing was published (no restriction, or held and never sent)
    now = now or timezone.now()
    lifted = decision.decided_at.date().isoformat()
    payload = dict(old.payload)
    for kind, end_field in v.END_DATE_FIELDS.items():
        present = payload.get("decision_visibility") if kind == "visibility" else payload.get(f"decision_{kind}")
        if present and (payload.get(end_field) is None or payload[end_field] > lifted):
            payload[end_field] = lifted
    note = (f"\nThis decision was reversed on {lifted} ({decision.get_kind_display().lower()}): the restriction was "
            f"lifted on that day.")
    facts = str(payload.get("decision_facts") or "")
    payload["decision_facts"] = facts[:v.MAX_DECISION_FACTS - len(note)] + note
    old.state = StatementState.SUPERSEDED
    old.save(update_fields=["state"])
    statement = Statement(decision_id=old.decision_id, case_id=old.case_id, created_at=now, corrects=old)
    statement.puid = _puid(statement.pk)
    statement.payload = {**payload, "puid": statement.puid}
    statement.errors = check_payload(statement.payload, identifiers=_identifiers(old.decision_id))
    _publish_or_hold(statement, actor, now, corrects=str(old.pk), reversed_by=str(decision.pk))
    statement.save(force_insert=True)
    return statement


def decision_publication_held(*, decision) -> bool:
    """reviews.hooks publication hold: a decision whose statement of reasons
    is held is not published (feed, webhooks, outcome notices) until the
    statement validates (statement_correct / statement_rebuild)."""
    if not settings.DSA_HOLD_DECISIONS:
        return False
    held = getattr(decision, "dsa_publication_held", None)
    if held is None:
        held = Statement.objects.filter(decision_id=decision.pk, state=StatementState.HELD).exists()
    return held


def _release_decision(statement: Statement, actor: Actor) -> None:
    """A statement that now validates ends its decision's publication hold."""
    if statement.state == StatementState.PUBLISHED:
        decision_publish(decision_id=statement.decision_id, actor=actor)


# What a lead may correct: not the identity (puid), nor the facts the decision fixed (when, who reported,
# whether automation took part).
CORRECTABLE = KNOWN_FIELDS - {"puid", "application_date", "source_type", "source_identity", "automated_detection",
                              "automated_decision", "content_id"}


def statement_correct(*, statement_id, lead, changes: dict[str, Any], now=None) -> Statement:
    """A lead corrects a statement. Held: corrected in place, re-validated,
    published if it now validates. Published: a new statement that
    `corrects` it (the old one becomes superseded), published or held.
    A value of None removes the field. Audited with the changes."""
    if not is_lead(lead):
        raise NotAllowed("only a lead can correct a statement of reasons")
    unknown = sorted(set(changes) - CORRECTABLE)
    if unknown:
        raise ValidationError({name: ["cannot be corrected"] for name in unknown})
    now = now or timezone.now()
    actor = Actor.user(lead)
    with transaction.atomic(), audit.batch():
        old = Statement.objects.select_for_update().get(pk=statement_id)
        if old.state == StatementState.SUPERSEDED:
            raise NotAllowed("this statement was already corrected; correct the latest one")
        payload = {k: val for k, val in {**old.payload, **changes}.items() if val is not None}
        identifiers = _identifiers(old.decision_id)
        if old.state == StatementState.HELD:
            statement = old
            statement.payload = payload
        else:
            old.state = StatementState.SUPERSEDED
            old.save(update_fields=["state"])
            statement = Statement(decision_id=old.decision_id, case_id=old.case_id, created_at=now, corrects=old)
            statement.puid = _puid(statement.pk)
            statement.payload = {**payload, "puid": statement.puid}
        statement.errors = check_payload(statement.payload, identifiers=identifiers)
        _record(statement, "statement.corrected", actor, changes=sorted(changes),
                corrects=str(old.pk) if statement is not old else None)
        _publish_or_hold(statement, actor, now)
        statement.save()
        _release_decision(statement, actor)
        return statement


def statement_rebuild(*, statement_id, lead, now=None) -> Statement:
    """Rebuilds a held statement from the mappings as they are now (after an
    admin fixed one), keeping the lead's earlier corrections out of it."""
    if not is_lead(lead):
        raise NotAllowed("only a lead can rebuild a statement of reasons")
    now = now or timezone.now()
    with transaction.atomic(), audit.batch():
        statement = Statement.objects.select_for_update().get(pk=statement_id)
        if statement.state != StatementState.HELD:
            raise NotAllowed("only a held statement can be rebuilt; correct a published one")
        facts = facts_of(decisions_with_facts([statement.decision_id]).get())
        statement.payload, statement.errors = build_payload(facts, puid=statement.puid)
        _publish_or_hold(statement, Actor.user(lead), now, rebuilt=True)
        statement.save()
        _release_decision(statement, Actor.user(lead))
        return statement


def _identifiers(decision_id) -> list[str]:
    return facts_of(decisions_with_facts([decision_id]).get()).identifiers
