"""audit.record() / audit_record() and audit_record_many(): what an event holds,
how streams chain, and that writers of different streams never wait for each
other while writers of one stream serialize into a gapless chain."""

import threading
import time

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.http import HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

import audit
from audit.context import Actor, bind_request
from audit.hashing import GENESIS, hash_of_event
from audit.models import AuditAction, AuditEvent, AuditStreamHead
from audit.services import CONFIG_STREAM, SYSTEM_STREAM, AuditError, AuditHeadMoved, audit_record, audit_record_many, case_stream
from audit.verify import verify_audit
from config.middleware import RequestIdMiddleware

from .conftest import Worker, record, wait_until_lock_waiters

SYSTEM = Actor.system("tests")


def entry(stream, n, *, new_stream=False, action="report.filed"):
    return dict(stream=stream, action=action, target_type="case", target_id=stream, data={"n": n}, new_stream=new_stream)


def chain(stream):
    return list(AuditEvent.objects.filter(stream=stream).order_by("seq"))


def assert_chained(stream, count):
    events = chain(stream)
    assert [e.seq for e in events] == list(range(1, count + 1))
    prev = GENESIS
    for event in events:
        assert event.prev_hash == prev
        assert hash_of_event(event) == event.hash
        prev = event.hash
    head = AuditStreamHead.objects.get(stream=stream)
    assert (head.seq, head.hash) == (count, prev)
    return events


# --- only inside a transaction ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_record_outside_a_transaction_raises_and_writes_nothing():
    assert not connection.in_atomic_block
    with pytest.raises(AuditError, match="inside the transaction"):
        audit.record(stream=CONFIG_STREAM, action="policy.changed", actor=SYSTEM, target_type="policy", target_id="x")
    with pytest.raises(AuditError, match="inside the transaction"):
        audit_record(stream=CONFIG_STREAM, action="policy.changed", actor=SYSTEM, target_type="policy", target_id="x")
    with pytest.raises(AuditError, match="inside the transaction"):
        audit_record_many(entries=[entry(CONFIG_STREAM, 1)], actor=SYSTEM)
    assert not AuditEvent.objects.exists()
    assert not AuditStreamHead.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_event_commits_and_rolls_back_with_the_change():
    with transaction.atomic():
        audit.record(stream=CONFIG_STREAM, action="policy.changed", actor=SYSTEM, target_type="policy", target_id="a")
    with pytest.raises(RuntimeError), transaction.atomic():
        audit.record(stream=CONFIG_STREAM, action="policy.changed", actor=SYSTEM, target_type="policy", target_id="b")
        audit.record(stream="case:rolled-back", action="case.opened", actor=SYSTEM, target_type="case",
                     target_id="rb", new_stream=True)
        raise RuntimeError("the change failed")
    assert [e.target_id for e in AuditEvent.objects.all()] == ["a"]
    assert not AuditStreamHead.objects.filter(stream="case:rolled-back").exists()
    assert AuditStreamHead.objects.get(stream=CONFIG_STREAM).seq == 1
    # The next event chains to the committed one, not the rolled-back one.
    with transaction.atomic():
        audit.record(stream=CONFIG_STREAM, action="policy.changed", actor=SYSTEM, target_type="policy", target_id="c")
    assert_chained(CONFIG_STREAM, 2)
    assert verify_audit().ok


# --- what an event holds --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_event_holds_actor_action_target_data_request_and_chain_fields():
    user = get_user_model().objects.create_user(username="mod.alice", password="x")
    with bind_request(request_id="req-123", ip="203.0.113.9"), transaction.atomic():
        event = audit.record(
            stream=case_stream(42), action=AuditAction.CASE_STATE_CHANGED, actor=Actor.user(user),
            target_type="case", target_id=42, data={"from": "open", "to": "closed", "nested": [1, [2, {"x": None}]]},
        )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.stream == "case:42" and stored.seq == 1
    assert stored.action == "case.state_changed"
    assert (stored.actor_type, stored.actor_id, stored.actor_name) == ("user", str(user.pk), "mod.alice")
    assert (stored.target_type, stored.target_id) == ("case", "42")
    assert stored.data == {"from": "open", "to": "closed", "nested": [1, [2, {"x": None}]]}
    assert (stored.request_id, stored.ip) == ("req-123", "203.0.113.9")
    assert stored.created_at is not None and stored.created_at.tzinfo is not None
    assert stored.prev_hash == GENESIS
    assert stored.hash == event.hash == hash_of_event(stored)
    head = AuditStreamHead.objects.get(stream="case:42")
    assert (head.seq, head.hash, head.dirty) == (1, stored.hash, True)


