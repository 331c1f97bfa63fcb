"""Webhooks with the real thing: a Celery worker and beat as separate
processes (on a private redis-server), a real receiver, and a worker killed
in the middle of deliveries.

Like tests/reviews/test_workers.py, every process runs in a process group of
its own and only those are stopped or killed."""

import time

import pytest

from integrations.models import DeliveryState, WebhookAttempt, WebhookDelivery, WebhookEvent
from tests.processes import database_url, wait_for
from tests.webhook_receiver import Receiver, Reply

from .webhook_support import assert_in_order_per_case, event_positions, make_endpoint, verify, webhook_settings  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

WORKER_SETTINGS = dict(
    WEBHOOK_ALLOWED_HOSTS="127.0.0.1", WEBHOOK_DISPATCH_SECONDS=0.3, WEBHOOK_CONNECT_TIMEOUT=1, WEBHOOK_READ_TIMEOUT=2.5,
    WEBHOOK_LEASE_SECONDS=4, WEBHOOK_RETRY_BASE_SECONDS=0.05, WEBHOOK_RETRY_MAX_DELAY_SECONDS=0.3,
    WEBHOOK_ENDPOINT_CONCURRENCY=4, WEBHOOK_SENDER_SECONDS=5, SLA_SWEEP_SECONDS=30, AUDIT_CHECKPOINT_SECONDS=600,
)


@pytest.fixture(autouse=True)
def _settings(webhook_settings):  # noqa: F811
    return webhook_settings


def start(procs, redis_server, *, broker=None, worker=True, beat=True, **extra):
    env = procs.celery_env(database_url=database_url(), broker_url=broker or redis_server.url(0),
                           redis_url=redis_server.url(1), **{**WORKER_SETTINGS, **extra})
    started = {}
    if worker:
        started["worker"] = procs.worker(env, pool="threads", concurrency=8)
    if beat:
        started["beat"] = procs.beat(env)
    return env, started


def test_real_workers_deliver_every_event_in_order_through_a_flaky_receiver(api, file_report, decide, broker, procs,
                                                                             redis_server, verify):  # noqa: F811
    def flaky(request):
        if request.attempt == 1 and len(request.event_id) % 3 == 0:
            return Reply(status=500)
        if request.attempt == 1 and request.event_id.endswith(("a", "b", "c")):
            return Reply(drop=True)
        return Reply(delay=0.05)

    with Receiver(flaky) as receiver:
        endpoint, secret = make_endpoint(api.api_client.source, receiver.url())
        _, started = start(procs, redis_server, broker=broker)
        cases = [file_report(f"live-{i}")["case"]["id"] for i in range(6)]
        committed = {}
        for case_id in cases[:4]:
            decision = decide(case_id)
            committed[str(decision.pk)] = time.time()
        expected = 6 + 4

        wait_for(lambda: len(receiver.acknowledged()) >= expected and not WebhookDelivery.objects.filter(
            state=DeliveryState.PENDING).exists(), timeout=180, what="every event at the receiver", details=procs.logs)
        requests = receiver.snapshot()
    acknowledged = receiver.acknowledged()
    assert set(acknowledged) == set(WebhookEvent.objects.values_list("public_id", flat=True))
    assert len(acknowledged) == expected
    for r in requests:
        assert verify(r.headers["Quorum-Signature"], r.body, secret)
    assert_in_order_per_case(requests, event_positions())
    assert sum(r.acknowledged for r in requests) == expected  # no acknowledged event was sent again
    assert started["worker"].connected_to(broker), started["worker"].output()
    latencies = [acknowledged_r.at - committed[acknowledged_r.json["data"]["decision"]["id"]]
                 for acknowledged_r in acknowledged.values() if acknowledged_r.json["type"] == "decision.made"]
    # decision commit → receipt with the beat ticking every 0.3 s (generous bound for a loaded test machine)
    assert max(latencies) < 10, latencies


def test_a_worker_killed_during_deliveries_loses_nothing(api, file_report, procs, redis_server):
    hold = {"seconds": 1.5}  # below WEBHOOK_READ_TIMEOUT (2.5 s), which is below the lease (4 s)

    def slow(request):
        return Reply(delay=hold["seconds"])  # requests stay in flight long enough to kill the worker under them

    with Receiver(slow) as receiver:
        make_endpoint(api.api_client.source, receiver.url(), ["case.opened"])
        cases = [file_report(f"kill-{i}")["case"]["id"] for i in range(16)]
        env, started = start(procs, redis_server)
        wait_for(lambda: len(receiver.snapshot()) >= 3, timeout=120, interval=0.02, what="requests in flight",
                 details=procs.logs)
        started["worker"].kill()  # SIGKILL to the worker and its threads, mid-request
        killed_at = time.time()
        in_flight = {r.event_id for r in receiver.snapshot()}
        assert in_flight and not receiver.acknowledged(), "the worker was not killed during deliveries"
        hold["seconds"] = 0.0
        procs.worker(env, name="worker-2", pool="threads", concurrency=8)
        # The receiver answers before the worker records the success: wait for both.
        wait_for(lambda: len(receiver.acknowledged()) == len(cases) and not WebhookDelivery.objects.filter(
            state=DeliveryState.PENDING).exists(), timeout=180, what="every event after the restart",
                 details=procs.logs)
        requests = receiver.snapshot()
    acknowledged = receiver.acknowledged()
    assert len(acknowledged) == len(cases)
    assert {r.json["data"]["case"]["id"] for r in acknowledged.values()} == set(cases)
    # At least once: what was in flight when the worker died came again (same id), after the lease ran out.
    for event_id in in_flight:
        again = [r for r in requests if r.event_id == event_id]
        assert len(again) >= 2 and again[-1].acknowledged and again[-1].at > killed_at
        assert len({r.body for r in again}) == 1
    assert sum(r.acknowledged for r in requests) == len(cases)
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {DeliveryState.SUCCEEDED}
    numbers = list(WebhookAttempt.objects.values_list("delivery_id", "number"))
    assert len(numbers) == len(set(numbers))  # no attempt recorded twice
