"""Monthly partitions of the audit events (PostgreSQL), archiving a closed
month to a file that verifies on its own, and the live chain continuing from
the archive (G5, audit/partitions.py, docs/operations.md)."""

import importlib
import time
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from audit.context import Actor
from audit.models import AuditArchive, AuditArchiveEnd, AuditEvent, AuditStreamHead
from audit.partitions import PartitionError, partition_archive, partitions_ensure, partitions_list
from audit.services import CONFIG_STREAM, audit_checkpoint_create
from audit.verify import verify_audit, verify_stream
from tests.dbroles import as_owner

from .conftest import record, run_verify

pytestmark = pytest.mark.django_db

OCTOBER = datetime(2026, 10, 15, 12, 0, tzinfo=UTC)
ACTOR = Actor.system("tests")


def _partition_of(event_id):
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM audit_auditevent WHERE id = %s", [event_id])
        return cursor.fetchone()[0]


def _attached():
    with connection.cursor() as cursor:
        cursor.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                       "WHERE i.inhparent = 'audit_auditevent'::regclass")
        return {row[0] for row in cursor.fetchall()}


def _make_month(year, month):
    with connection.cursor() as cursor:
        cursor.execute("SELECT quorum_audit_partition_create(%s, %s)", [year, month])
        return cursor.fetchone()[0]


@pytest.fixture
def at(monkeypatch):
    """Makes the audit layer's clock read a given time (events get their time from it)."""
    real_now = timezone.now

    def set_time(moment):
        if moment is None:
            monkeypatch.setattr(timezone, "now", real_now)
        else:
            monkeypatch.setattr(timezone, "now", lambda: moment)
    return set_time


def test_an_event_lands_in_its_months_partition_and_unknown_months_in_the_default():
    event = record(CONFIG_STREAM)
    now = timezone.now()
    assert _partition_of(event.pk) == f"audit_auditevent_p{now:%Y%m}"
    # A time with no partition yet (far ahead) still inserts: the default partition takes it.
    with as_owner() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditevent (stream, seq, action, actor_type, actor_id, actor_name, target_type, "
            "target_id, data, request_id, ip, created_at, prev_hash, hash) VALUES ('x', 1, 'case.opened', 'system', "
            "'', 't', 'case', '1', '{}', '', '', '2031-05-02T00:00:00Z', '0', '0') RETURNING id")
        far = cursor.fetchone()[0]
    assert _partition_of(far) == "audit_auditevent_default"
    # Making that month's partition moves the row out of the default partition, keeping it.
    assert _make_month(2031, 5) == "audit_auditevent_p203105"
    assert _partition_of(far) == "audit_auditevent_p203105"
    assert _make_month(2031, 5) is None  # idempotent


def test_the_application_role_makes_partitions_ahead_idempotently():
    # The beat task runs as the application role, which may not CREATE TABLE: the SECURITY DEFINER function does.
    names = partitions_ensure(5)
    now = timezone.now().replace(day=1)
    expected = []
    for i in range(3, 6):
        month = (now.month - 1 + i) % 12 + 1
        year = now.year + (now.month - 1 + i) // 12
        expected.append(f"audit_auditevent_p{year:04d}{month:02d}")
    assert names == expected
    assert partitions_ensure(5) == []
    listed = [p.name for p in partitions_list()]
    assert listed[-1] == "audit_auditevent_default" and set(expected) <= set(listed)
    out = StringIO()
    call_command("audit_partitions", "--months-ahead", "5", stdout=out)
    assert "created" not in out.getvalue() and expected[-1] in out.getvalue()
    with pytest.raises(CommandError, match="--months-ahead"):
        call_command("audit_partitions", "--months-ahead", "-1")


