"""Writes about webhook endpoints. Each runs in a transaction, locks what it
changes, saves with update_fields (the dispatcher and senders update other
columns of the same row) and records an audit event in the `config` stream.
Signing secrets are never written to the audit log."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

import audit
from audit.services import CONFIG_STREAM
from cases.errors import DomainError

from ..models import WEBHOOK_EVENT_TYPES, DeliveryState, WebhookDelivery, WebhookEndpoint
from . import signing
from .addresses import UnsafeUrl, check_url
from .outbox import initial_cursor


class WebhookInvalid(DomainError):
    """Input that is well-formed but not acceptable (a URL that may not
    receive webhooks, an unknown event type); edges answer 400 on `field`."""

    code = "invalid"


class WebhookLimit(DomainError):
    code = "webhook_limit_reached"


def kick():
    """Asks a worker to dispatch and send now, after this transaction
    commits (the beat tick would do it within WEBHOOK_DISPATCH_SECONDS)."""
    from ..tasks import kick_dispatch

    transaction.on_commit(kick_dispatch)


def _check_url(url):
    try:
        check_url(url)
    except UnsafeUrl as exc:
        raise WebhookInvalid(str(exc), code=UnsafeUrl.code, field="url") from None
    return url


def _check_event_types(event_types):
    event_types = list(dict.fromkeys(event_types))
    unknown = [t for t in event_types if t not in WEBHOOK_EVENT_TYPES]
    if unknown:
        raise WebhookInvalid(f"unknown event type(s) {', '.join(map(str, unknown))}; valid: {', '.join(WEBHOOK_EVENT_TYPES)}",
                             field="event_types")
    if not event_types:
        raise WebhookInvalid("subscribe to at least one event type", field="event_types")
    return event_types


def _record(endpoint, actor, change, **data):
    audit.record(stream=CONFIG_STREAM, action="webhook_endpoint.changed", actor=actor, target_type="webhook_endpoint",
                 target_id=endpoint.pk, data={"change": change, "source_id": str(endpoint.source_id), **data})


def webhook_endpoint_create(*, source, url, actor, event_types=None, description="", active=True,
                            created_by_client=None):
    """Creates an endpoint for `source`'s events; it receives what happens
    from now on. Returns (endpoint, secret): the signing secret is shown once
    (only the endpoint's owner and Quorum's signer need it)."""
    _check_url(url)
    event_types = _check_event_types(list(WEBHOOK_EVENT_TYPES) if event_types is None else event_types)
    secret = signing.new_secret()
    now = timezone.now()
    cursor_xid, cursor_event_id = initial_cursor()  # before the transaction: see outbox.watermark()
    with transaction.atomic():
        # Serializes creations per source, so the limit holds under concurrency.
        type(source).objects.select_for_update().filter(pk=source.pk).first()
        if WebhookEndpoint.objects.filter(source=source).count() >= settings.WEBHOOK_MAX_ENDPOINTS_PER_SOURCE:
            raise WebhookLimit(f"a source can have at most {settings.WEBHOOK_MAX_ENDPOINTS_PER_SOURCE} webhook endpoints")
        endpoint = WebhookEndpoint.objects.create(
            source=source, created_by_client=created_by_client, url=url, description=description,
            event_types=event_types, active=active, secret=secret, cursor_xid=cursor_xid,
            cursor_event_id=cursor_event_id, created_at=now, updated_at=now)
        _record(endpoint, actor, "created", url=url, event_types=event_types, active=active)
    return endpoint, secret


_UNSET = object()


def webhook_endpoint_update(*, endpoint_id, actor, url=_UNSET, event_types=_UNSET, description=_UNSET, active=_UNSET,
                            resume=False):
    """Changes what is given. Deactivating stops deliveries (events that
    happen meanwhile are not sent later); re-activating starts from the
    present. `resume=True` un-pauses a paused endpoint: the events it missed
    while paused are delivered, in order."""
    changes = {}
    if url is not _UNSET:
        changes["url"] = _check_url(url)
    if event_types is not _UNSET:
        changes["event_types"] = _check_event_types(event_types)
    if description is not _UNSET:
        changes["description"] = description
    start = initial_cursor() if active is True else None  # before the transaction: see outbox.watermark()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        before = {name: getattr(endpoint, name) for name in ("url", "event_types", "description", "active", "paused_at")}
        if active is not _UNSET and active != endpoint.active:
            changes["active"] = active
            if active:
                changes["cursor_xid"], changes["cursor_event_id"] = start
        if resume and endpoint.paused_at is not None:
            changes.update(paused_at=None, pause_reason="", consecutive_failures=0, failing_since=None)
        changes = {k: v for k, v in changes.items() if getattr(endpoint, k) != v}
        if not changes:
            return endpoint
        for name, value in changes.items():
            setattr(endpoint, name, value)
        endpoint.updated_at = timezone.now()
        endpoint.save(update_fields=[*changes, "updated_at"])
        shown = {k: [_plain(before[k]), _plain(v)] for k, v in changes.items() if k in before}
        _record(endpoint, actor, "resumed" if set(shown) == {"paused_at"} else "changed", fields=shown)
        if endpoint.active and endpoint.paused_at is None:
            kick()
    return endpoint


def _plain(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def webhook_endpoint_delete(*, endpoint_id, actor):
    """Deletes the endpoint with its deliveries and their log. Idempotent."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id).first()
        if endpoint is None:
            return
        _record(endpoint, actor, "deleted", url=endpoint.url)
        endpoint.delete()


