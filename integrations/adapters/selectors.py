from django.db.models import Prefetch

from cases.selectors import active_policies

from .base import PolicyMap
from .models import AdapterConfig, PolicyMapping

FALLBACK_POLICY = "other"


def adapter_config_for(*, platform, client_name):
    """The active configuration of `platform` for the API client named
    `client_name` (with its client, source and mappings), or None. Two queries."""
    if "\x00" in client_name or len(client_name) > 100:
        return None
    return (
        AdapterConfig.objects.filter(platform=platform, api_client__name=client_name, active=True)
        .select_related("api_client__source")
        .prefetch_related(Prefetch("policy_mappings", queryset=PolicyMapping.objects.select_related("policy")))
        .first()
    )


def policy_map(config):
    """The configuration's PolicyMap. Unmapped values fall back to the policy
    `other` (None if that is inactive: the adapter then uses its defaults)."""
    entries = {(m.kind, m.value): m.policy for m in config.policy_mappings.all()}
    return PolicyMap(entries, fallback=active_policies().get(FALLBACK_POLICY))