def test_the_migration_converts_a_table_that_holds_data_without_losing_rows():
    """The partitioning migration's SQL, run on a plain table holding events of
    several months (made by its own reverse), keeps every row, id and hash, and
    the trail still verifies; all rolled back afterwards."""
    migration = importlib.import_module("audit.migrations.0016_partition_audit_events")
    first = record(CONFIG_STREAM)
    record(CONFIG_STREAM)
    audit_checkpoint_create()

    class Undo(Exception):
        pass

    with pytest.raises(Undo), as_owner() as cursor:
        cursor.execute(migration.REVERSE)
        cursor.execute("SELECT count(*) FROM pg_partitioned_table")
        assert cursor.fetchone()[0] == 0
        # Older events in a plain table (as before the migration), written around the trigger like a restore.
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        cursor.execute(
            "INSERT INTO audit_auditevent (stream, seq, action, actor_type, actor_id, actor_name, target_type, "
            "target_id, data, request_id, ip, created_at, prev_hash, hash) SELECT 'old:' || g, 1, 'case.opened', "
            "'system', '', 't', 'case', g::text, '{}', '', '', now() - make_interval(days => g * 20), '0', '0' "
            "FROM generate_series(1, 12) g")
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")
        cursor.execute("SELECT count(*), sum(hashtext(stream || seq || hash)), max(id) FROM audit_auditevent")
        before = cursor.fetchone()
        cursor.execute(migration.CONVERT)
        cursor.execute(migration.FUNCTIONS)
        cursor.execute(migration.FILL)
        cursor.execute("SELECT count(*), sum(hashtext(stream || seq || hash)), max(id) FROM audit_auditevent")
        assert cursor.fetchone() == before
        cursor.execute("SELECT count(DISTINCT tableoid) FROM audit_auditevent WHERE stream LIKE 'old:%%'")
        assert cursor.fetchone()[0] >= 8  # 12 events 20 days apart: spread over 8 or 9 months
        cursor.execute("SELECT count(*) FROM audit_auditevent_default")
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT tableoid::regclass::text FROM audit_auditevent WHERE id = %s", [first.pk])
        assert cursor.fetchone()[0] == f"audit_auditevent_p{first.created_at:%Y%m}"
        # The identity continues after the copied ids; UPDATE and TRUNCATE are refused again.
        cursor.execute(
            "INSERT INTO audit_auditevent (stream, seq, action, actor_type, actor_id, actor_name, target_type, "
            "target_id, data, request_id, ip, created_at, prev_hash, hash) VALUES ('n', 1, 'case.opened', 'system', "
            "'', 't', 'case', '1', '{}', '', '', now(), '0', '0') RETURNING id")
        assert cursor.fetchone()[0] > before[2]
        for statement in ("UPDATE audit_auditevent SET hash = 'x'", "TRUNCATE audit_auditevent"):
            cursor.execute("SAVEPOINT s")
            with pytest.raises(Exception, match="append-only"):
                cursor.execute(statement)
            cursor.execute("ROLLBACK TO SAVEPOINT s")
        raise Undo
    assert verify_audit(completeness=False).ok


@pytest.fixture
def october(at):
    """A closed month (October 2026) holding two case streams and the config
    stream, checkpointed; case:a goes on into the current month."""
    assert _make_month(2026, 10) == "audit_auditevent_p202610"
    at(OCTOBER)
    record("case:a", action="case.opened", new_stream=True)
    record("case:a")
    record("case:b", action="case.opened", new_stream=True)
    record("case:b")
    record(CONFIG_STREAM)
    audit_checkpoint_create()
    at(None)
    record("case:a")  # seq 3, this month
    audit_checkpoint_create()
    return "audit_auditevent_p202610"


def _archive(name, tmp_path, **kwargs):
    with as_owner():
        return partition_archive(name, out_dir=tmp_path, actor=ACTOR, **kwargs)


def test_archive_exports_verifies_and_detaches_and_the_live_chain_continues(october, tmp_path):
    archive = _archive(october, tmp_path)
    assert (archive.number, archive.events, archive.streams, archive.dropped) == (1, 5, 3, False)
    assert october not in _attached()
    assert AuditEvent.objects.filter(stream="case:b").count() == 0
    assert list(AuditEvent.objects.filter(stream="case:a").values_list("seq", flat=True)) == [3]
    ends = set(AuditArchiveEnd.objects.values_list("stream", "seq"))
    assert ends == {("case:a", 2), ("case:b", 2), (CONFIG_STREAM, 1)}
    event = AuditEvent.objects.get(action="audit.partition_archived")
    assert (event.stream, event.target_id, event.actor_name, event.data["events"]) == (
        "system", october, "tests", 5)
    assert event.data["file_sha256"] == archive.file_sha256
    # The live trail verifies (streams continue from the archive's ends; case:b lives only in the archive)...
    ok, out, _err, message = run_verify()
    assert ok, message
    assert verify_stream("case:a").ok and verify_stream("case:b").ok
    # ...and so does the archive, offline, on its own.
    path = tmp_path / f"{october}.jsonl"
    ok, out, _err, message = run_verify("--archive", str(path))
    assert ok, message
    assert "archive intact: 5 events in 3 streams" in out and archive.file_sha256 in out
    # New events after the archive keep chaining.
    record("case:a")
    audit_checkpoint_create()
    assert verify_audit().ok


def _rewrite(path, change):
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(change(lines)) + "\n", encoding="utf-8")


@pytest.mark.parametrize("tamper, expected", [
    (lambda lines: [line.replace('"n": 1', '"n": 2') if '"case:b"' in line and '"seq": 2' in line else line
                    for line in lines], "content was altered"),
    (lambda lines: [line for line in lines if not ('"type": "event"' in line and '"case:a"' in line
                                                   and '"seq": 1' in line)], "expected seq 1"),
    (lambda lines: [line for line in lines if not ('"type": "event"' in line and '"case:b"' in line
                                                   and '"seq": 2' in line)], "seal does not match its content"),
    (lambda lines: [line for line in lines if '"type": "checkpoint"' not in line], "checkpoints are not"),
    (lambda lines: lines[:-1], "has no seal"),
])
def test_a_tampered_archive_fails_verification(october, tmp_path, tamper, expected):
    _archive(october, tmp_path)
    path = tmp_path / f"{october}.jsonl"
    _rewrite(path, tamper)
    ok, _out, err, message = run_verify("--archive", str(path), "--all")
    assert not ok
    assert expected in err + message


