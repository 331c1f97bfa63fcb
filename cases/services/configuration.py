"""Configuration saved from the admin and commands: policies, queues,
re-review rules, sources. Each save is audited with a before/after diff on
the configuration stream and clears the configuration cache on commit."""

from django.db import transaction

import audit
from audit.context import Actor
from audit.services import CONFIG_STREAM

from ..models import Policy, Queue, RereviewRule, Source
from ..selectors import invalidate_configuration_cache

_POLICY_FIELDS = ("code", "name", "description", "severity", "dsa_category", "active")
_QUEUE_FIELDS = ("slug", "name", "description", "is_default")


def field_changes(before, after, names):
    """{field: [before, after]} for the fields that differ: the audit diff of a configuration change."""
    return {n: [before.get(n), after.get(n)] for n in names if before.get(n) != after.get(n)}


def policy_save(*, policy, actor):
    """Creates or updates a policy (from the admin or a command), audited with
    a before/after diff on the configuration stream."""
    with transaction.atomic():
        before = {}
        if policy.pk:
            old = Policy.objects.select_for_update().filter(pk=policy.pk).values(*_POLICY_FIELDS).first()
            before = old or {}
        policy.full_clean()
        policy.save()
        after = {n: getattr(policy, n) for n in _POLICY_FIELDS}
        changes = field_changes(before, after, _POLICY_FIELDS)
        transaction.on_commit(invalidate_configuration_cache)
        if changes:
            audit.record(stream=CONFIG_STREAM, action="policy.changed", actor=actor, target_type="policy",
                         target_id=policy.code, data={"changes": changes, "created": not before})
        return policy


def queue_save(*, queue, actor, policies=None, restricted_to=None):
    """Creates or updates a queue and, when given, the policies that feed it
    and the groups it is restricted to (cases.visibility; an empty list
    lifts the restriction). Audits "queue.changed"; a change of the
    restriction is recorded as {"restricted_to": [before, after]} by group
    name in the changes."""
    with transaction.atomic():
        before = {}
        if queue.pk:
            before = Queue.objects.select_for_update().filter(pk=queue.pk).values(*_QUEUE_FIELDS).first() or {}
        queue.full_clean()
        queue.save()
        data = {"changes": field_changes(before, {n: getattr(queue, n) for n in _QUEUE_FIELDS}, _QUEUE_FIELDS),
                "created": not before}
        transaction.on_commit(invalidate_configuration_cache)
        if policies is not None:
            queue.policies.set(policies)
            data["policies"] = sorted(p.code for p in policies)
        if restricted_to is not None:
            old_groups = sorted(queue.restricted_to.values_list("name", flat=True)) if before else []
            queue.restricted_to.set(restricted_to)
            new_groups = sorted(g.name for g in restricted_to)
            if old_groups != new_groups:
                data["changes"]["restricted_to"] = [old_groups, new_groups]
            data["restricted_to"] = new_groups
        audit.record(stream=CONFIG_STREAM, action="queue.changed", actor=actor, target_type="queue",
                     target_id=queue.slug, data=data)
        return queue


_RULE_FIELDS = ("policy", "on_more_severe", "on_trusted_flagger", "on_content_change", "new_reporters", "window_hours")


def _rule_values(rule):
    return {"policy": rule.policy.code if rule.policy_id else None,
            **{n: getattr(rule, n) for n in _RULE_FIELDS if n != "policy"}}


def rereview_rule_save(*, rule: RereviewRule, actor: Actor) -> RereviewRule:
    """Creates or updates a re-review rule (admin), validated, audited with a
    before/after diff on the configuration stream; intake sees it within
    the configuration cache's few seconds."""
    with transaction.atomic():
        before = {}
        if rule.pk:
            old = RereviewRule.objects.select_for_update(of=("self",)).select_related("policy").filter(pk=rule.pk).first()
            before = _rule_values(old) if old else {}
        rule.full_clean()
        rule.save()
        changes = field_changes(before, _rule_values(rule), _RULE_FIELDS)
        transaction.on_commit(invalidate_configuration_cache)
        if changes:
            audit.record(stream=CONFIG_STREAM, action="routing_rule.changed", actor=actor, target_type="rereview_rule",
                         target_id=rule.policy.code if rule.policy_id else "default",
                         data={"rule": "rereview", "changes": changes, "created": not before})
        return rule


def rereview_rule_delete(*, rule: RereviewRule, actor: Actor) -> None:
    """Removes a rule: its policy falls back to the default rule (audited)."""
    with transaction.atomic():
        values = _rule_values(rule)
        RereviewRule.objects.filter(pk=rule.pk).delete()
        transaction.on_commit(invalidate_configuration_cache)
        audit.record(stream=CONFIG_STREAM, action="routing_rule.changed", actor=actor, target_type="rereview_rule",
                     target_id=values["policy"] or "default", data={"rule": "rereview", "deleted": values})


def source_get_or_create(*, name, actor):
    with transaction.atomic():
        source, created = Source.objects.get_or_create(name=name)
        return source