@pytest.mark.django_db
def test_user_display_name_is_frozen_at_the_time_of_the_event():
    user = get_user_model().objects.create_user(username="old-name", password="x")
    event = record(CONFIG_STREAM, action="policy.changed", actor=Actor.user(user))
    user.username = "new-name"
    user.save()
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.actor_name == "old-name"
    assert stored.actor_id == str(user.pk)
    assert verify_audit().ok


@pytest.mark.django_db
def test_api_client_and_system_actors():
    by_client = record(CONFIG_STREAM, action="api_client.created", actor=Actor.api_client(7, "forum-prod"))
    by_task = record(SYSTEM_STREAM, action="system.demo_data_loaded", actor=Actor.system("sla-sweeper"))
    by_client.refresh_from_db()
    by_task.refresh_from_db()
    assert (by_client.actor_type, by_client.actor_id, by_client.actor_name) == ("api_client", "7", "forum-prod")
    assert (by_task.actor_type, by_task.actor_id, by_task.actor_name) == ("system", "", "sla-sweeper")


@pytest.mark.django_db
def test_request_id_and_client_ip_come_from_the_request_middleware():
    def view(request):
        with transaction.atomic():
            audit.record(stream=CONFIG_STREAM, action="queue.changed", actor=SYSTEM, target_type="queue", target_id="q")
        return HttpResponse("ok")

    request = RequestFactory().get("/", HTTP_X_REQUEST_ID="abc-123", REMOTE_ADDR="198.51.100.4")
    response = RequestIdMiddleware(view)(request)
    event = AuditEvent.objects.get()
    assert (event.request_id, event.ip) == ("abc-123", "198.51.100.4")
    assert response["X-Request-ID"] == "abc-123"
    # Outside a request there is no request id or address.
    outside = record(CONFIG_STREAM)
    assert (outside.request_id, outside.ip) == ("", "")


@pytest.mark.django_db
def test_overlong_actor_name_is_cut_and_still_verifies():
    event = record(CONFIG_STREAM, actor=Actor.system("n" * 500))
    event.refresh_from_db()
    assert event.actor_name == "n" * 200
    assert hash_of_event(event) == event.hash
    assert verify_audit().ok


def test_actions_are_dotted_text_choices():
    assert AuditAction.values
    for value in AuditAction.values:
        noun, _, verb = value.partition(".")
        assert noun and verb and value == value.lower(), value


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["case.deleted", "nonsense", ""])
def test_unknown_action_is_refused(bad):
    with pytest.raises(AuditError, match="unknown audit action"):
        record(CONFIG_STREAM, action=bad)
    with pytest.raises(AuditError, match="unknown audit action"), transaction.atomic():
        audit_record_many(entries=[entry(CONFIG_STREAM, 1), entry(CONFIG_STREAM, 2, action=bad)], actor=SYSTEM)
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("actor", [None, "system", ("system", "", "x"), Actor("robot", "", "x")])
def test_actor_must_be_a_known_audit_actor(actor):
    with pytest.raises(AuditError, match="actor"), transaction.atomic():
        audit_record(stream=CONFIG_STREAM, action="policy.changed", actor=actor, target_type="policy", target_id="x")
    with pytest.raises(AuditError, match="actor"), transaction.atomic():
        audit_record_many(entries=[entry(CONFIG_STREAM, 1)], actor=actor)
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_benchmark_switch_writes_nothing(settings):
    settings.AUDIT_DISABLED_FOR_BENCHMARK = True
    assert record(CONFIG_STREAM) is None
    with transaction.atomic():
        assert audit_record_many(entries=[entry(CONFIG_STREAM, 1)], actor=SYSTEM) == []
    assert not AuditEvent.objects.exists()


# --- streams and chains ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_events_of_a_stream_chain_and_streams_are_independent():
    for _ in range(3):
        record(CONFIG_STREAM)
    record(case_stream(1), action="case.opened", new_stream=True)
    record(case_stream(1))
    record(SYSTEM_STREAM, action="system.demo_data_loaded")
    assert_chained(CONFIG_STREAM, 3)
    assert_chained("case:1", 2)
    assert_chained(SYSTEM_STREAM, 1)
    times = [e.created_at for e in chain(CONFIG_STREAM)]
    assert times == sorted(times)
    result = verify_audit()
    assert result.ok and (result.events, result.streams) == (6, 3)


