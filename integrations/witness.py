"""The witness anchor sink: every audit checkpoint is POSTed, signed, to
AUDIT_WITNESS_URL, in number order, retried with back-off until the witness
answers 2xx (docs/security.md).

It lives here, above `audit`, because it reuses the webhook machinery: the
SSRF-checked address resolution (`webhooks.addresses`), the transport that
connects to exactly the checked address with deadlines (`webhooks.transport`)
and the `Quorum-Signature` header (`webhooks.signing`). `audit.anchors` keeps
the cursor; no transaction is open during the HTTP call: one sender at a
time holds a session advisory lock, and the cursor moves by compare-and-swap.

Body (JSON): {"type": "audit.checkpoint", "checkpoint": {number, created_at,
prev_hash, hash, key_id, streams}}. The witness keeps each body (a JSON line
per checkpoint is what `verify_audit --anchors` reads).
"""

import json
import logging
import time

from django.conf import settings
from django.db import connection

from audit.anchors import WITNESS_SINK, anchor_cursor_advance, anchor_cursor_failed, anchor_cursor_pending

from .webhooks import addresses, signing, transport

log = logging.getLogger(__name__)

# pg_advisory_lock key held by the one running witness sender ("QuorumWT").
_WITNESS_LOCK_KEY = 0x51756F72756D5754
USER_AGENT = "Quorum-Witness/1"


def witness_body(checkpoint) -> bytes:
    return json.dumps({"type": "audit.checkpoint", "checkpoint": checkpoint.anchor_record()},
                      sort_keys=True, separators=(",", ":")).encode("utf-8")


def _post(body: bytes, number: int) -> transport.Result:
    try:
        target = addresses.check_url(settings.AUDIT_WITNESS_URL)
    except addresses.UnsafeUrl as exc:
        return transport.Result(status_code=None, error=f"unsafe witness URL: {exc}", response_excerpt="", duration_ms=0)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        # Lets the witness de-duplicate a checkpoint delivered twice (a retry after a lost answer).
        "Quorum-Event-Id": f"audit-checkpoint-{number}",
        signing.HEADER: signing.header_value([settings.AUDIT_WITNESS_SECRET], time.time(), body),
    }
    return transport.post(target, body, headers, connect_timeout=settings.WEBHOOK_CONNECT_TIMEOUT,
                          read_timeout=settings.WEBHOOK_READ_TIMEOUT,
                          max_response_bytes=settings.WEBHOOK_RESPONSE_MAX_BYTES)


def witness_send(*, limit: int = 100) -> int:
    """Sends the checkpoints the witness has not acknowledged, oldest first;
    stops at the first failure (recorded, with the next attempt backed off).
    Returns how many were acknowledged. Does nothing without a witness URL
    or while another sender runs."""
    if not settings.AUDIT_WITNESS_URL:
        return 0
    locked = _try_lock()
    if not locked:
        return 0
    sent = 0
    try:
        position, checkpoints = anchor_cursor_pending(WITNESS_SINK, limit=limit)
        for checkpoint in checkpoints:
            result = _post(witness_body(checkpoint), checkpoint.number)
            if not result.ok:
                error = result.error or f"HTTP {result.status_code}: {result.response_excerpt[:200]}"
                delay = anchor_cursor_failed(WITNESS_SINK, expected=position, error=error,
                                             base_seconds=settings.AUDIT_WITNESS_RETRY_BASE_SECONDS,
                                             max_seconds=settings.AUDIT_WITNESS_RETRY_MAX_SECONDS)
                log.warning("audit witness refused checkpoint %s (%s); retrying in %.1f s", checkpoint.number, error,
                            delay)
                break
            if not anchor_cursor_advance(WITNESS_SINK, expected=position, number=checkpoint.number):
                break  # someone else moved the cursor (cannot happen under the lock; be safe)
            position = checkpoint.number
            sent += 1
    finally:
        _unlock(locked)
    return sent


def _try_lock():
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_WITNESS_LOCK_KEY])
        return cursor.fetchone()[0]


def _unlock(locked):
    if connection.vendor == "postgresql" and locked:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_WITNESS_LOCK_KEY])
