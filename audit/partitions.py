"""Monthly partitions of the audit events (PostgreSQL) and their archiving.

`partitions_ensure` makes the partitions of this month and the next ones
(idempotent; a default partition catches anything else, so an insert never
fails). `partition_archive` exports one closed, fully checkpointed month to a
self-verifying JSON-lines file (see `audit.offline.verify_archive`), records
where each of its streams ends (`AuditArchiveEnd`: where the live chain
continues) and an `audit.partition_archived` event, then detaches the
partition and optionally drops it — one transaction, after the export has
been verified. docs/operations.md, "Audit partitions and archives".
"""

import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from .context import Actor
from .hashing import GENESIS, archive_seal_hash
from .keys import keyring
from .models import AuditAction, AuditArchive, AuditArchiveEnd, AuditCheckpoint
from .offline import archive_line, verify_archive
from .services import SYSTEM_STREAM, audit_record

PARENT = "audit_auditevent"
DEFAULT_PARTITION = "audit_auditevent_default"
_NAME = re.compile(r"^audit_auditevent_p(\d{4})(\d{2})$")
_BOUNDS = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")
# A month is closed once this long has passed since it ended: an event's time is taken before its INSERT.
ARCHIVE_GRACE = timedelta(days=1)
# Serializes archivers (pg_advisory_xact_lock), "QArchive".
_ARCHIVE_LOCK_KEY = 0x5141726368697665
ARCHIVE_FORMAT = "quorum-audit-archive/1"


class PartitionError(Exception):
    """Why a partition cannot be archived (or partitions cannot be managed here)."""


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime | None  # None for the default partition
    end: datetime | None
    rows: int  # estimate (pg_class.reltuples), -1 when never analysed


def _require_postgresql() -> None:
    if connection.vendor != "postgresql":
        raise PartitionError("audit partitions exist on PostgreSQL only (SQLite keeps one plain table)")


def partitions_ensure(months_ahead: int = 2) -> list[str]:
    """Creates the partitions of the current month and `months_ahead` more
    (UTC months) that do not exist yet; returns their names. Idempotent."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT quorum_audit_partitions_ensure(%s)", [months_ahead])
        return [row[0] for row in cursor.fetchall()]


def partitions_list() -> list[Partition]:
    """The attached partitions, oldest first, the default partition last."""
    _require_postgresql()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), c.reltuples::bigint FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass", [PARENT])
        rows = cursor.fetchall()
    partitions = []
    for name, bound, tuples in rows:
        match = _BOUNDS.search(bound or "")
        start = end = None
        if match:
            start, end = (datetime.fromisoformat(match.group(i)).astimezone(UTC) for i in (1, 2))
        partitions.append(Partition(name=name, start=start, end=end, rows=tuples))
    return sorted(partitions, key=lambda p: (p.start is None, p.start or datetime.min.replace(tzinfo=UTC)))


def _sha256_lines(rows) -> str:
    digest = hashlib.sha256()
    for row in rows:
        digest.update((json.dumps(list(row), ensure_ascii=False, separators=(",", ":")) + "\n").encode())
    return digest.hexdigest()


def ends_digest(ends) -> str:
    """SHA-256 of [stream, seq, hash] lines sorted by stream (code point order):
    what the `audit.partition_archived` event records of an archive's ends."""
    return _sha256_lines(sorted((s, q, h) for s, q, h in ends))


def latest_ends(streams: list[str]) -> dict[str, tuple[int, str]]:
    """{stream: (seq, hash)} of the last archived event of each of `streams`
    that has archived events: where its live chain continues."""
    if not streams:
        return {}
    rows = (AuditArchiveEnd.objects.filter(stream__in=streams).order_by("stream", "-archive__number")
            .values_list("stream", "seq", "hash"))
    ends: dict[str, tuple[int, str]] = {}
    for stream, seq, hash_ in rows:
        ends.setdefault(stream, (seq, hash_))
    return ends