@pytest.mark.django_db
def test_new_stream_is_a_promise_that_fails_loudly_when_broken():
    record("case:9", action="case.opened", new_stream=True)
    with pytest.raises(IntegrityError):
        record("case:9", action="case.opened", new_stream=True)
    assert_chained("case:9", 1)


# --- audit_record_many ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_record_many_chains_onto_existing_heads_and_opens_new_streams():
    record("case:old", action="case.opened", new_stream=True)
    record(CONFIG_STREAM, action="policy.changed")
    with bind_request(request_id="batch-1", ip="192.0.2.1"), transaction.atomic():
        events = audit_record_many(entries=[
            entry("case:new", 1, new_stream=True, action="case.opened"),
            entry("case:old", 2),
            entry("case:new", 3, new_stream=True),
            entry("case:old", 4),
            entry("case:new", 5, new_stream=True),
            entry(SYSTEM_STREAM, 6, action="system.demo_data_loaded"),  # no head yet, no new_stream promise
        ], actor=Actor.api_client(3, "batcher"))
    assert [(e.stream, e.seq) for e in events] == [
        ("case:new", 1), ("case:old", 2), ("case:new", 2), ("case:old", 3), ("case:new", 3), (SYSTEM_STREAM, 1),
    ]
    assert all(e.pk for e in events)
    assert [e.data["n"] for e in assert_chained("case:new", 3)] == [1, 3, 5]
    assert [e.data.get("n") for e in assert_chained("case:old", 3)] == [1, 2, 4]
    assert_chained(SYSTEM_STREAM, 1)
    stored = AuditEvent.objects.get(stream="case:new", seq=1)
    assert (stored.actor_type, stored.actor_name, stored.request_id, stored.ip) == (
        "api_client", "batcher", "batch-1", "192.0.2.1")
    assert all(h.dirty for h in AuditStreamHead.objects.all())
    assert verify_audit().ok


def _head(stream):
    head = AuditStreamHead.objects.get(stream=stream)
    return head.seq, head.hash


@pytest.mark.django_db(transaction=True)
def test_a_batch_at_known_heads_appends_in_one_statement_and_moves_the_head():
    record("case:k", action="case.opened", new_stream=True)
    known = {"case:k": _head("case:k")}
    with CaptureQueriesContext(connection) as ctx, transaction.atomic(), audit.batch(known_heads=known):
        audit.record(stream="case:k", action="review.seat_claimed", actor=SYSTEM, target_type="review", target_id="r")
        audit.record(stream="case:k", action="case.state_changed", actor=SYSTEM, target_type="case", target_id="k")
    writes = [q["sql"] for q in ctx.captured_queries if "audit_" in q["sql"]]
    assert len(writes) == 1 and writes[0].startswith("WITH moved AS")  # no head lock, no separate head update
    assert [e.action for e in assert_chained("case:k", 3)][1:] == ["review.seat_claimed", "case.state_changed"]
    assert _head("case:k")[0] == 3
    assert verify_audit().ok


@pytest.mark.django_db(transaction=True)
def test_a_batch_at_a_head_that_moved_raises_and_writes_nothing():
    record("case:m", action="case.opened", new_stream=True)
    stale = {"case:m": _head("case:m")}
    record("case:m", action="report.filed")  # another writer appends after the head was read
    with pytest.raises(AuditHeadMoved), transaction.atomic(), audit.batch(known_heads=stale):
        audit.record(stream="case:m", action="review.seat_claimed", actor=SYSTEM, target_type="review", target_id="r")
    assert [e.action for e in assert_chained("case:m", 2)] == ["case.opened", "report.filed"]
    assert _head("case:m")[0] == 2
    # A stream the caller did not read, or one it promises to create, goes the locking way.
    with transaction.atomic(), audit.batch(known_heads=stale):
        audit.record(stream="case:other", action="case.opened", actor=SYSTEM, target_type="case", target_id="o")
    assert_chained("case:other", 1)
    assert verify_audit().ok


