"""Configuration of the review process as services: outcomes, routing rules
and draft workflow versions. Each saves in a transaction, locks the row it
changes and records an audit event with a before/after diff on the
configuration stream. Publishing and drafting from a version live in
`workflows` (workflow_publish, workflow_draft_from)."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction

import audit
from audit.services import CONFIG_STREAM
from cases.services import field_changes

from ..errors import NotAllowed
from ..models import Outcome, RoutingRule, StageKind, VersionState, Workflow, WorkflowVersion
from ..workflows import invalidate_routing_cache

_OUTCOME_FIELDS = ("code", "name", "description", "is_violation", "requires_approval", "requires_public_explanation",
                   "time_limited",
                   "approval_over_days", "active",
                   "position")
_RULE_FIELDS = ("position", "workflow", "policy", "queue", "jurisdiction", "min_priority", "signal", "active")


def outcome_problems(outcome):
    """Why saving `outcome` would weaken a published workflow; empty when it
    is safe. Publishing refuses an outcome that requires approval in a
    version without an approval stage; switching `requires_approval` on
    afterwards must not silently skip the four-eyes check on such a version."""
    if not outcome.pk or not outcome.requires_approval:
        return []
    versions = (WorkflowVersion.objects.filter(state=VersionState.PUBLISHED, approval_stage_key="",
                                               stages__allowed_outcomes=outcome)
                .exclude(stages__kind=StageKind.APPROVAL).select_related("workflow").distinct().order_by("workflow__slug"))
    return [f"{v.workflow.slug} v{v.number} allows {outcome.code} but has no approval stage: publish a version with one "
            "first" for v in versions]


def outcome_save(*, outcome, actor):
    """Creates or updates an outcome. Requires a valid outcome that leaves no
    published version allowing it without the approval stage it would need
    (raises NotAllowed). Audits "outcome.changed" with the changed fields as
    {field: [before, after]}; a save that changes nothing records nothing."""
    with transaction.atomic():
        before = {}
        if outcome.pk:
            before = Outcome.objects.select_for_update().filter(pk=outcome.pk).values(*_OUTCOME_FIELDS).first() or {}
        outcome.full_clean()
        problems = outcome_problems(outcome)
        if problems:
            raise NotAllowed("; ".join(problems))
        outcome.save()
        changes = field_changes(before, {n: getattr(outcome, n) for n in _OUTCOME_FIELDS}, _OUTCOME_FIELDS)
        if changes or not before:
            audit.record(stream=CONFIG_STREAM, action="outcome.changed", actor=actor, target_type="outcome",
                         target_id=outcome.code, data={"changes": changes, "created": not before})
        return outcome


def _describe_rule(rule):
    """The rule with its references by their stable codes (for audit diffs)."""
    return {
        "position": rule.position, "workflow": rule.workflow.slug,
        "policy": rule.policy.code if rule.policy_id else None, "queue": rule.queue.slug if rule.queue_id else None,
        "jurisdiction": rule.jurisdiction, "min_priority": rule.min_priority, "signal": rule.signal,
        "active": rule.active,
    }


def routing_rule_save(*, rule, actor):
    """Creates or updates a routing rule. Audits "routing_rule.changed" with
    the changed fields (workflow, policy and queue by slug/code) and, after
    commit, drops this process's routing cache so new cases see the rule."""
    with transaction.atomic():
        before = {}
        if rule.pk:
            old = (RoutingRule.objects.select_for_update(of=("self",)).select_related("workflow", "policy", "queue")
                   .filter(pk=rule.pk).first())
            before = _describe_rule(old) if old else {}
        rule.full_clean()
        rule.save()
        changes = field_changes(before, _describe_rule(rule), _RULE_FIELDS)
        if changes or not before:
            audit.record(stream=CONFIG_STREAM, action="routing_rule.changed", actor=actor, target_type="routing_rule",
                         target_id=str(rule.pk), data={"changes": changes, "created": not before})
        transaction.on_commit(invalidate_routing_cache)
        return rule