def test_a_forged_archive_end_is_caught_by_the_live_verification(october, tmp_path):
    _archive(october, tmp_path)
    with as_owner() as cursor:  # someone with database access hides where case:a really continues from
        cursor.execute("UPDATE audit_auditarchiveend SET hash = %s WHERE stream = 'case:a'", ["f" * 64])
    result = verify_audit(stop_at_first=False)
    messages = " | ".join(str(p) for p in result.problems)
    assert "does not chain to the last archived event" in messages
    assert "recorded ends of archive 1" in messages


def test_removing_the_archive_record_is_caught(october, tmp_path):
    _archive(october, tmp_path)
    with as_owner() as cursor:
        cursor.execute("DELETE FROM audit_auditarchiveend")
        cursor.execute("DELETE FROM audit_auditarchive")
    result = verify_audit(stop_at_first=False)
    messages = " | ".join(str(p) for p in result.problems)
    assert "archive 1 was recorded by its audit event but its record was removed" in messages
    assert "expected seq 1" in messages  # case:a now seems to start at seq 3


def test_refusals_write_nothing(october, tmp_path, at):
    current = f"audit_auditevent_p{timezone.now():%Y%m}"
    with pytest.raises(PartitionError, match="still current"):
        _archive(current, tmp_path)
    with pytest.raises(PartitionError, match="not a monthly audit partition"):
        _archive("audit_auditevent_default", tmp_path)
    with pytest.raises(PartitionError, match="not an attached audit partition"):
        _archive("audit_auditevent_p199001", tmp_path)
    # An older month still attached must go first.
    _make_month(2026, 9)
    with pytest.raises(PartitionError, match="audit_auditevent_p202609 is older"):
        _archive(october, tmp_path)
    # A late October event not yet checkpointed.
    at(datetime(2026, 9, 30, 23, 0, tzinfo=UTC))
    record("case:c", action="case.opened", new_stream=True)
    at(OCTOBER + timedelta(days=1))
    record("case:c")
    at(None)
    audit_checkpoint_create()
    archive_sept = _archive("audit_auditevent_p202609", tmp_path)
    assert archive_sept.events == 1
    at(OCTOBER + timedelta(days=2))
    record("case:b")
    at(None)
    with pytest.raises(PartitionError, match="not fully checkpointed: case:b up to seq 3"):
        _archive(october, tmp_path)
    # The application role cannot detach.
    with pytest.raises(PartitionError, match="table owner's role"):
        partition_archive(october, out_dir=tmp_path, actor=ACTOR)
    assert october in _attached()
    assert AuditArchive.objects.count() == 1 and not (tmp_path / f"{october}.jsonl").exists()
    # The command takes the checkpoint first when asked, archives, and the two archives verify together.
    with as_owner():
        out = StringIO()
        call_command("archive_partition", october, "--dir", str(tmp_path), "--checkpoint", "--drop", stdout=out)
    assert "archived audit_auditevent_p202610 as archive 2" in out.getvalue() and "dropped" in out.getvalue()
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('audit_auditevent_p202610')")
        assert cursor.fetchone()[0] is None
    ok, out, _err, message = run_verify("--archive", str(tmp_path / "audit_auditevent_p202609.jsonl"),
                                        "--archive", str(tmp_path / "audit_auditevent_p202610.jsonl"))
    assert ok, message
    assert verify_audit().ok


def test_a_month_whose_streams_go_back_in_time_is_refused(october, tmp_path, at):
    _make_month(2026, 11)
    at(datetime(2026, 11, 3, tzinfo=UTC))
    record("case:a")  # seq 4 dated November, after seq 3 dated this month (a clock gone wrong)
    at(None)
    audit_checkpoint_create()
    _archive(october, tmp_path)
    with pytest.raises(PartitionError, match="not in time order"):
        _archive("audit_auditevent_p202611", tmp_path)
    assert "audit_auditevent_p202611" in _attached()


@pytest.mark.django_db(transaction=True)
def test_archiving_while_writers_append_to_the_current_month(october, tmp_path):
    """Writers appending to live streams (case:a continues) while October is
    archived: every event ends up either archived or live, and both verify."""
    import threading

    from .conftest import Worker

    stop = threading.Event()

    def write():
        written = 0
        while not stop.is_set() and written < 200:
            with transaction.atomic():
                record("case:a")
                record(CONFIG_STREAM)
            written += 2
        return written

    writers = [Worker(write) for _ in range(2)]
    for worker in writers:
        worker.start()
    while AuditStreamHead.objects.get(stream="case:a").seq < 5 and any(w.is_alive() for w in writers):
        time.sleep(0.01)  # the writers are under way before the archive starts
    try:
        _archive(october, tmp_path, drop=True)  # committed: dropped, so that no later test finds it
    finally:
        stop.set()
    written = sum(worker.value() for worker in writers)
    audit_checkpoint_create()
    live = AuditEvent.objects.count()
    assert live == 1 + written + 1  # case:a seq 3, the writers' events, the archive's own event
    assert verify_audit().ok
    ok, _out, _err, message = run_verify("--archive", str(tmp_path / f"{october}.jsonl"))
    assert ok, message
    assert AuditStreamHead.objects.get(stream="case:a").seq == 3 + written // 2
