"""The witness with the real thing: a Celery worker and beat as separate
processes (on a private redis-server), a real receiver on 127.0.0.1 that is
down, then recovers slowly, and a worker killed in the middle of a delivery.
Every checkpoint arrives, acknowledged in order, none given up.

Every process runs in a process group of its own and only those are stopped
or killed (tests/processes.py)."""

import time

import pytest

from audit.anchors import read_anchors
from audit.models import AuditCheckpoint
from audit.services import CONFIG_STREAM, audit_checkpoint_create
from audit.verify import verify_audit
from integrations.models import DeliveryState, EndpointPurpose, WebhookDelivery
from tests.audit.conftest import record
from tests.processes import database_url, wait_for
from tests.webhook_receiver import Receiver, Reply, load_verifier

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SECRET = "witness-secret-for-the-worker-tests-0123456789"


def witness_settled():
    numbers = set(AuditCheckpoint.objects.values_list("number", flat=True))
    deliveries = dict(WebhookDelivery.objects.filter(endpoint__purpose=EndpointPurpose.AUDIT_WITNESS)
                      .values_list("seq", "state"))
    return numbers and set(deliveries) == numbers and set(deliveries.values()) == {DeliveryState.SUCCEEDED}


def test_every_checkpoint_reaches_a_witness_that_was_down_through_a_killed_worker(procs, redis_server,
                                                                                  tmp_path):
    mode = {"now": "down"}

    def witness(request):
        if mode["now"] == "down":
            return Reply(status=503)
        if mode["now"] == "slow":
            return Reply(delay=1.5)  # below the read timeout (2.5 s), which is below the lease (4 s)
        return Reply()

    for n in range(3):
        record(f"case:witness-{n}", action="case.opened", new_stream=True)
        record(CONFIG_STREAM)
        audit_checkpoint_create()
    with Receiver(witness) as receiver:
        env = procs.celery_env(
            database_url=database_url(), broker_url=redis_server.url(0),
            AUDIT_WITNESS_URL=receiver.url("/witness"), AUDIT_WITNESS_SECRET=SECRET, WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
            AUDIT_CHECKPOINT_POLL_SECONDS=0.3, AUDIT_CHECKPOINT_SECONDS=600, WEBHOOK_DISPATCH_SECONDS=0.3,
            WEBHOOK_CONNECT_TIMEOUT=1, WEBHOOK_READ_TIMEOUT=2.5, WEBHOOK_LEASE_SECONDS=4,
            WEBHOOK_RETRY_BASE_SECONDS=0.05, WEBHOOK_RETRY_MAX_DELAY_SECONDS=0.3,
            # Rules under which a platform's webhook would be dead-lettered and its endpoint paused at once.
            WEBHOOK_MAX_RETRY_SECONDS=0, WEBHOOK_PAUSE_AFTER_FAILURES=1, WEBHOOK_PAUSE_AFTER_SECONDS=0,
            SLA_SWEEP_SECONDS=30)
        worker = procs.worker(env, pool="threads", concurrency=4)
        procs.beat(env)
        # The witness is down: checkpoint 1 is tried again and again, and nothing overtakes it.
        wait_for(lambda: len(receiver.snapshot()) >= 4, timeout=120, interval=0.05, what="attempts while down",
                 details=procs.logs)
        assert {r.event_id for r in receiver.snapshot()} == {"audit-checkpoint-1"}
        # It comes back, slowly; the worker is killed while a POST is in flight.
        mode["now"] = "slow"
        down_until = len(receiver.snapshot())
        wait_for(lambda: len(receiver.snapshot()) > down_until, timeout=60, interval=0.02, what="a slow attempt",
                 details=procs.logs)
        worker.kill()
        killed_at = time.time()
        in_flight = {r.event_id for r in receiver.snapshot()[down_until:]}
        mode["now"] = "up"
        procs.worker(env, name="worker-2", pool="threads", concurrency=4)
        wait_for(witness_settled, timeout=180, interval=0.2, what="every checkpoint acknowledged", details=procs.logs)
        arrived = receiver.snapshot()
    checkpoints = {cp.number: cp.hash for cp in AuditCheckpoint.objects.all()}
    acknowledged = [r for r in arrived if r.acknowledged]
    # Each checkpoint acknowledged exactly once per arrival that succeeded, in number order, all of them.
    first_ack = {}
    for r in acknowledged:
        first_ack.setdefault(r.json["checkpoint"]["number"], r)
    assert sorted(first_ack) == sorted(checkpoints) and len(checkpoints) >= 3
    assert list(first_ack) == sorted(first_ack)
    for number, r in first_ack.items():
        assert r.json["checkpoint"]["hash"] == checkpoints[number]
    # Nothing was sent for checkpoint n+1 before checkpoint n had been acknowledged.
    for r in arrived:
        number = r.json["checkpoint"]["number"]
        if number > 1:
            assert r.at >= first_ack[number - 1].answered_at
    # What was in flight when the worker died came again (at least once), after the kill.
    for event_id in in_flight:
        assert any(r.event_id == event_id and r.acknowledged and r.at > killed_at for r in arrived)
    verify_signature = load_verifier()
    assert all(verify_signature(r.headers["Quorum-Signature"], r.body, SECRET) for r in arrived)
    # What the witness kept verifies the trail.
    kept = tmp_path / "witness.jsonl"
    kept.write_text("".join(r.body.decode() + "\n" for r in acknowledged))
    result = verify_audit(anchors=read_anchors(kept))
    assert result.ok, result.problems