def workflow_draft_save(*, version, actor):
    """Saves a draft version's own fields; a new draft gets the next number
    of its workflow and is audited like a copied draft. Requires the stored
    version to still be a draft (raises NotAllowed otherwise: published and
    superseded versions never change, cases run on them). The draft is
    locked until the caller's transaction ends, so stage edits made in the
    same transaction cannot race a publish. Drafts are not audited field by
    field: publishing records the whole definition before and after."""
    with transaction.atomic():
        if version.pk:
            stored = WorkflowVersion.objects.select_for_update().get(pk=version.pk)
            if stored.state != VersionState.DRAFT:
                raise NotAllowed(f"version {stored.number} is {stored.state}; only a draft can be edited "
                                 "(create a new draft from it)")
            version.state = VersionState.DRAFT
            version.full_clean()
            version.save(update_fields=["first_stage_key", "approval_stage_key", "escalation_stage_key",
                                        "appeal_stage_key", "final_appeal_stage_key"])
            return version
        workflow = Workflow.objects.select_for_update().get(pk=version.workflow_id)
        version.number = (workflow.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
        version.state = VersionState.DRAFT
        version.published_at = None
        version.full_clean()
        version.save()
        audit.record(stream=CONFIG_STREAM, action="workflow.draft_created", actor=actor, target_type="workflow",
                     target_id=workflow.slug, data={"version": version.number, "copied_from": None})
        return version


def workflow_draft_lock(*, version):
    """Locks the stored `version` until the caller's transaction ends and
    returns it; raises NotAllowed unless it is a draft. Call it before
    writing a draft's stages so that they cannot change under a publish."""
    stored = WorkflowVersion.objects.select_for_update().get(pk=version.pk)
    if stored.state != VersionState.DRAFT:
        raise NotAllowed(f"version {stored.number} is {stored.state}; its stages cannot change")
    return stored


_CALENDAR_FIELDS = ("name", "timezone", "weekly_hours", "holidays")
_SLA_FIELDS = ("name", "position", "active", "policy", "stage_kind", "min_priority", "max_priority", "reporter_kind",
               "duration_seconds", "factor", "calendar", "warn_fraction")


def calendar_save(*, calendar, actor):
    """Creates or updates a business calendar after checking it parses (time
    zone, hours, holidays, and at least some opening hours). Stages opened
    afterwards use it; running deadlines keep theirs. Audited."""
    from django.core.exceptions import ValidationError

    from ..models import BusinessCalendar
    from ..sla import invalidate_sla_cache

    with transaction.atomic():
        before = {}
        if calendar.pk:
            before = BusinessCalendar.objects.select_for_update().filter(pk=calendar.pk).values(*_CALENDAR_FIELDS).first() or {}
        calendar.full_clean()
        try:
            calendar.as_clock()
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        calendar.save()
        changes = field_changes(before, {n: getattr(calendar, n) for n in _CALENDAR_FIELDS}, _CALENDAR_FIELDS)
        if changes or not before:
            audit.record(stream=CONFIG_STREAM, action="sla_policy.changed", actor=actor, target_type="calendar",
                         target_id=calendar.name, data={"changes": changes, "created": not before})
        transaction.on_commit(invalidate_sla_cache)
        return calendar


def sla_policy_save(*, policy, actor):
    """Creates or updates an SLA policy; applies to stages opened afterwards. Audited."""
    from ..models import SlaPolicy
    from ..sla import invalidate_sla_cache

    def describe(p):
        return {n: (str(getattr(p, n)) if n in ("policy", "calendar") and getattr(p, n) is not None else getattr(p, n))
                for n in _SLA_FIELDS}

    with transaction.atomic():
        before = {}
        if policy.pk:
            old = (SlaPolicy.objects.select_for_update(of=("self",)).select_related("policy", "calendar")
                   .filter(pk=policy.pk).first())
            before = describe(old) if old else {}
        policy.full_clean()
        policy.save()
        changes = field_changes(before, describe(policy), _SLA_FIELDS)
        if changes or not before:
            audit.record(stream=CONFIG_STREAM, action="sla_policy.changed", actor=actor, target_type="sla_policy",
                         target_id=policy.pk, data={"changes": changes, "created": not before})
        transaction.on_commit(invalidate_sla_cache)
        return policy


# ---- moderators' own platform identities (eligibility) -------------------------------

IDENTITY_CSV_COLUMNS = ("username", "source", "external_id")


def _identity_target(identity):
    return f"{identity.user.get_username()}@{identity.source.name}:{identity.external_id}"


def moderator_identity_save(*, identity, actor):
    """Creates or changes one moderator identity (which account on a source
    platform is the moderator's own: they may not review cases about it or
    reported by it). Audits "moderator_identity.changed" with before/after."""
    from ..models import ModeratorIdentity

    with transaction.atomic():
        before = None
        if identity.pk:
            old = ModeratorIdentity.objects.select_for_update().select_related("user", "source").get(pk=identity.pk)
            before = _identity_target(old)
        identity.external_id = identity.external_id.strip()
        identity.full_clean()
        identity.save()
        after = _identity_target(identity)
        if before != after:
            audit.record(stream=CONFIG_STREAM, action="moderator_identity.changed", actor=actor,
                         target_type="moderator_identity", target_id=str(identity.pk),
                         data={"before": before, "after": after})
        return identity


def moderator_identity_delete(*, identity, actor):
    with transaction.atomic():
        target = _identity_target(identity)
        pk = identity.pk
        identity.delete()
        audit.record(stream=CONFIG_STREAM, action="moderator_identity.deleted", actor=actor,
                     target_type="moderator_identity", target_id=str(pk), data={"before": target})


@dataclass(frozen=True)
class IdentityImport:
    created: int
    existing: int


def moderator_identities_import(*, rows: Iterable[dict], actor, replace_for_users: bool = False) -> IdentityImport:
    """Bulk import of moderator identities from CSV-like rows (`username`,
    `source`, `external_id`). All or nothing: any bad row (unknown user or
    source, empty or over-long id) refuses the whole import with every
    problem listed (NotAllowed, code "identity_import_invalid"). Rows already
    present are counted, not duplicated. With `replace_for_users`, the users
    named lose identities the file does not list for them. One audit event
    for the whole import, listing what was added and removed."""
    from django.contrib.auth import get_user_model

    from cases.models import Source

    from ..models import ModeratorIdentity

    users = {u.get_username(): u for u in get_user_model().objects.all()}
    sources = {s.name: s for s in Source.objects.all()}
    wanted, problems = [], []
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        username = (row.get("username") or "").strip()
        source = (row.get("source") or "").strip()
        external_id = (row.get("external_id") or "").strip()
        if username not in users:
            problems.append(f"line {line}: username: no user {username!r}")
        if source not in sources:
            problems.append(f"line {line}: source: no source {source!r}")
        if not external_id:
            problems.append(f"line {line}: external_id: empty")
        elif len(external_id) > 255:
            problems.append(f"line {line}: external_id: longer than 255 characters")
        if username in users and source in sources and external_id and len(external_id) <= 255:
            wanted.append((users[username], sources[source], external_id))
    if problems:
        raise NotAllowed("; ".join(problems[:20]), code="identity_import_invalid")
    with transaction.atomic():
        have = set(ModeratorIdentity.objects.select_for_update().filter(user__in={u for u, _, _ in wanted})
                   .values_list("user_id", "source_id", "external_id"))
        keys = {(u.pk, s.pk, e): (u, s, e) for u, s, e in wanted}
        new = [ModeratorIdentity(user=u, source=s, external_id=e) for k, (u, s, e) in keys.items() if k not in have]
        ModeratorIdentity.objects.bulk_create(new)
        removed = []
        if replace_for_users:
            stale = have - set(keys)
            for user_id, source_id, external_id in sorted(stale):
                ModeratorIdentity.objects.filter(user_id=user_id, source_id=source_id, external_id=external_id).delete()
                removed.append([user_id, source_id, external_id])
        by_pk_user = {u.pk: u.get_username() for u in users.values()}
        by_pk_source = {s.pk: s.name for s in sources.values()}
        audit.record(stream=CONFIG_STREAM, action="moderator_identity.imported", actor=actor,
                     target_type="moderator_identity", target_id="import",
                     data={"added": [f"{i.user.get_username()}@{i.source.name}:{i.external_id}" for i in new],
                           "removed": [f"{by_pk_user[u]}@{by_pk_source[s]}:{e}" for u, s, e in removed],
                           "unchanged": len(keys) - len(new)})
        return IdentityImport(created=len(new), existing=len(keys) - len(new))