@pytest.mark.django_db
def test_record_many_and_record_mix_in_one_transaction():
    with transaction.atomic():
        audit_record(stream="case:m", action="case.opened", actor=SYSTEM, target_type="case", target_id="m",
                     new_stream=True)
        audit_record_many(entries=[entry("case:m", 2), entry(CONFIG_STREAM, 3, action="policy.changed")], actor=SYSTEM)
        audit_record(stream="case:m", action="case.routed", actor=SYSTEM, target_type="case", target_id="m")
        audit_record_many(entries=[entry("case:m", 4), entry(CONFIG_STREAM, 5, action="policy.changed")], actor=SYSTEM)
    assert [e.action for e in assert_chained("case:m", 4)] == ["case.opened", "report.filed", "case.routed", "report.filed"]
    assert_chained(CONFIG_STREAM, 2)
    assert verify_audit().ok


@pytest.mark.django_db
def test_record_many_with_nothing_to_write():
    with transaction.atomic():
        assert audit_record_many(entries=[], actor=SYSTEM) == []
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_record_many_normalizes_data_like_record():
    with transaction.atomic():
        audit_record_many(entries=[dict(entry(CONFIG_STREAM, 0), data={"big": 1e20, "small": 1e-7, "t": (1, 2)})],
                          actor=SYSTEM)
    assert AuditEvent.objects.get().data == {"big": 10**20, "small": 1e-7, "t": [1, 2]}
    assert verify_audit().ok


# --- concurrency ----------------------------------------------------------------------------------------------------


def _hold_open(stream, gate, **kwargs):
    reached, release = gate

    def work():
        with transaction.atomic():
            event = record(stream, **kwargs)
            reached.set()
            assert release.wait(30)
        return event

    return work


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("existing", [False, True], ids=["fresh-streams", "existing-streams"])
def test_unrelated_streams_do_not_contend_and_one_stream_serializes(gate, existing):
    stream_a, stream_b = "case:A", CONFIG_STREAM
    if existing:
        record(stream_a)
        record(stream_b)
    base = 1 if existing else 0
    reached, release = gate

    # Writer 1 appends to A and keeps its transaction open.
    writer_1 = Worker(_hold_open(stream_a, gate))
    writer_1.start()
    assert reached.wait(60)

    # Writer 2 appends to B and commits while A is open; a lock on anything of
    # A's would exceed its lock timeout.
    def write_b():
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            return record(stream_b)

    writer_2 = Worker(write_b)
    writer_2.start()
    # Writer 1 holds its transaction until `release`: writer 2 finishing at all proves it did not wait.
    assert writer_2.value(timeout=60).seq == base + 1
    assert writer_1.is_alive(), "writer 1 should still hold its transaction open"
    assert AuditEvent.objects.filter(stream=stream_b).count() == base + 1  # committed, visible to others
    assert AuditEvent.objects.filter(stream=stream_a).count() == base  # writer 1's event is not committed

    # Writer 3 appends to A: it waits for writer 1.
    writer_3 = Worker(lambda: record(stream_a))
    writer_3.start()
    wait_until_lock_waiters(1)
    time.sleep(0.2)
    assert writer_3.is_alive()
    assert AuditEvent.objects.filter(stream=stream_a).count() == base

    release.set()
    first, third = writer_1.value(), writer_3.value()
    assert (first.seq, third.seq) == (base + 1, base + 2)
    assert third.prev_hash == first.hash
    assert third.created_at >= first.created_at
    assert_chained(stream_a, base + 2)
    assert_chained(stream_b, base + 1)
    assert verify_audit().ok