def archived_streams(streams) -> set[str]:
    """Those of `streams` whose beginning is in an archive (for completeness checks)."""
    return set(AuditArchiveEnd.objects.filter(stream__in=list(streams)).values_list("stream", flat=True))


def _refuse(message: str) -> None:
    raise PartitionError(message)


def partition_archive(name: str, *, out_dir: str | os.PathLike, actor: Actor, drop: bool = False,
                      now: datetime | None = None) -> AuditArchive:
    """Exports partition `name` with the checkpoints covering it to
    `out_dir/<name>.jsonl`, verifies the file, records the archive and its
    ends, audits it, and detaches (with `drop`, drops) the partition. Refuses
    (PartitionError, nothing written) a partition that is not a monthly one,
    is still current, has an older partition still attached, has events of
    its month in the default partition, is not fully checkpointed, or whose
    streams continue with earlier positions in later partitions. Must run as
    the owner of the table (DETACH); the application role may not."""
    _require_postgresql()
    if not _NAME.match(name):
        _refuse(f"{name!r} is not a monthly audit partition (audit_auditevent_pYYYYMM)")
    now = now or timezone.now()
    out = Path(out_dir)
    if not out.is_dir():
        _refuse(f"archive directory {str(out)!r} does not exist")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class WHERE oid = %s::regclass",
                           [PARENT])
            if not cursor.fetchone()[0]:
                _refuse("detaching a partition needs the table owner's role (the DATABASE_URL that runs migrate), "
                        "not the application role")
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ARCHIVE_LOCK_KEY])
        partitions = partitions_list()
        this = next((p for p in partitions if p.name == name), None)
        if this is None or this.start is None:
            _refuse(f"{name!r} is not an attached audit partition")
        if this.end > now - ARCHIVE_GRACE:
            _refuse(f"{name} is still current: its month ends {this.end.isoformat()}, and a partition is archived "
                    f"{ARCHIVE_GRACE.days} day(s) after that at the earliest")
        older = [p.name for p in partitions if p.start is not None and p.start < this.start]
        if older:
            _refuse(f"{older[0]} is older and still attached: archive partitions oldest first")
        with connection.cursor() as cursor:
            # From here on no one writes into this month (SHARE blocks INSERT) while it is exported.
            cursor.execute(f'LOCK TABLE "{name}" IN SHARE MODE')
            cursor.execute(f"SELECT count(*) FROM {DEFAULT_PARTITION} WHERE created_at < %s", [this.end])
            if cursor.fetchone()[0]:
                _refuse(f"the default partition holds events older than {this.end.isoformat()}: create their "
                        f"month's partition first (manage.py audit_partitions moves them)")
            cursor.execute(_UNCHECKPOINTED.format(part=name))
            missing = cursor.fetchall()
            if missing:
                listed = ", ".join(f"{s} up to seq {q} (checkpointed: {c or 'none'})" for s, q, c in missing)
                _refuse(f"{name} is not fully checkpointed: {listed}; take a checkpoint "
                        f"(archive_partition --checkpoint, or wait for the checkpoint task) and try again")
            cursor.execute(_CONTINUES_EARLIER.format(part=name))
            odd = cursor.fetchone()
            if odd:
                _refuse(f"stream {odd[0]!r} has seq {odd[1]} outside {name} but before its last event there: "
                        f"its events are not in time order, so this month cannot be archived on its own")
        path = out / f"{name}.jsonl"
        tmp = out / f".{name}.jsonl.partial"
        written: list[Path] = []
        try:
            return _export_record_detach(name, this, tmp, path, actor=actor, drop=drop, now=now, written=written)
        except BaseException:
            # Nothing half-written: no file is left for an archive the database does not record.
            tmp.unlink(missing_ok=True)
            for leftover in written:
                leftover.unlink(missing_ok=True)
            raise


