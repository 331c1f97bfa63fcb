"""The witness anchor sink: every audit checkpoint is POSTed, signed, to
AUDIT_WITNESS_URL, in number order, through the webhook outbox
(docs/security.md).

The checkpoint table is the outbox here: `witness_enqueue` moves the
witness's cursor (audit.anchors) over new checkpoints and, in the same
transaction, turns each into a WebhookEvent and a WebhookDelivery of the one
witness endpoint (purpose `audit_witness`). From there the webhook sender
does what it does for platforms: one sender at a time under a lease, an
attempt counted by compare-and-swap, no transaction open during HTTP,
exponential back-off with jitter, every attempt logged (the admin shows
them), and a worker killed mid-attempt loses nothing (its lease runs out).
The deliveries share one stream ("audit:checkpoints", seq = the number), so
the sender's ordering rule sends checkpoint n+1 only after n was
acknowledged. Unlike a webhook, a witness delivery is never dead-lettered
and the endpoint never paused (`sender.record(give_up=False)`): a gap in the
anchors is what the witness exists to prevent.

The URL and the secret are read from the settings at send time, not from
the endpoint row, which only shows them.

Body (JSON): {"type": "audit.checkpoint", "checkpoint": {number, created_at,
prev_hash, hash, key_id, streams}}; headers Quorum-Signature,
Quorum-Event-Id `audit-checkpoint-<number>`, Quorum-Event-Type
`audit.checkpoint`. The witness keeps each body (a JSON line per checkpoint
is what `verify_audit --anchors` reads).
"""

import json
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from audit.anchors import WITNESS_SINK, anchor_cursor_drain
from audit.models import AuditCheckpoint

from .models import DeliveryState, EndpointPurpose, WebhookDelivery, WebhookEndpoint, WebhookEvent
from .webhooks import sender

WITNESS_STREAM = "audit:checkpoints"
WITNESS_EVENT_TYPE = "audit.checkpoint"


def witness_body(checkpoint: AuditCheckpoint) -> bytes:
    return json.dumps({"type": WITNESS_EVENT_TYPE, "checkpoint": checkpoint.anchor_record()},
                      sort_keys=True, separators=(",", ":")).encode("utf-8")


def witness_event_id(number: int) -> str:
    # Lets the witness de-duplicate a checkpoint delivered twice (a retry after a lost answer).
    return f"audit-checkpoint-{number}"


def witness_endpoint() -> WebhookEndpoint | None:
    """The witness endpoint, created on first use and kept in step with the
    settings (active exactly while AUDIT_WITNESS_URL is set); None when no
    witness is configured and none ever was."""
    url = settings.AUDIT_WITNESS_URL
    endpoint = WebhookEndpoint.objects.filter(purpose=EndpointPurpose.AUDIT_WITNESS).first()
    now = timezone.now()
    if endpoint is None:
        if not url:
            return None
        WebhookEndpoint.objects.bulk_create([WebhookEndpoint(
            purpose=EndpointPurpose.AUDIT_WITNESS, source=None, url=url, event_types=[WITNESS_EVENT_TYPE],
            description="audit witness (AUDIT_WITNESS_URL)", secret="", created_at=now, updated_at=now)],
            ignore_conflicts=True)  # two first callers at once: one row (webhook_endpoint_one_witness)
        return WebhookEndpoint.objects.get(purpose=EndpointPurpose.AUDIT_WITNESS)
    active = bool(url)
    if endpoint.active != active or (active and endpoint.url != url):
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=active, url=url or endpoint.url, updated_at=now)
        endpoint.refresh_from_db()
    return endpoint


def witness_enqueue(*, batch: int = 1000) -> int:
    """Turns the checkpoints after the witness's cursor into deliveries and
    moves the cursor, in one transaction under the cursor's row lock (two
    callers never enqueue a checkpoint twice; the delivery is also unique per
    endpoint and event). Returns how many were enqueued. Does nothing while
    no witness is configured: the cursor waits, and a witness configured
    later receives every checkpoint from the first one it has not had."""
    endpoint = witness_endpoint()
    if endpoint is None or not endpoint.active:
        return 0
    return anchor_cursor_drain(WITNESS_SINK, lambda checkpoints: _deliver(endpoint, checkpoints), batch=batch)


def _deliver(endpoint: WebhookEndpoint, checkpoints: list[AuditCheckpoint]) -> None:
    WebhookEvent.objects.bulk_create([
        WebhookEvent(public_id=witness_event_id(cp.number), audit_event=None, type=WITNESS_EVENT_TYPE, case_id=None,
                     stream=WITNESS_STREAM, seq=cp.number, body=witness_body(cp).decode("utf-8"),
                     created_at=cp.created_at)
        for cp in checkpoints], ignore_conflicts=True)
    events = dict(WebhookEvent.objects.filter(public_id__in=[witness_event_id(cp.number) for cp in checkpoints])
                  .values_list("seq", "pk"))
    now = timezone.now()
    WebhookDelivery.objects.bulk_create([
        WebhookDelivery(endpoint=endpoint, event_id=events[cp.number], stream=WITNESS_STREAM, seq=cp.number,
                        state=DeliveryState.PENDING, next_attempt_at=now, created_at=now)
        for cp in checkpoints], ignore_conflicts=True)


def witness_acknowledged(numbers: set[int]) -> dict[int, datetime] | None:
    """{checkpoint number: when the witness acknowledged it} for `numbers`;
    None when no witness is configured. (audit.evidence asks, for the
    console's per-case verification.)"""
    if not settings.AUDIT_WITNESS_URL:
        return None
    rows = WebhookDelivery.objects.filter(
        endpoint__purpose=EndpointPurpose.AUDIT_WITNESS, state=DeliveryState.SUCCEEDED, seq__in=list(numbers)
    ).values_list("seq", "delivered_at")
    return {seq: at for seq, at in rows if at is not None}  # a success always has its time (sender.record)


def witness_send(*, max_seconds: float | None = None) -> int:
    """Enqueues new checkpoints, then runs the witness's sender once (as the
    webhook tick's sender task would). Returns how many deliveries it
    attempted (0 when another sender holds the endpoint, nothing is due or
    there is no witness)."""
    witness_enqueue()
    endpoint = witness_endpoint()
    if endpoint is None or not endpoint.active:
        return 0
    return sender.send_endpoint(endpoint.pk, max_seconds=max_seconds) or 0
