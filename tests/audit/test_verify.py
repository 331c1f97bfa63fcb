"""verify_audit notices every way of rewriting history: altering, removing,
re-ordering and inserting events, and altering or removing checkpoints.

Each test tampers with the tables directly, with the append-only triggers
disabled, as someone with database access would."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction

import audit.verify as verify_module
from audit.hashing import GENESIS, checkpoint_hash, event_hash
from audit.keys import keyring
from audit.models import AuditCheckpoint, AuditEvent, AuditStreamHead
from audit.services import CONFIG_STREAM, audit_checkpoint_create
from audit.verify import verify_audit

from .conftest import Worker, assert_broken, record, run_verify, tampering

CASE = "case:1"


def ids(stream):
    return list(AuditEvent.objects.filter(stream=stream).order_by("seq").values_list("pk", flat=True))


@pytest.fixture
def trail(db):
    """case:1 with 5 events, config with 3, case:2 with 2, all covered by
    checkpoint 1. Returns the event ids of each stream in seq order."""
    record(CASE, action="case.opened", new_stream=True, data={"n": 1})
    for n in range(2, 6):
        record(CASE, data={"n": n})
    for n in range(3):
        record(CONFIG_STREAM, action="policy.changed", data={"n": n})
    record("case:2", action="case.opened", new_stream=True)
    record("case:2")
    audit_checkpoint_create()
    return {stream: ids(stream) for stream in (CASE, CONFIG_STREAM, "case:2")}


def forged_fields(stream, seq, prev_hash, **changes):
    """The fields of a forged event with a correctly computed hash."""
    fields = dict(
        stream=stream, seq=seq, action="case.state_changed", actor_type="user", actor_id="1", actor_name="mallory",
        target_type="case", target_id="1", data={"forged": True}, request_id="", ip="",
        created_at=AuditEvent.objects.latest("created_at").created_at, prev_hash=prev_hash,
        key_id=keyring().current_id,  # the forger holds the audit key: only checkpoints and anchors stop them
    )
    fields.update(changes)
    return dict(fields, hash=event_hash(**fields))


def insert_event(fields):
    AuditEvent.objects.bulk_create([AuditEvent(**fields)])
    return AuditEvent.objects.get(stream=fields["stream"], seq=fields["seq"]).pk


# --- intact ---------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_empty_trail_is_intact():
    ok, out, err, _ = run_verify()
    assert ok and err == ""
    assert "audit trail intact: 0 events in 0 streams, 0 checkpoints" in out


def test_intact_trail_passes_with_counts(trail):
    record(CASE)  # events after the last checkpoint are fine too
    ok, out, err, _ = run_verify()
    assert ok and err == ""
    assert "audit trail intact: 11 events in 3 streams, 1 checkpoints" in out
    result = verify_audit()
    assert result.ok and (result.events, result.streams, result.checkpoints) == (11, 3, 1)


def test_small_batches_give_the_same_answer(trail):
    for n in range(12):
        record(f"case:x{n:02}", action="case.opened", new_stream=True)
        record(f"case:x{n:02}")
        if n % 5 == 0:
            audit_checkpoint_create()
    assert verify_audit(chunk_size=2).ok
    assert verify_audit(chunk_size=1).ok
    victim = ids("case:x07")
    with tampering() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [victim[1]])
    for chunk_size in (1, 2, 3, 5000):
        result = verify_audit(chunk_size=chunk_size)
        assert [(p.stream, p.seq) for p in result.problems] == [("case:x07", 2)], chunk_size


# --- altered --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("assignment", [
    "data = '{\"n\": 99}'::jsonb",
    "data = data || '{\"extra\": 1}'::jsonb",
    "action = 'case.routed'",
    "actor_name = 'mallory'",
    "actor_id = '999'",
    "actor_type = 'user'",
    "target_id = '2'",
    "request_id = 'forged'",
    "ip = '10.0.0.1'",
    "created_at = created_at + interval '1 microsecond'",
    "created_at = created_at - interval '1 day'",
])
def test_altered_event_is_named(trail, assignment):
    victim = trail[CASE][2]
    with tampering() as cursor:
        cursor.execute(f"UPDATE audit_auditevent SET {assignment} WHERE id = %s", [victim])
    assert_broken(names_event=victim, contains=["content was altered", "'case:1' seq 3"])


@pytest.mark.parametrize("position", [0, 2, 4])
def test_altered_and_rehashed_event_breaks_the_link_to_it(trail, position):
    """Re-computing the altered event's own hash moves the break to the next
    event, or for the last event to the stream head and the checkpoint."""
    victim = AuditEvent.objects.get(pk=trail[CASE][position])
    forged = forged_fields(CASE, victim.seq, victim.prev_hash, created_at=victim.created_at, data={"n": 42})
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET data = '{\"n\": 42}'::jsonb, action = %s, actor_type = %s, "
                       "actor_id = %s, actor_name = %s, hash = %s WHERE id = %s",
                       [forged["action"], forged["actor_type"], forged["actor_id"], forged["actor_name"],
                        forged["hash"], victim.pk])
    if position < 4:
        assert_broken(names_event=trail[CASE][position + 1], contains=["does not chain"])
    else:
        assert_broken(names_event=victim.pk, contains=["differs from the stream head"])
        AuditStreamHead.objects.filter(stream=CASE).update(hash=forged["hash"])  # the head is not evidence
        assert_broken(names_event=victim.pk, contains=["differs from the hash recorded in checkpoint 1"])


def test_altered_prev_hash_is_named(trail):
    victim = trail[CONFIG_STREAM][1]
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET prev_hash = %s WHERE id = %s", [GENESIS, victim])
    assert_broken(names_event=victim, contains=["does not chain"])


def test_event_moved_to_another_stream_is_noticed(trail):
    victim = trail[CASE][4]
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET stream = 'case:2', seq = 3 WHERE id = %s", [victim])
    assert_broken(names_event=victim)


# --- removed --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("position", [0, 1, 3])
def test_removed_event_in_the_middle_names_the_event_after_the_gap(trail, position):
    with tampering() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [trail[CASE][position]])
    assert_broken(names_event=trail[CASE][position + 1], contains=[f"expected seq {position + 1}"])


def test_removed_last_event_of_a_checkpointed_stream(trail):
    with tampering() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [trail[CASE][-1]])
    assert_broken(contains=["'case:1' seq 5", "last event(s) were removed"])
    # Rewinding the head too (it is a plain table) does not hide it: checkpoint 1 recorded seq 5.
    tail = AuditEvent.objects.get(pk=trail[CASE][-2])
    AuditStreamHead.objects.filter(stream=CASE).update(seq=tail.seq, hash=tail.hash)
    assert_broken(contains=["'case:1' seq 5", "recorded in checkpoint 1 but missing"])


def test_removed_last_events_after_the_checkpoint_are_caught_by_the_head(trail):
    record(CASE)
    record(CASE)
    with tampering() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE stream = %s AND seq >= 6", [CASE])
    assert_broken(contains=["'case:1' seq 7", "ends at seq 5"])


@pytest.mark.parametrize("also_remove_head", [False, True])
def test_removed_whole_stream(trail, also_remove_head):
    with tampering() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE stream = 'case:2'")
        if also_remove_head:
            cursor.execute("DELETE FROM audit_auditstreamhead WHERE stream = 'case:2'")
    assert_broken(contains=["'case:2' seq 2", "recorded in checkpoint 1 but missing"])


def test_removed_whole_stream_before_any_checkpoint_is_caught_by_its_head(trail):
    record("case:3", action="case.opened", new_stream=True)
    with tampering() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE stream = 'case:3'")
    assert_broken(contains=["'case:3' seq 1", "the stream was removed"])


# --- re-ordered -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("first", [0, 2, 3])
def test_swapped_events_are_named(trail, first):
    a, b = trail[CASE][first], trail[CASE][first + 1]
    with tampering() as cursor:  # through a temporary seq, past the unique (stream, seq) constraint
        cursor.execute("UPDATE audit_auditevent SET seq = -seq WHERE id = %s", [a])
        cursor.execute("UPDATE audit_auditevent SET seq = seq - 1 WHERE id = %s", [b])
        cursor.execute("UPDATE audit_auditevent SET seq = 1 - seq WHERE id = %s", [a])
    assert list(AuditEvent.objects.filter(pk__in=[a, b]).order_by("seq").values_list("pk", flat=True)) == [b, a]
    assert_broken(names_event=b, contains=[f"seq {first + 1}"])


def test_swapped_events_with_deferred_constraint(trail):
    a, b = trail[CONFIG_STREAM][0], trail[CONFIG_STREAM][1]
    with tampering() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DROP CONSTRAINT audit_event_stream_seq_unique")
        cursor.execute("UPDATE audit_auditevent SET seq = CASE id WHEN %s THEN 2 ELSE 1 END WHERE id IN (%s, %s)", [a, a, b])
        cursor.execute("ALTER TABLE audit_auditevent ADD CONSTRAINT audit_event_stream_seq_unique "
                       "UNIQUE (stream, seq, created_at)")  # the partition key is part of every unique index
    assert_broken(names_event=b, contains=["'config' seq 1", "does not chain"])


# --- inserted -------------------------------------------------------------------------------------------------------


def test_forged_event_inserted_in_the_middle_by_renumbering(trail):
    """Make room at seq 3 by shifting the later events up, insert a forged event
    that links correctly to seq 2: the original seq 3 no longer links."""
    before = AuditEvent.objects.get(stream=CASE, seq=2)
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET seq = -(seq + 1) WHERE stream = %s AND seq >= 3", [CASE])
        cursor.execute("UPDATE audit_auditevent SET seq = -seq WHERE stream = %s AND seq < 0", [CASE])
        forged = insert_event(forged_fields(CASE, 3, before.hash))
    assert AuditEvent.objects.get(pk=trail[CASE][2]).seq == 4
    err = assert_broken(names_event=trail[CASE][2], contains=["'case:1' seq 4", "does not chain"])
    assert f"event id={forged} " not in err  # the forged event itself links and hashes correctly


def test_forged_stream_tail_rewritten_consistently_is_caught_by_head_and_checkpoint(trail):
    """Insert at seq 3 and re-hash every later event so the chain itself is
    perfect: the stream now ends past its head and past checkpoint 1."""
    events = list(AuditEvent.objects.filter(stream=CASE).order_by("seq"))
    rewritten, prev = [], events[1].hash
    for seq, original in enumerate([None] + events[2:], start=3):
        if original is None:
            fields = forged_fields(CASE, seq, prev)
        else:
            fields = forged_fields(CASE, seq, prev, action=original.action, actor_type=original.actor_type,
                                   actor_id=original.actor_id, actor_name=original.actor_name, data=original.data,
                                   created_at=original.created_at)
        rewritten.append(fields)
        prev = fields["hash"]
    with tampering() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE stream = %s AND seq >= 3", [CASE])
        for fields in rewritten:
            insert_event(fields)
    assert verify_audit(stop_at_first=False).problems
    assert_broken(contains=["'case:1' seq 6", "appended after the stream head (seq 5)"])
    # Moving the head along does not help: checkpoint 1 recorded a different seq 5.
    AuditStreamHead.objects.filter(stream=CASE).update(seq=6, hash=prev)
    assert_broken(contains=["'case:1' seq 5", "differs from the hash recorded in checkpoint 1"])


@pytest.mark.parametrize("checkpointed", [False, True])
def test_forged_event_appended_at_the_end_with_a_correct_hash(trail, checkpointed):
    if not checkpointed:
        record(CASE)
    last = AuditEvent.objects.filter(stream=CASE).latest("seq")
    with tampering():
        forged = insert_event(forged_fields(CASE, last.seq + 1, last.hash))
    assert_broken(names_event=forged, contains=[f"seq {last.seq + 1}", "appended after the stream head"])


def test_forged_stream_without_a_head_is_named(trail):
    first = forged_fields("case:99", 1, GENESIS)
    second = forged_fields("case:99", 2, first["hash"])
    with tampering():
        insert_event(first)
        last = insert_event(second)
    assert_broken(names_event=last, contains=["'case:99' seq 2", "no head"])


# --- checkpoints ----------------------------------------------------------------------------------------------------


@pytest.fixture
def three_checkpoints(trail):
    record(CASE)
    audit_checkpoint_create()
    record(CONFIG_STREAM, action="policy.changed")
    audit_checkpoint_create()
    return list(AuditCheckpoint.objects.order_by("number"))


@pytest.mark.parametrize("assignment", [
    "heads = heads - 'case:2'",
    "heads = jsonb_set(heads, '{case:1,0}', '4')",
    "created_at = created_at + interval '1 second'",
    "number = 7",
    "hash = repeat('a', 64)",
])
def test_altered_checkpoint_is_noticed(three_checkpoints, assignment):
    with tampering() as cursor:
        cursor.execute(f"UPDATE audit_auditcheckpoint SET {assignment} WHERE number = 1")
    assert_broken(contains=["checkpoint"])


def test_altered_and_rehashed_checkpoint_breaks_the_checkpoint_chain(three_checkpoints):
    cp = three_checkpoints[1]
    heads = {**cp.heads, CASE: [5, cp.heads[CASE][1]]}
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditcheckpoint SET heads = %s::jsonb, hash = %s WHERE id = %s", [
            json.dumps(heads),
            checkpoint_hash(number=cp.number, created_at=cp.created_at, heads=heads, prev_hash=cp.prev_hash,
                            key_id=cp.key_id), cp.pk])
    assert_broken(contains=["checkpoint 3 does not chain to checkpoint 2"])


def test_removed_checkpoint_is_noticed(three_checkpoints):
    with tampering() as cursor:
        cursor.execute("DELETE FROM audit_auditcheckpoint WHERE number = 2")
    assert_broken(contains=["checkpoint 2 is missing"])


@pytest.fixture(params=["postgresql", "portable"])
def both_code_paths(request, monkeypatch):
    """Runs a test on the PostgreSQL queries and on the portable ones (SQLite)."""
    if request.param == "portable":
        monkeypatch.setattr(verify_module, "_on_postgresql", lambda: False)
    return request.param


def test_checkpoint_cross_check_on_both_code_paths(trail, both_code_paths):
    for n in range(7):
        record(f"case:y{n}", action="case.opened", new_stream=True)
        audit_checkpoint_create()
    assert verify_audit(chunk_size=3).ok
    removed, altered = AuditEvent.objects.get(stream="case:y2"), AuditEvent.objects.get(stream="case:y5")
    forged = forged_fields("case:y5", 1, GENESIS, created_at=altered.created_at, action=altered.action,
                           actor_type=altered.actor_type, actor_id=altered.actor_id, data=altered.data)
    with tampering() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [removed.pk])
        cursor.execute("DELETE FROM audit_auditstreamhead WHERE stream = 'case:y2'")
        cursor.execute("UPDATE audit_auditevent SET actor_name = %s, hash = %s WHERE id = %s",
                       [forged["actor_name"], forged["hash"], altered.pk])
    AuditStreamHead.objects.filter(stream="case:y5").update(hash=forged["hash"])
    problems = [str(p) for p in verify_audit(stop_at_first=False, chunk_size=3).problems]
    assert problems == [
        "(stream 'case:y2' seq 1) recorded in checkpoint 4 but missing: the event or its whole stream was removed",
        f"event id={altered.pk} (stream 'case:y5' seq 1) differs from the hash recorded in checkpoint 7",
    ]


@pytest.mark.parametrize("heads", ['{"case:1": "nonsense"}', '[1, 2]', '"x"', '{"case:1": ["x", "y"]}', '{"case:1": [5]}',
                                   '{"case:1": [5, "h", 1]}', '{"case:1": {"0": 5, "1": "h"}}', '{"case:1": [1e400, "h"]}',
                                   '{"case:1": [5.0, "h"]}', '{"case:1": [true, "h"]}', '{"case:1": [1e30, "h"]}'])
def test_malformed_checkpoint_heads_are_reported_not_crashed_on(three_checkpoints, heads, both_code_paths):
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditcheckpoint SET heads = %s::jsonb WHERE number = 1", [heads])
    problems = [str(p) for p in verify_audit(stop_at_first=False).problems]
    assert "checkpoint 1 has malformed heads" in problems
    assert not any("recorded in checkpoint 1" in p for p in problems)


# --- reporting ------------------------------------------------------------------------------------------------------


def test_all_lists_every_problem(trail):
    altered, after_gap = trail[CASE][1], trail[CONFIG_STREAM][2]
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET actor_name = 'x' WHERE id = %s", [altered])
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [trail[CONFIG_STREAM][1]])
    ok, _out, err, message = run_verify("--all")
    assert not ok
    assert f"event id={altered} " in err and f"event id={after_gap} " in err
    assert "problem(s)" in message
    ok, _out, err, _message = run_verify()
    assert not ok and len(err.strip().splitlines()) == 1


# --- real processes and concurrent writers --------------------------------------------------------------------------


def _manage(*args):
    db = connection.settings_dict
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.test_settings",
               DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}")
    return subprocess.run([sys.executable, "manage.py", *args], cwd=Path(settings.BASE_DIR), env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.django_db(transaction=True)
def test_command_exit_codes():
    record(CASE, action="case.opened", new_stream=True)
    record(CASE)
    audit_checkpoint_create()
    intact = _manage("verify_audit")
    assert intact.returncode == 0, intact.stderr
    assert "audit trail intact: 2 events in 1 streams, 1 checkpoints" in intact.stdout
    victim = ids(CASE)[0]
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET data = '{}'::jsonb WHERE id = %s", [victim])
    broken = _manage("verify_audit")
    assert broken.returncode == 1
    assert f"event id={victim} " in broken.stderr and "content was altered" in broken.stderr


@pytest.mark.django_db(transaction=True)
def test_writers_committing_during_verification_are_not_mistaken_for_tampering(monkeypatch):
    """verify_audit reads one snapshot: events, checkpoints and heads that
    writers commit while it walks are all invisible to it."""
    for stream in ("case:a", "case:m", "case:z"):
        record(stream, action="case.opened", new_stream=True)
        record(stream)
    audit_checkpoint_create()
    original, calls = verify_module.hash_of_event, []

    def hash_while_others_write(event, *args):
        if not calls:
            def write():
                with transaction.atomic():
                    record("case:a")
                    record("case:z")
                    record("case:new", action="case.opened", new_stream=True)
                audit_checkpoint_create()
            writer = Worker(write)
            writer.start()
            writer.value()
        calls.append(event.pk)
        return original(event, *args)

    monkeypatch.setattr(verify_module, "hash_of_event", hash_while_others_write)
    result = verify_audit()
    assert result.ok, [str(p) for p in result.problems]
    assert (result.events, result.checkpoints) == (6, 1)
    monkeypatch.undo()
    assert verify_audit().ok and AuditEvent.objects.count() == 9