def _export_record_detach(name: str, this: Partition, tmp: Path, path: Path, *, actor: Actor, drop: bool,
                          now: datetime, written: list[Path]) -> AuditArchive:
    summary = _export(name, this, tmp)
    with open(tmp, encoding="utf-8") as handle:
        result = verify_archive(handle, source=str(tmp))
    if not result.ok:
        _refuse(f"the export of {name} does not verify: {result.problems[0]}")
    os.replace(tmp, path)
    written.append(path)
    last = AuditArchive.objects.order_by("-number").values_list("number", flat=True).first() or 0
    archive = AuditArchive.objects.create(
        number=last + 1, partition=name, range_start=this.start, range_end=this.end, archived_at=now,
        events=summary["events"], streams=summary["streams"], file_name=path.name,
        file_sha256=summary["file_sha256"], ends_sha256=summary["ends_sha256"], dropped=drop,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {AuditArchiveEnd._meta.db_table} (archive_id, stream, seq, hash) "
            f'SELECT DISTINCT ON (stream) %s, stream, seq, hash FROM "{name}" ORDER BY stream, seq DESC',
            [archive.pk])
    audit_record(stream=SYSTEM_STREAM, action=AuditAction.PARTITION_ARCHIVED, actor=actor,
                 target_type="audit_partition", target_id=name, data=archive_event_data(archive, summary))
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE {PARENT} DETACH PARTITION "{name}"')
        if drop:
            cursor.execute(f'DROP TABLE "{name}"')
    return archive


def archive_event_data(archive: AuditArchive, summary: dict) -> dict:
    return {
        "number": archive.number, "partition": archive.partition,
        "range_start": archive.range_start.isoformat(), "range_end": archive.range_end.isoformat(),
        "events": archive.events, "streams": archive.streams, "file_sha256": archive.file_sha256,
        "ends_sha256": archive.ends_sha256, "dropped": archive.dropped,
        "first_checkpoint": summary["first_checkpoint"], "last_checkpoint": summary["last_checkpoint"],
    }


def _event_line(row) -> dict:
    (pk, stream, seq, action, actor_type, actor_id, actor_name, target_type, target_id, data, request_id, ip,
     created_at, prev_hash, hash_, key_id) = row
    return {
        "type": "event", "id": pk, "stream": stream, "seq": seq, "action": action,
        "actor": {"type": actor_type, "id": actor_id, "name": actor_name},
        "target": {"type": target_type, "id": target_id}, "data": data, "request_id": request_id, "ip": ip,
        "created_at": created_at.isoformat(timespec="microseconds"), "prev_hash": prev_hash, "hash": hash_,
        "key_id": key_id,
    }