@pytest.mark.django_db(transaction=True)
def test_many_writers_on_one_stream_make_a_gapless_chain():
    threads, per_thread = 8, 6
    barrier = threading.Barrier(threads)

    def work(index):
        def run():
            barrier.wait(60)
            for n in range(per_thread):
                if index % 2:
                    record(SYSTEM_STREAM, action="system.demo_data_loaded", data={"t": index, "n": n})
                else:  # batches of two interleave with single writes
                    with transaction.atomic():
                        audit_record_many(entries=[
                            dict(entry(SYSTEM_STREAM, n, action="system.demo_data_loaded"), data={"t": index, "n": n}),
                            dict(entry(SYSTEM_STREAM, n, action="system.demo_data_loaded"), data={"t": index, "n": -n}),
                        ], actor=SYSTEM)
        return run

    workers = [Worker(work(i)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.value(timeout=60)
    expected = (threads // 2) * per_thread + (threads // 2) * per_thread * 2
    events = assert_chained(SYSTEM_STREAM, expected)
    # Each writer's own events keep their order in the chain.
    for index in range(threads):
        mine = [e.data["n"] for e in events if e.data["t"] == index]
        assert [abs(n) for n in mine] == sorted(abs(n) for n in mine)
    assert verify_audit().ok


@pytest.mark.django_db(transaction=True)
def test_first_writers_of_a_new_stream_in_batches_serialize(gate):
    """Two batches are the first to write to a stream without the new_stream
    promise: the second waits for the first instead of colliding on seq 1."""
    reached, release = gate

    def first():
        with transaction.atomic():
            audit_record_many(entries=[entry(CONFIG_STREAM, 1, action="policy.changed")], actor=SYSTEM)
            reached.set()
            assert release.wait(30)

    def second():
        with transaction.atomic():
            return audit_record_many(entries=[entry(CONFIG_STREAM, 2, action="policy.changed"),
                                              entry(CONFIG_STREAM, 3, action="policy.changed")], actor=SYSTEM)

    writer_1 = Worker(first)
    writer_1.start()
    assert reached.wait(60)
    writer_2 = Worker(second)
    writer_2.start()
    wait_until_lock_waiters(1)
    release.set()
    writer_1.value()
    assert [e.seq for e in writer_2.value()] == [2, 3]
    assert [e.data["n"] for e in assert_chained(CONFIG_STREAM, 3)] == [1, 2, 3]
    assert verify_audit().ok


@pytest.mark.django_db(transaction=True)
def test_first_writers_of_a_new_stream_serialize(gate):
    reached, release = gate
    writer_1 = Worker(_hold_open("case:first", gate))
    writer_1.start()
    assert reached.wait(60)
    writer_2 = Worker(lambda: record("case:first"))
    writer_2.start()
    wait_until_lock_waiters(1)
    release.set()
    assert (writer_1.value().seq, writer_2.value().seq) == (1, 2)
    assert_chained("case:first", 2)


# ---- round trips -----------------------------------------------------------------------------------------------


def _statements(captured):
    return [q["sql"] for q in captured if not q["sql"].upper().startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


def test_recording_takes_one_statement_for_a_new_stream_and_two_for_an_existing_one(db):
    """The event and its stream head are written by one statement; appending
    to an existing stream first locks and reads its head (the HMAC needs the
    previous hash, computed in Python: the key never reaches the database)."""
    actor = Actor.system("tests")
    with CaptureQueriesContext(connection) as new, transaction.atomic():
        first = audit_record(stream="case:rt", action="case.opened", actor=actor, target_type="case", target_id="1",
                             data={"n": 1}, new_stream=True)
    with CaptureQueriesContext(connection) as existing, transaction.atomic():
        second = audit_record(stream="case:rt", action="report.filed", actor=actor, target_type="case", target_id="1",
                              data={"n": 2})
    assert len(_statements(new)) == 1, _statements(new)
    assert len(_statements(existing)) == 2, _statements(existing)
    assert AuditEvent.objects.get(pk=first.pk).hash == first.hash
    assert AuditEvent.objects.get(pk=second.pk).prev_hash == first.hash
    assert AuditStreamHead.objects.filter(stream="case:rt").values_list("seq", "hash", "dirty").get() == (
        2, second.hash, True)
    with CaptureQueriesContext(connection) as many, transaction.atomic():
        events = audit_record_many(actor=actor, entries=[
            dict(stream="case:rt", action="report.filed", target_type="case", target_id="1", data={"n": 3}),
            dict(stream="case:rt2", action="case.opened", target_type="case", target_id="2", data={}, new_stream=True),
            dict(stream="case:rt", action="report.filed", target_type="case", target_id="1", data={"n": 4}),
        ])
    assert len(_statements(many)) == 2, _statements(many)
    assert [(e.stream, e.seq) for e in events] == [("case:rt", 3), ("case:rt2", 1), ("case:rt", 4)]
    assert [e.pk for e in events] == [AuditEvent.objects.get(stream=e.stream, seq=e.seq).pk for e in events]
    assert dict(AuditStreamHead.objects.filter(stream__in=["case:rt", "case:rt2"]).values_list("stream", "seq")) == {
        "case:rt": 4, "case:rt2": 1}
    assert verify_audit().ok
