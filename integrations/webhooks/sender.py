"""Sends due deliveries: one sender per endpoint at a time, attempts in
parallel across cases, in order within a case.

Safety, as in the SLA sweeps:
- an endpoint has at most one sender: a lease on the endpoint row (token and
  expiry, compare-and-swap), renewed every round; a killed sender's lease
  runs out and the next one takes over;
- a delivery is taken with FOR UPDATE SKIP LOCKED and its attempt number is
  incremented in that same transaction, which also leases it; the result is
  recorded with a compare-and-swap on that attempt number, so no attempt is
  sent or counted twice, and a worker killed mid-attempt loses nothing: the
  lease runs out and the delivery is tried again (the receiver may see the
  event twice, with the same id: at least once);
- no transaction stays open during HTTP (an open writer would hold back the
  outbox watermark, see outbox.py).

Ordering: a delivery is taken only when no earlier event of the same case
(lower seq in the stream) is still pending for the endpoint or not yet
dispatched to it (after its cursor) — one statement, one snapshot.
"""

import functools
import logging
import queue
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

import audit
from audit.context import Actor
from audit.models import AuditEvent
from audit.services import CONFIG_STREAM

from ..models import DeliveryState, EndpointPurpose, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from . import signing, transport
from .addresses import UnsafeUrl, check_url

log = logging.getLogger(__name__)
SYSTEM = Actor.system("webhooks")


