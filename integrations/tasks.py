"""Celery tasks for outbound webhooks. They take ids, re-read everything and
are safe to run twice or concurrently (see webhooks.outbox and
webhooks.sender). Their schedule is in settings.CELERY_BEAT_SCHEDULE."""

import logging
import threading
import time
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.db.models import Q
from django.utils import timezone

from .models import DeliveryState, EndpointPurpose, WebhookDelivery, WebhookEvent
from .webhooks import outbox, sender

log = logging.getLogger(__name__)

# Ticks and senders are cheap to repeat and the beat repeats them every WEBHOOK_DISPATCH_SECONDS:
# no late acknowledgement (a lost one is simply the next tick), and a tick that waited too long is dropped.
_CONNECTION_TROUBLE = dict(autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, retry_backoff_max=5,
                           retry_jitter=True, max_retries=2)


def _send_expiry():
    return max(5.0, settings.WEBHOOK_DISPATCH_SECONDS * 5)


@shared_task(acks_late=False, soft_time_limit=50, time_limit=60, **_CONNECTION_TROUBLE)
def webhook_tick_task():
    """Turns new audit events into deliveries, then starts a sender for every
    endpoint with a delivery due and no sender running."""
    touched = outbox.dispatch()
    for endpoint_id in touched | sender.endpoints_with_work():
        webhook_send_task.apply_async((str(endpoint_id),), expires=_send_expiry())
    return len(touched)


@shared_task(acks_late=False, **_CONNECTION_TROUBLE)
def webhook_send_task(endpoint_id):
    return sender.send_endpoint(endpoint_id)


@shared_task(acks_late=False, soft_time_limit=300, time_limit=330)
def webhook_cleanup_task(batch=1000, max_batches=50):
    """Removes finished deliveries (with their attempt log) older than
    WEBHOOK_LOG_RETENTION_DAYS, and the rendered events nobody refers to.
    The audit witness's deliveries stay: they are the record of which
    checkpoints the witness acknowledged, and when (one a minute)."""
    cutoff = timezone.now() - timedelta(days=settings.WEBHOOK_LOG_RETENTION_DAYS)
    removed = 0
    for _ in range(max_batches):
        ids = list(WebhookDelivery.objects.filter(
            Q(state=DeliveryState.SUCCEEDED, delivered_at__lt=cutoff) | Q(state=DeliveryState.DEAD, dead_at__lt=cutoff))
            .exclude(endpoint__purpose=EndpointPurpose.AUDIT_WITNESS).values_list("pk", flat=True)[:batch])
        if not ids:
            break
        removed += WebhookDelivery.objects.filter(pk__in=ids).exclude(state=DeliveryState.PENDING).delete()[1].get(
            WebhookDelivery._meta.label, 0)
    for _ in range(max_batches):
        ids = list(WebhookEvent.objects.filter(created_at__lt=cutoff, deliveries__isnull=True)
                   .values_list("pk", flat=True)[:batch])
        if not ids or not WebhookEvent.objects.filter(pk__in=ids, deliveries__isnull=True).delete()[0]:
            break
    return removed


# ---- the kick ----------------------------------------------------------------------------------------------

_kick = {"last": 0.0, "busy": False}
_kick_lock = threading.Lock()
KICK_INTERVAL = 0.2


def kick_dispatch():
    """Queues a tick now instead of at the next beat. Called after commits
    in integrations (API writes, redeliveries, resumes). At most one every
    KICK_INTERVAL seconds per process, published from a background thread:
    a slow or unreachable broker never delays the caller."""
    now = time.monotonic()
    with _kick_lock:
        if _kick["busy"] or now - _kick["last"] < KICK_INTERVAL:
            return
        _kick["last"], _kick["busy"] = now, True
    threading.Thread(target=_publish_kick, name="webhook-kick", daemon=True).start()


def _publish_kick():
    try:
        webhook_tick_task.apply_async(expires=max(1.0, settings.WEBHOOK_DISPATCH_SECONDS), retry=False)
    except Exception as exc:  # the beat tick follows anyway
        log.info("webhook kick not published: %s", exc)
    finally:
        with _kick_lock:
            _kick["busy"] = False


# ---- the audit witness ---------------------------------------------------------------------------------------


@shared_task(acks_late=False, soft_time_limit=120, time_limit=150, **_CONNECTION_TROUBLE)
def audit_witness_task():
    """Turns new audit checkpoints into deliveries to AUDIT_WITNESS_URL
    (integrations/witness.py) and starts the witness's sender. Retries are
    the webhook tick's: it starts a sender for every endpoint with a delivery
    due, the witness included. Returns how many checkpoints were enqueued."""
    from .witness import witness_endpoint, witness_enqueue

    enqueued = witness_enqueue()
    if enqueued:
        webhook_send_task.apply_async((str(witness_endpoint().pk),), expires=_send_expiry())
    return enqueued