def _stream_rows(sql: str, params=()) -> Iterator[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(2000):
            yield from rows


def _export(name: str, this: Partition, path: Path) -> dict:
    """Writes the archive file: a header, where each stream starts (the
    previous archive's end, or seq 0), the checkpoints from the first that
    records a position in this month to the last needed to cover it, then
    the events by stream and seq. Returns counts and digests."""
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT DISTINCT stream FROM "{name}"')
        streams = sorted(row[0] for row in cursor.fetchall())
        cursor.execute(_CHECKPOINT_RANGE.format(part=name))
        first_cp, last_cp = cursor.fetchone()
    starts = latest_ends(streams)
    digest = hashlib.sha256()
    ends: list[tuple[str, int, str]] = []
    events = 0
    with open(path, "w", encoding="utf-8") as handle:
        def write(record):
            line = archive_line(record)
            digest.update(line.encode())
            handle.write(line)

        first_prev = AuditCheckpoint.objects.filter(number=first_cp).values_list("prev_hash", flat=True).first()
        write({"type": "header", "format": ARCHIVE_FORMAT, "partition": name,
               "range_start": this.start.isoformat(), "range_end": this.end.isoformat(),
               "first_checkpoint": first_cp, "last_checkpoint": last_cp,
               "first_checkpoint_prev_hash": first_prev or GENESIS})
        for stream in streams:
            seq, hash_ = starts.get(stream, (0, GENESIS))
            write({"type": "start", "stream": stream, "seq": seq, "hash": hash_})
        for cp in AuditCheckpoint.objects.filter(number__gte=first_cp, number__lte=last_cp).order_by("number") \
                .iterator(chunk_size=200):
            write({"type": "checkpoint", "number": cp.number, "created_at": cp.created_at.isoformat(timespec="microseconds"),
                   "heads": cp.heads, "prev_hash": cp.prev_hash, "hash": cp.hash, "key_id": cp.key_id})
        previous = None
        for row in _stream_rows(
                "SELECT id, stream, seq, action, actor_type, actor_id, actor_name, target_type, target_id, data, "
                f'request_id, ip, created_at, prev_hash, hash, key_id FROM "{name}" ORDER BY stream COLLATE "C", seq'):
            record = _event_line(row)
            if isinstance(record["data"], str):
                record["data"] = json.loads(record["data"])
            write(record)
            events += 1
            if previous is not None and previous[0] != record["stream"]:
                ends.append(previous)
            previous = (record["stream"], record["seq"], record["hash"])
        if previous is not None:
            ends.append(previous)
        ring = keyring()
        seal = {"type": "seal", "events": events, "streams": len(streams), "key_id": ring.current_id}
        seal["hash"] = archive_seal_hash(content_sha256=digest.hexdigest(), events=events, streams=len(streams),
                                         key_id=ring.current_id, keyring=ring)
        write(seal)
        handle.flush()
        os.fsync(handle.fileno())
    return {"events": events, "streams": len(streams), "file_sha256": digest.hexdigest(),
            "ends_sha256": ends_digest(ends), "first_checkpoint": first_cp, "last_checkpoint": last_cp}


# Checkpoint entries as rows, malformed ones skipped (verify_audit reports them).
_ENTRIES = """
SELECT cp.number, h.key AS stream, (h.value ->> 0)::bigint AS seq
FROM audit_auditcheckpoint cp,
     jsonb_each(CASE WHEN jsonb_typeof(cp.heads) = 'object' THEN cp.heads ELSE '{{}}'::jsonb END) AS h
WHERE jsonb_typeof(h.value -> 0) = 'number' AND (h.value ->> 0) ~ '^-?[0-9]{{1,18}}$'
"""

# Streams whose last event in the partition no checkpoint has recorded (at or after it).
_UNCHECKPOINTED = """
WITH p AS (SELECT stream, max(seq) AS seq FROM "{part}" GROUP BY stream),
entries AS (""" + _ENTRIES + """),
c AS (SELECT stream, max(seq) AS seq FROM entries WHERE stream IN (SELECT stream FROM p) GROUP BY stream)
SELECT p.stream, p.seq, c.seq FROM p LEFT JOIN c ON c.stream = p.stream
WHERE c.seq IS NULL OR c.seq < p.seq ORDER BY p.stream LIMIT 5
"""

# An event of a stream outside the partition at a position before the stream's last one inside it.
_CONTINUES_EARLIER = """
WITH p AS (SELECT stream, max(seq) AS seq FROM "{part}" GROUP BY stream)
SELECT e.stream, e.seq FROM audit_auditevent e JOIN p ON p.stream = e.stream
WHERE e.seq < p.seq AND e.tableoid <> '"{part}"'::regclass LIMIT 1
"""

# The first checkpoint recording a position of this month (after the stream's start) and the first
# checkpoint by which every stream's last position in this month was recorded.
_CHECKPOINT_RANGE = """
WITH p AS (SELECT stream, min(seq) AS lo, max(seq) AS hi FROM "{part}" GROUP BY stream),
entries AS (""" + _ENTRIES + """),
covering AS (SELECT p.stream, min(e.number) FILTER (WHERE e.seq >= p.lo) AS first,
                    min(e.number) FILTER (WHERE e.seq >= p.hi) AS last
             FROM p JOIN entries e ON e.stream = p.stream GROUP BY p.stream)
SELECT coalesce(min(first), 0), coalesce(max(last), 0) FROM covering
"""
