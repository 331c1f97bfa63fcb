import hashlib
import secrets

from django.db import transaction
from django.utils import timezone

import audit
from audit.services import CONFIG_STREAM
from cases.models import Source

from .models import SCOPES, ApiClient

KEY_PREFIX = "qrm_"


class ScopeError(ValueError):
    pass


def hash_key(key):
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_key(key):
    """Returns the lookup prefix of a well-formed key, else None."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    rest = key[len(KEY_PREFIX):]
    prefix, sep, secret = rest.partition("_")
    if not sep or len(prefix) != 12 or not secret:
        return None
    return prefix


def api_client_create(*, name, scopes, actor, source_name=None, rate_per_second=None, burst=None):
    """Creates an API client (and its source if new). Returns (client, key);
    the key is shown once and only its hash is kept."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ScopeError(f"unknown scope(s) {', '.join(unknown)}; valid: {', '.join(sorted(SCOPES))}")
    prefix = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        source, _ = Source.objects.get_or_create(name=source_name or name)
        client = ApiClient(name=name, source=source, key_prefix=prefix, key_hash=hash_key(key), scopes=sorted(set(scopes)))
        if rate_per_second is not None:
            client.rate_per_second = rate_per_second
        if burst is not None:
            client.burst = burst
        client.full_clean()
        client.save(force_insert=True)
        audit.record(
            stream=CONFIG_STREAM, action="api_client.created", actor=actor, target_type="api_client",
            target_id=client.pk, data={"name": name, "source": source.name, "scopes": client.scopes,
                                       "rate_per_second": client.rate_per_second, "burst": client.burst},
        )
    return client, key


def api_client_revoke(*, client_id, actor):
    """Disables a client; a revoked client never authenticates again. Idempotent."""
    with transaction.atomic():
        client = ApiClient.objects.select_for_update().get(pk=client_id)
        if not client.active:
            return client
        client.active = False
        client.revoked_at = timezone.now()
        client.save(update_fields=["active", "revoked_at"])
        audit.record(stream=CONFIG_STREAM, action="api_client.revoked", actor=actor, target_type="api_client",
                     target_id=client.pk, data={"name": client.name})
    return client


def api_client_update(*, client_id, actor, scopes=None, rate_per_second=None, burst=None):
    """Changes a client's scopes and/or rate limits (None: unchanged) and
    records `api_client.rescoped` with the old and new values. A call that
    changes nothing records nothing. Takes effect everywhere within the key
    cache's lifetime (2 s)."""
    if scopes is not None:
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown:
            raise ScopeError(f"unknown scope(s) {', '.join(unknown)}; valid: {', '.join(sorted(SCOPES))}")
        scopes = sorted(set(scopes))
    with transaction.atomic():
        client = ApiClient.objects.select_for_update().get(pk=client_id)
        wanted = {"scopes": scopes, "rate_per_second": rate_per_second, "burst": burst}
        changes = {field: {"from": getattr(client, field), "to": value} for field, value in wanted.items()
                   if value is not None and getattr(client, field) != value}
        if not changes:
            return client
        for field, change in changes.items():
            setattr(client, field, change["to"])
        client.full_clean()
        client.save(update_fields=list(changes))
        audit.record(stream=CONFIG_STREAM, action="api_client.rescoped", actor=actor, target_type="api_client",
                     target_id=client.pk, data={"name": client.name, "changes": changes})
    return client