def webhook_secret_rotate(*, endpoint_id, actor, overlap_seconds=None):
    """Issues a new signing secret (returned once). Until the overlap ends
    (WEBHOOK_SECRET_OVERLAP_SECONDS by default; 0 ends it now) the previous
    secret signs too, so receivers can switch without losing a request.
    Returns (endpoint, secret)."""
    overlap = settings.WEBHOOK_SECRET_OVERLAP_SECONDS if overlap_seconds is None else overlap_seconds
    if overlap < 0:
        raise WebhookInvalid("the overlap cannot be negative", field="overlap_seconds")
    secret = signing.new_secret()
    now = timezone.now()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        endpoint.previous_secret = endpoint.secret if overlap else ""
        endpoint.previous_secret_expires_at = now + timedelta(seconds=overlap) if overlap else None
        endpoint.secret = secret
        endpoint.updated_at = now
        endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
        _record(endpoint, actor, "secret_rotated", previous_secret_expires_at=_plain(endpoint.previous_secret_expires_at))
    return endpoint, secret


def _redeliver(deliveries, now):
    return deliveries.exclude(state=DeliveryState.PENDING).update(
        state=DeliveryState.PENDING, next_attempt_at=now, lease_until=None, first_attempt_at=None, delivered_at=None,
        dead_at=None)


def webhook_redeliver(*, delivery_id, actor):
    """Sends one event again (whatever became of it), with a fresh retry
    window. A delivery still pending is left as it is. Returns True when it
    was queued again."""
    now = timezone.now()
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().select_related("endpoint", "event").get(pk=delivery_id)
        if delivery.state == DeliveryState.PENDING:
            return False
        _redeliver(WebhookDelivery.objects.filter(pk=delivery.pk), now)
        _record(delivery.endpoint, actor, "redelivery", event_id=delivery.event.public_id, deliveries=1)
        kick()
    return True


def webhook_redeliver_dead(*, endpoint_id, actor):
    """Sends every dead-lettered event of the endpoint again, in their
    order per case. Returns how many."""
    now = timezone.now()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        count = _redeliver(WebhookDelivery.objects.filter(endpoint=endpoint, state=DeliveryState.DEAD), now)
        if count:
            _record(endpoint, actor, "redelivery", dead_lettered=True, deliveries=count)
            kick()
    return count
