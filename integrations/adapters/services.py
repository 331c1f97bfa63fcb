"""Writes of adapter configurations. Each runs in a transaction and records
an audit event on the configuration stream; the secret itself is never
written to the audit log."""

import re

from django.db import transaction

import audit
from audit.models import AuditAction
from audit.services import CONFIG_STREAM
from cases.models import Policy

from . import registry
from .models import AdapterConfig, MappingKind, PolicyMapping

MIN_SECRET_LENGTH = 12
_SECRET = re.compile(r"^[\x21-\x7e]+$")


class AdapterConfigError(ValueError):
    pass


def check_secret(secret):
    """Mastodon refuses webhook secrets under 12 characters; so does Quorum,
    for every platform."""
    if not isinstance(secret, str) or not MIN_SECRET_LENGTH <= len(secret) <= 255 or not _SECRET.match(secret):
        raise AdapterConfigError(
            f"the webhook secret must be {MIN_SECRET_LENGTH}–255 printable ASCII characters without spaces")
    return secret


def _check_platform(platform):
    if registry.get(platform) is None:
        valid = ", ".join(a.platform for a in registry.all_adapters())
        raise AdapterConfigError(f"unknown platform {platform!r}; valid: {valid}")


def _check_mappings(mappings):
    out = {}
    for kind, value, policy in mappings:
        if kind not in MappingKind.values:
            raise AdapterConfigError(f"unknown mapping kind {kind!r}; valid: {', '.join(MappingKind.values)}")
        value = str(value).strip()
        if not value or len(value) > 100:
            raise AdapterConfigError("a mapped value must be 1–100 characters")
        if not isinstance(policy, Policy):
            raise AdapterConfigError(f"{kind} {value}: not a policy")
        out[(kind, value)] = policy
    return out


def _record(config, actor, change, **data):
    audit.record(stream=CONFIG_STREAM, action=AuditAction.ADAPTER_CONFIG_CHANGED, actor=actor,
                 target_type="adapter_config", target_id=config.pk,
                 data={"change": change, "platform": config.platform, "api_client": config.api_client.name, **data})


def _mapping_data(config):
    return sorted([m.kind, m.value, m.policy.code] for m in config.policy_mappings.select_related("policy"))


def default_mappings(platform):
    """The adapter's default (kind, value, Policy) rows whose policies exist."""
    adapter = registry.get(platform)
    policies = {p.code: p for p in Policy.objects.filter(code__in=set(adapter.default_mappings.values()))}
    return [(kind, value, policies[code]) for (kind, value), code in adapter.default_mappings.items()
            if code in policies]


def adapter_config_create(*, api_client, platform, webhook_secret, actor, mappings=None):
    """Connects `api_client` to `platform`'s webhooks. `mappings`, a list of
    (kind, value, Policy), overrides the adapter's defaults value by value."""
    _check_platform(platform)
    check_secret(webhook_secret)
    with transaction.atomic():
        if AdapterConfig.objects.filter(api_client=api_client, platform=platform).exists():
            raise AdapterConfigError(f"{api_client.name} already has a {platform} configuration")
        config = AdapterConfig(api_client=api_client, platform=platform, webhook_secret=webhook_secret)
        config.save(force_insert=True)
        rows = _check_mappings(default_mappings(platform))
        rows.update(_check_mappings(mappings or []))
        PolicyMapping.objects.bulk_create(
            [PolicyMapping(config=config, kind=kind, value=value, policy=policy)
             for (kind, value), policy in sorted(rows.items())])
        _record(config, actor, "created", mappings=_mapping_data(config))
    return config


def adapter_config_update(*, config_id, actor, webhook_secret=None, active=None):
    """Replaces the secret and/or (de)activates. Idempotent: no change, no event."""
    if webhook_secret is not None:
        check_secret(webhook_secret)
    with transaction.atomic():
        config = AdapterConfig.objects.select_for_update().select_related("api_client").get(pk=config_id)
        changed, data = [], {}
        if webhook_secret is not None and webhook_secret != config.webhook_secret:
            config.webhook_secret = webhook_secret
            changed.append("webhook_secret")
            data["secret_replaced"] = True
        if active is not None and active != config.active:
            config.active = active
            changed.append("active")
            data["active"] = active
        if changed:
            config.save(update_fields=[*changed, "updated_at"])
            _record(config, actor, "updated", **data)
    return config


def adapter_mappings_set(*, config_id, mappings, actor):
    """Makes `mappings` (a list of (kind, value, Policy)) the configuration's
    whole mapping. Idempotent."""
    rows = _check_mappings(mappings)
    with transaction.atomic():
        config = AdapterConfig.objects.select_for_update().select_related("api_client").get(pk=config_id)
        before = _mapping_data(config)
        after = sorted([kind, value, policy.code] for (kind, value), policy in rows.items())
        if before == after:
            return config
        config.policy_mappings.all().delete()
        PolicyMapping.objects.bulk_create(
            [PolicyMapping(config=config, kind=kind, value=value, policy=policy)
             for (kind, value), policy in sorted(rows.items())])
        config.save(update_fields=["updated_at"])
        _record(config, actor, "mappings_changed", before=before, after=after)
    return config