def retry_delay(attempt: int) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based):
    exponential from WEBHOOK_RETRY_BASE_SECONDS, capped, with jitter (half
    to all of it), so receivers coming back are not hit by a herd."""
    delay = min(settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** min(attempt - 1, 40), settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS)
    return delay * random.uniform(0.5, 1.0)


@dataclass
class Claimed:
    id: int
    number: int
    first_attempt_at: datetime | None
    public_id: str
    type: str
    body: str
    claimed_at: float  # time.monotonic() when the lease was taken


# ---- the endpoint's sender lease -------------------------------------------------

def _lease() -> timedelta:
    return timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)


def _acquire(endpoint_id: UUID, token: str, now: datetime) -> bool:
    free = Q(sender_lease_until__isnull=True) | Q(sender_lease_until__lt=now)
    return WebhookEndpoint.objects.filter(free, pk=endpoint_id).update(
        sender_token=token, sender_lease_until=now + _lease()) == 1


def _renew(endpoint_id: UUID, token: str, now: datetime) -> bool:
    return WebhookEndpoint.objects.filter(pk=endpoint_id, sender_token=token).update(sender_lease_until=now + _lease()) == 1


def _release(endpoint_id: UUID, token: str) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint_id, sender_token=token).update(sender_token="", sender_lease_until=None)


# ---- taking deliveries -----------------------------------------------------------

def claimable(*, now: datetime) -> QuerySet[WebhookDelivery]:
    """Deliveries that may be attempted now: due, not leased, on an active
    endpoint that is not paused, and first in line in their case."""
    earlier_pending = WebhookDelivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"), stream=OuterRef("stream"), seq__lt=OuterRef("seq"),
        state=DeliveryState.PENDING)
    undispatched = AuditEvent.objects.filter(stream=OuterRef("stream"), seq__lt=OuterRef("seq")).filter(
        Q(xid__gt=OuterRef("endpoint__cursor_xid"))
        | Q(xid=OuterRef("endpoint__cursor_xid"), id__gt=OuterRef("endpoint__cursor_event_id")))
    return (WebhookDelivery.objects
            .filter(state=DeliveryState.PENDING, next_attempt_at__lte=now, endpoint__active=True,
                    endpoint__paused_at__isnull=True)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .exclude(Exists(earlier_pending)).exclude(Exists(undispatched)))


def claim(*, endpoint_id: UUID, now: datetime, limit: int) -> list[Claimed]:
    """Leases up to `limit` claimable deliveries of the endpoint and counts
    their next attempt. Returns them as Claimed, oldest due first."""
    with transaction.atomic():
        ids = list(claimable(now=now).filter(endpoint_id=endpoint_id).order_by("next_attempt_at", "id")
                   .select_for_update(skip_locked=True, of=("self",)).values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        WebhookDelivery.objects.filter(pk__in=ids).update(
            attempts=F("attempts") + 1, lease_until=now + _lease(), last_attempt_at=now,
            first_attempt_at=Coalesce("first_attempt_at", Value(now)))
        rows = {r["pk"]: r for r in WebhookDelivery.objects.filter(pk__in=ids).values(
            "pk", "attempts", "first_attempt_at", "event__public_id", "event__type", "event__body")}
    taken = time.monotonic()
    return [Claimed(id=pk, number=rows[pk]["attempts"], first_attempt_at=rows[pk]["first_attempt_at"],
                    public_id=rows[pk]["event__public_id"], type=rows[pk]["event__type"], body=rows[pk]["event__body"],
                    claimed_at=taken) for pk in ids]


# ---- one attempt -----------------------------------------------------------------

def attempt(endpoint: WebhookEndpoint, claimed: Claimed) -> transport.Result | None:
    """Sends one claimed delivery and records the result. Checks the URL
    again first (DNS may have changed since the endpoint was saved)."""
    budget = settings.WEBHOOK_CONNECT_TIMEOUT + settings.WEBHOOK_READ_TIMEOUT
    if time.monotonic() + budget > claimed.claimed_at + settings.WEBHOOK_LEASE_SECONDS:
        return None  # its lease could run out mid-attempt: leave it to the next round
    started_at = timezone.now()
    witness = endpoint.purpose == EndpointPurpose.AUDIT_WITNESS
    # The witness's address and secret come from the settings at send time, never from its row: whoever
    # can write to the database must not be able to redirect the anchors or sign checkpoints of their own.
    url, secrets_ = ((settings.AUDIT_WITNESS_URL, [settings.AUDIT_WITNESS_SECRET]) if witness
                     else (endpoint.url, signing.signing_secrets(endpoint, started_at)))
    try:
        target = check_url(url)
    except UnsafeUrl as exc:
        result = transport.Result(status_code=None, error=f"refused: {exc}"[:500], response_excerpt="", duration_ms=0)
    else:
        body = claimed.body.encode("utf-8")
        headers = {
            signing.HEADER: signing.header_value(secrets_, time.time(), body),
            "Quorum-Event-Id": claimed.public_id,
            "Quorum-Event-Type": claimed.type,
        }
        result = transport.post(target, body, headers, connect_timeout=settings.WEBHOOK_CONNECT_TIMEOUT,
                                read_timeout=settings.WEBHOOK_READ_TIMEOUT,
                                max_response_bytes=settings.WEBHOOK_RESPONSE_MAX_BYTES)
    record(endpoint_id=endpoint.pk, claimed=claimed, result=result, started_at=started_at, give_up=not witness)
    return result


def record(*, endpoint_id: UUID, claimed: Claimed, result: transport.Result, started_at: datetime,
           give_up: bool = True) -> None:
    """Logs the attempt and moves the delivery on: succeeded, retry later, or
    dead-lettered once the next retry would fall after WEBHOOK_MAX_RETRY_SECONDS
    from its first attempt. Compare-and-swap on the attempt number: a result
    that comes after the delivery moved on (another attempt, a redelivery)
    is logged but changes nothing.

    With give_up=False (the audit witness) a delivery is never dead-lettered
    and the endpoint never paused: a checkpoint the witness misses would be a
    gap in the anchors, and a later one must not overtake it."""
    finished = timezone.now()
    fields = {"lease_until": None, "last_status_code": result.status_code, "last_error": result.error[:500]}
    try:
        with transaction.atomic():
            WebhookAttempt.objects.create(
                delivery_id=claimed.id, number=claimed.number, started_at=started_at, duration_ms=result.duration_ms,
                status_code=result.status_code, succeeded=result.ok, error=result.error[:500],
                response_excerpt=result.response_excerpt)
            current = WebhookDelivery.objects.filter(pk=claimed.id, attempts=claimed.number, state=DeliveryState.PENDING)
            if result.ok:
                if current.update(state=DeliveryState.SUCCEEDED, delivered_at=finished, **fields):
                    _endpoint_succeeded(endpoint_id, finished)
                return
            delay = timedelta(seconds=retry_delay(claimed.number))
            first = claimed.first_attempt_at or started_at
            if give_up and (finished + delay - first).total_seconds() > settings.WEBHOOK_MAX_RETRY_SECONDS:
                changed = current.update(state=DeliveryState.DEAD, dead_at=finished, **fields)
            else:
                changed = current.update(next_attempt_at=finished + delay, **fields)
            if changed:
                _endpoint_failed(endpoint_id, finished, result.error, may_pause=give_up)
    except IntegrityError:
        log.info("delivery %s disappeared (endpoint deleted) before its attempt was recorded", claimed.id)


def _endpoint_succeeded(endpoint_id: UUID, now: datetime) -> None:
    # Written only when something changes (or once a second), not on every success.
    WebhookEndpoint.objects.filter(pk=endpoint_id).filter(
        Q(consecutive_failures__gt=0) | Q(last_success_at__isnull=True) | Q(last_success_at__lt=now - timedelta(seconds=1))
    ).update(consecutive_failures=0, failing_since=None, last_success_at=now)


def _endpoint_failed(endpoint_id: UUID, now: datetime, error: str, *, may_pause: bool = True) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(
        consecutive_failures=F("consecutive_failures") + 1, failing_since=Coalesce("failing_since", Value(now)),
        last_failure_at=now)
    if not may_pause:
        return
    state = WebhookEndpoint.objects.filter(pk=endpoint_id).values(
        "consecutive_failures", "failing_since", "paused_at", "url").first()
    # failing_since was set by the update above, whose row lock this transaction (record's) still holds.
    if state is None or state["paused_at"] is not None or state["failing_since"] is None:
        return
    failing_for = (now - state["failing_since"]).total_seconds()
    if (state["consecutive_failures"] >= settings.WEBHOOK_PAUSE_AFTER_FAILURES
            and failing_for >= settings.WEBHOOK_PAUSE_AFTER_SECONDS):
        reason = (f"paused after {state['consecutive_failures']} consecutive failed attempts over "
                  f"{int(failing_for)} s; last error: {error}")[:500]
        if WebhookEndpoint.objects.filter(pk=endpoint_id, paused_at__isnull=True).update(paused_at=now, pause_reason=reason):
            audit.record(stream=CONFIG_STREAM, action="webhook_endpoint.paused", actor=SYSTEM,
                         target_type="webhook_endpoint", target_id=endpoint_id,
                         data={"url": state["url"], "consecutive_failures": state["consecutive_failures"],
                               "failing_since": state["failing_since"].isoformat(), "last_error": error[:500]})


# ---- the sender loop -------------------------------------------------------------

class _Pool:
    """Runs a round's attempts on up to `size` threads that live as long as
    the sender (each keeps its database connection, closed when it ends)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.jobs: queue.Queue[tuple[Callable[[Claimed], object], Claimed, _Round] | None] = queue.Queue()
        self.threads: list[threading.Thread] = []

    def _work(self) -> None:
        try:
            while (job := self.jobs.get()) is not None:
                fn, item, round_ = job
                try:
                    fn(item)
                except BaseException as exc:  # handed to the caller of run()
                    round_.failed(exc)
                finally:
                    round_.done()
        finally:
            connections.close_all()

    def run(self, fn: Callable[[Claimed], object], items: list[Claimed]) -> None:
        if self.size == 1 or len(items) == 1:
            for item in items:
                fn(item)
            return
        while len(self.threads) < min(self.size, len(items)):
            thread = threading.Thread(target=self._work, name="webhook-send", daemon=True)
            thread.start()
            self.threads.append(thread)
        round_ = _Round(len(items))
        for item in items:
            self.jobs.put((fn, item, round_))
        round_.wait()

    def close(self) -> None:
        for _ in self.threads:
            self.jobs.put(None)
        for thread in self.threads:
            thread.join()


