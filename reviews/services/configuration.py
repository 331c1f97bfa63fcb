"""Configuration of the review process as services: outcomes, routing rules
and draft workflow versions. Each saves in a transaction, locks the row it
changes and records an audit event with a before/after diff on the
configuration stream. Publishing and drafting from a version live in
`workflows` (workflow_publish, workflow_draft_from)."""

from django.db import transaction

import audit
from audit.services import CONFIG_STREAM
from cases.services import field_changes

from ..errors import NotAllowed
from ..models import Outcome, RoutingRule, StageKind, VersionState, Workflow, WorkflowVersion
from ..workflows import invalidate_routing_cache

_OUTCOME_FIELDS = ("code", "name", "description", "is_violation", "requires_approval", "time_limited", "active",
                   "position")
_RULE_FIELDS = ("position", "workflow", "policy", "queue", "jurisdiction", "min_priority", "active")


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
        "jurisdiction": rule.jurisdiction, "min_priority": rule.min_priority, "active": rule.active,
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
                                        "appeal_stage_key"])
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
            old = SlaPolicy.objects.select_for_update().select_related("policy", "calendar").filter(pk=policy.pk).first()
            before = describe(old) if old else {}
        policy.full_clean()
        policy.save()
        changes = field_changes(before, describe(policy), _SLA_FIELDS)
        if changes or not before:
            audit.record(stream=CONFIG_STREAM, action="sla_policy.changed", actor=actor, target_type="sla_policy",
                         target_id=policy.pk, data={"changes": changes, "created": not before})
        transaction.on_commit(invalidate_sla_cache)
        return policy
