"""Fixtures and helpers shared by the webhook tests (test_webhooks_*.py).
Import the fixtures into a test module to use them."""

import time

import pytest
from django.utils import timezone

from audit.context import Actor
from integrations.models import DeliveryState, WebhookDelivery, WebhookEndpoint, WebhookEvent
from integrations.webhooks import addresses, outbox, sender
from integrations.webhooks.services import webhook_endpoint_create
from tests.webhook_receiver import Receiver, load_verifier

WEBHOOKS_URL = "/api/v1/webhooks"
ADMIN = Actor.system("tests")


@pytest.fixture
def webhook_settings(settings, monkeypatch):
    """Short timeouts and retries; 127.0.0.1 allowed (plain http, loopback).
    No kicks: they would publish tasks to a broker that no worker of this
    test reads (test_webhooks_api.py tests the kick itself)."""
    from integrations import tasks

    monkeypatch.setattr(tasks, "kick_dispatch", lambda: None)
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.WEBHOOK_CONNECT_TIMEOUT = 1.0
    settings.WEBHOOK_READ_TIMEOUT = 0.6
    settings.WEBHOOK_LEASE_SECONDS = 5.0
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.02
    settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS = 0.15
    settings.WEBHOOK_MAX_RETRY_SECONDS = 120.0
    settings.WEBHOOK_PAUSE_AFTER_FAILURES = 10_000
    settings.WEBHOOK_PAUSE_AFTER_SECONDS = 0
    settings.WEBHOOK_ENDPOINT_CONCURRENCY = 4
    settings.WEBHOOK_PUBLIC_URL = "https://quorum.test"
    return settings


@pytest.fixture
def public_dns(monkeypatch):
    """Host names resolve as the test says ({name: [ip, ...]}); unknown names do not resolve."""
    import socket

    table = {}

    def resolve(host, port):
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip) for ip in table[host]]

    monkeypatch.setattr(addresses, "resolve", resolve)
    return table


@pytest.fixture
def healthy_receiver():
    with Receiver() as server:
        yield server


@pytest.fixture
def verify():
    return load_verifier()


def make_endpoint(source, url, event_types=None, **kwargs):
    return webhook_endpoint_create(source=source, url=url, event_types=event_types, actor=ADMIN, **kwargs)


def pump(*, until, timeout=120.0, what="the deliveries", interval=0.02, details=None):
    """Runs the dispatcher and the senders in this process (as the beat tick
    and the send tasks would) until `until()` is true."""
    deadline = time.monotonic() + timeout
    while True:
        touched = outbox.dispatch()
        for endpoint_id in touched | sender.endpoints_with_work():
            sender.send_endpoint(endpoint_id, max_seconds=2.0)
        if until():
            return
        if time.monotonic() > deadline:
            extra = f"\n{details()}" if details else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; deliveries: "
                                 f"{list(WebhookDelivery.objects.values_list('state', 'attempts', 'last_error'))}{extra}")
        time.sleep(interval)


def all_settled(endpoint=None):
    """No delivery pending and no subscribed event left undispatched."""
    deliveries = WebhookDelivery.objects.all()
    if endpoint is not None:
        deliveries = deliveries.filter(endpoint=endpoint)
    return not deliveries.filter(state=DeliveryState.PENDING).exists()


def event_positions():
    """{public event id: (case id, seq in the case's stream, type)}."""
    return {e.public_id: (str(e.case_id), e.seq, e.type) for e in WebhookEvent.objects.all()}


def assert_in_order_per_case(requests, positions, dead=()):
    """Checks what the receiver saw: an event of a case arrived only after
    every earlier event of that case had been acknowledged (or was
    dead-lettered)."""
    acked_at = {}
    for request in requests:
        if request.acknowledged:
            acked_at[request.event_id] = min(acked_at.get(request.event_id, request.answered_at), request.answered_at)
    by_case = {}
    for public_id, (case_id, seq, _type) in positions.items():
        by_case.setdefault(case_id, []).append((seq, public_id))
    earlier = {}
    for events in by_case.values():
        events.sort()
        for index, (_seq, public_id) in enumerate(events):
            earlier[public_id] = [p for _s, p in events[:index]]
    for request in requests:
        missing = [p for p in earlier.get(request.event_id, [])
                   if p not in dead and not (p in acked_at and acked_at[p] <= request.at)]
        assert not missing, f"{request.event_id} ({positions[request.event_id]}) arrived before {missing} were acknowledged"


def endpoint_state(endpoint):
    return WebhookEndpoint.objects.get(pk=endpoint.pk)


def now():
    return timezone.now()