class _Round:
    def __init__(self, count: int) -> None:
        self.left = count
        self.errors: list[BaseException] = []
        self.condition = threading.Condition()

    def failed(self, exc: BaseException) -> None:
        with self.condition:
            self.errors.append(exc)

    def done(self) -> None:
        with self.condition:
            self.left -= 1
            self.condition.notify_all()

    def wait(self) -> None:
        with self.condition:
            self.condition.wait_for(lambda: self.left == 0)
        if self.errors:
            raise self.errors[0]


def round_size() -> int:
    """How many deliveries one round leases: as many as the threads can
    attempt before the leases run out, at most WEBHOOK_SEND_BATCH."""
    per_thread = max(1, int(settings.WEBHOOK_LEASE_SECONDS
                            // (settings.WEBHOOK_CONNECT_TIMEOUT + settings.WEBHOOK_READ_TIMEOUT)))
    return max(1, min(settings.WEBHOOK_SEND_BATCH, settings.WEBHOOK_ENDPOINT_CONCURRENCY * per_thread))


def send_endpoint(endpoint_id: UUID, *, max_seconds: float | None = None) -> int | None:
    """Sends the endpoint's claimable deliveries, round after round, until
    none is left or `max_seconds` (WEBHOOK_SENDER_SECONDS) passed. Returns
    the number of attempts, or None when another sender holds the endpoint."""
    max_seconds = settings.WEBHOOK_SENDER_SECONDS if max_seconds is None else max_seconds
    started = time.monotonic()
    attempts = None
    pool = _Pool(settings.WEBHOOK_ENDPOINT_CONCURRENCY)
    try:
        while time.monotonic() - started < max_seconds:
            token = secrets.token_hex(8)
            if not _acquire(endpoint_id, token, timezone.now()):
                break
            try:
                attempts = (attempts or 0) + _rounds(endpoint_id, token, pool, started + max_seconds)
            finally:
                _release(endpoint_id, token)
            # Deliveries created after the last empty round, while the tick saw this sender's lease and
            # started no other: take them now rather than at the next tick.
            if not claimable(now=timezone.now()).filter(endpoint_id=endpoint_id).exists():
                break
    finally:
        pool.close()
    return attempts


def _rounds(endpoint_id: UUID, token: str, pool: _Pool, deadline: float) -> int:
    attempts = 0
    while time.monotonic() < deadline:
        now = timezone.now()
        if not _renew(endpoint_id, token, now):
            break
        endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id, active=True, paused_at__isnull=True).first()
        if endpoint is None:
            break
        batch = claim(endpoint_id=endpoint_id, now=now, limit=round_size())
        if not batch:
            break
        pool.run(functools.partial(attempt, endpoint), batch)
        attempts += len(batch)
    return attempts


def endpoints_with_work(*, now: datetime | None = None) -> set[UUID]:
    """Endpoints with a delivery due and no live sender."""
    now = now or timezone.now()
    free = Q(endpoint__sender_lease_until__isnull=True) | Q(endpoint__sender_lease_until__lt=now)
    # Without the ordering checks of claimable(): cheap on a large backlog (a sender that finds
    # everything blocked behind earlier events just ends).
    due = WebhookDelivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now, endpoint__active=True,
                                         endpoint__paused_at__isnull=True).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now))
    return set(due.filter(free).values_list("endpoint_id", flat=True).distinct())
