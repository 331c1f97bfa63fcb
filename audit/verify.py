"""Walks every hash chain and checkpoint and names the first problem.

Memory stays bounded whatever the size of the trail: every table is read with
a server-side cursor, and the cross-checks (checkpointed heads against events,
the end of each stream against its head) run in batches of `chunk_size`.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Subquery
from django.db.models.fields.json import KeyTransform

from .anchors import Anchor, index_anchors
from .hashing import GENESIS, checkpoint_hash, hash_of_event, hashes_equal
from .keys import AuditKeyring, keyring
from .models import AuditAction, AuditArchive, AuditArchiveEnd, AuditCheckpoint, AuditEvent, AuditStreamHead


@dataclass
class Problem:
    message: str
    event_id: int | None = None
    stream: str = ""
    seq: int | None = None

    def __str__(self) -> str:
        where = f"event id={self.event_id} " if self.event_id is not None else ""
        position = "" if not self.stream else (
            f"(stream {self.stream!r} seq {self.seq}) " if self.seq is not None else f"(stream {self.stream!r}) ")
        return f"{where}{position}{self.message}".strip()


@dataclass
class VerifyResult:
    events: int = 0
    streams: int = 0
    checkpoints: int = 0
    anchored: int = 0  # checkpoints matched against an anchor
    last_anchored: int | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# Checks that the layers above register (AppConfig.ready): each is called with
# chunk_size and yields Problems, e.g. "case X has no case.opened event".
CompletenessCheck = Callable[[int], Iterable[Problem]]
_completeness_checks: dict[str, CompletenessCheck] = {}


def register_completeness_check(name: str, check: CompletenessCheck) -> None:
    _completeness_checks[name] = check


def verify_audit(*, stop_at_first: bool = True, chunk_size: int = 5000, anchors: list[Anchor] | None = None,
                 keys: AuditKeyring | None = None, completeness: bool = True) -> VerifyResult:
    """Checks that every stream is gapless from seq 1, that every prev_hash
    links and every hash recomputes under its key (audit.keys), that the
    checkpoints chain and every (stream, seq, hash) they recorded exists,
    that each stream ends at its head, that every checkpoint agrees with the
    given `anchors` (audit.anchors.Anchor; none missing, none altered), and,
    with `completeness`, the registered completeness checks (every case
    has its stream, every decision its event). Returns a VerifyResult;
    writes nothing.

    On PostgreSQL, called outside a transaction, it reads one consistent
    snapshot (REPEATABLE READ, READ ONLY), so that writers committing during
    the walk cannot look like tampering."""
    verifier = _Verifier(stop_at_first=stop_at_first, chunk_size=chunk_size, anchors=anchors or [],
                         keys=keys or keyring(), completeness=completeness)
    if _on_postgresql() and not connection.in_atomic_block:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return verifier.run()
    return verifier.run()


# ---- checks shared by the database walk and the offline one (audit/offline.py) -------------------------------------


def seal_of(heads: Any) -> dict[str, int]:
    """{stream: seq} sealed by the first keyed checkpoint."""
    if not isinstance(heads, dict):
        return {}
    return {s: v[0] for s, v in heads.items() if isinstance(v, list) and v and type(v[0]) is int}


def event_problems(event: Any, *, expected_seq: int, prev: str, keyed: bool, keys: AuditKeyring,
                   seal: dict[str, int] | None) -> Iterator[Problem]:
    """Problems of one event given the one before it in its stream. `keyed`:
    an earlier event of the stream was keyed; `seal`: {stream: seq} of the
    first keyed checkpoint, or None if there is none yet."""
    where = dict(event_id=event.pk, stream=event.stream, seq=event.seq)
    if event.seq != expected_seq:
        yield Problem(
            f"expected seq {expected_seq}: event(s) before it were removed"
            if event.seq > expected_seq else f"duplicate or re-ordered position (expected seq {expected_seq})",
            **where,
        )
    if event.prev_hash != prev:
        yield Problem("does not chain to the event before it (removed, inserted or re-ordered)", **where)
    if event.key_id:
        if event.key_id not in keys.secrets:
            yield Problem(f"hashed under audit key {event.key_id!r}, which the verifier was not given "
                          f"(or which never existed)", **where)
            return
    elif keyed:
        yield Problem("unkeyed (legacy) event after keyed ones: forged without the audit key", **where)
        return
    elif seal is not None and event.seq > seal.get(event.stream, 0):
        yield Problem("unkeyed (legacy) event that the first keyed checkpoint did not seal: forged without the "
                      "audit key", **where)
        return
    if not hashes_equal(hash_of_event(event, keys), event.hash):
        yield Problem("content was altered (hash mismatch)", **where)


def checkpoint_problems(cp: Any, *, expected_number: int, prev_hash: str, keyed: bool, keys: AuditKeyring,
                        anchor: Anchor | None) -> Iterator[Problem]:
    """Problems of one checkpoint (an AuditCheckpoint or an exported one) given the one before it."""
    if cp.number != expected_number:
        yield Problem(f"checkpoint {expected_number} is missing (found {cp.number} next)")
    if cp.prev_hash != prev_hash:
        yield Problem(f"checkpoint {cp.number} does not chain to checkpoint {cp.number - 1}")
    if cp.key_id and cp.key_id not in keys.secrets:
        yield Problem(f"checkpoint {cp.number} is hashed under audit key {cp.key_id!r}, which the verifier was not given")
    elif not cp.key_id and keyed:
        yield Problem(f"checkpoint {cp.number} is unkeyed after keyed checkpoints: forged without the audit key")
    elif not hashes_equal(checkpoint_hash(number=cp.number, created_at=cp.created_at, heads=cp.heads,
                                          prev_hash=cp.prev_hash, key_id=cp.key_id, keyring=keys), cp.hash):
        yield Problem(f"checkpoint {cp.number} was altered (hash mismatch)")
    if _checkpoint_entries(cp) is None:
        yield Problem(f"checkpoint {cp.number} has malformed heads")
    if anchor is not None and not hashes_equal(anchor.hash, cp.hash):
        yield Problem(f"checkpoint {cp.number} differs from its anchor ({anchor.source}): the checkpoint, or the "
                      f"events it covers, were rewritten after it was anchored")


def missing_anchored(remaining: dict[int, Anchor]) -> Iterator[Problem]:
    for number in sorted(remaining):
        yield Problem(f"checkpoint {number} is anchored ({remaining[number].source}) but missing from the trail: "
                      f"checkpoints (and the events they covered) were removed")


def _on_postgresql() -> bool:
    return connection.vendor == "postgresql"


# (stream, last seq, last hash, last event id) of a stream the walk finished
StreamEnd = tuple[str, int, str, int | None]


class _Stop(Exception):
    pass


class _Verifier:
    def __init__(self, *, stop_at_first: bool, chunk_size: int, anchors: list[Anchor], keys: AuditKeyring,
                 completeness: bool) -> None:
        self.result = VerifyResult()
        self.stop_at_first = stop_at_first
        self.chunk_size = chunk_size
        self.anchors: list[Anchor] = anchors
        self.keys: AuditKeyring = keys
        self.completeness = completeness
        self.seal: dict[str, int] | None = None  # heads of the first keyed checkpoint: where unkeyed events end

    def fail(self, problem: Problem) -> None:
        self.result.problems.append(problem)
        if self.stop_at_first:
            raise _Stop

    def run(self) -> VerifyResult:
        try:
            self.check_checkpoint_chain()
            self.check_event_chains()
            self.check_checkpointed_heads()
            self.check_heads_without_events()
            self.check_archives()
            if self.completeness:
                from .partitions import archived_streams

                for check in _completeness_checks.values():
                    for problem in check(self.chunk_size):
                        # A stream whose beginning is archived: its archive holds the first events
                        # (verify_audit --archive), not the live table.
                        if problem.stream and archived_streams([problem.stream]):
                            continue
                        self.fail(problem)
        except _Stop:
            pass
        return self.result

    # Checkpoints chain to each other and recompute.
    def check_checkpoint_chain(self) -> None:
        anchored, conflicts = index_anchors(self.anchors)
        for conflict in conflicts:
            self.fail(Problem(conflict))
        prev_hash, expected_number, keyed = GENESIS, 1, False
        for cp in AuditCheckpoint.objects.order_by("number").iterator(chunk_size=self.chunk_size):
            self.result.checkpoints += 1
            anchor = anchored.pop(cp.number, None)
            if anchor is not None:
                self.result.anchored += 1
                self.result.last_anchored = cp.number
            for problem in checkpoint_problems(cp, expected_number=expected_number, prev_hash=prev_hash, keyed=keyed,
                                               keys=self.keys, anchor=anchor):
                self.fail(problem)
            if cp.key_id and not keyed:
                keyed = True
                self.seal = seal_of(cp.heads)
            prev_hash, expected_number = cp.hash, cp.number + 1
        for problem in missing_anchored(anchored):
            self.fail(problem)

    # Each stream is gapless from seq 1, links and recomputes, and ends at its head.
    def check_event_chains(self) -> None:
        ends: list[StreamEnd] = []  # (stream, last seq, last hash, last event id) of finished streams
        starts: list[StreamEnd] = []  # (stream, first seq, its prev_hash, event id) of streams not starting at seq 1
        stream: str | None = None
        expected_seq, prev, last_id, keyed = 1, GENESIS, None, False
        for event in AuditEvent.objects.order_by("stream", "seq").iterator(chunk_size=self.chunk_size):
            self.result.events += 1
            if event.stream != stream:
                if stream is not None:
                    ends.append((stream, expected_seq - 1, prev, last_id))
                    if len(ends) >= self.chunk_size:
                        self.compare_with_heads(ends)
                        ends = []
                stream, expected_seq, prev, keyed = event.stream, 1, GENESIS, False
                self.result.streams += 1
                if event.seq > 1:
                    # Its beginning may be archived: checked against the archive's end in batches.
                    expected_seq, prev = event.seq, event.prev_hash
                    starts.append((stream, event.seq, event.prev_hash, event.pk))
                    if len(starts) >= self.chunk_size:
                        self.compare_with_archive_ends(starts)
                        starts = []
            for problem in event_problems(event, expected_seq=expected_seq, prev=prev, keyed=keyed, keys=self.keys,
                                          seal=self.seal):
                self.fail(problem)
            keyed = keyed or bool(event.key_id)
            expected_seq, prev, last_id = event.seq + 1, event.hash, event.pk
        if stream is not None:
            ends.append((stream, expected_seq - 1, prev, last_id))
        self.compare_with_archive_ends(starts)
        self.compare_with_heads(ends)

    def compare_with_archive_ends(self, starts: list[StreamEnd]) -> None:
        """A live stream starting after seq 1 must continue exactly where the
        latest archive holding it ends."""
        if not starts:
            return
        from .partitions import latest_ends

        archived = latest_ends([s for s, _q, _h, _id in starts])
        for stream, seq, prev_hash, event_id in starts:
            end = archived.get(stream)
            if end is None:
                self.fail(Problem("expected seq 1: event(s) before it were removed", event_id=event_id,
                                  stream=stream, seq=seq))
            elif end[0] != seq - 1:
                self.fail(Problem(f"expected seq {end[0] + 1} after the archived end (seq {end[0]}): event(s) before it "
                                  f"were removed" if seq - 1 > end[0] else
                                  f"duplicate or re-ordered position (expected seq {end[0] + 1})",
                                  event_id=event_id, stream=stream, seq=seq))
            elif prev_hash != end[1]:
                self.fail(Problem("does not chain to the last archived event of its stream", event_id=event_id,
                                  stream=stream, seq=seq))

    def compare_with_heads(self, ends: list[StreamEnd]) -> None:
        if not ends:
            return
        heads = dict(
            (s, (q, h)) for s, q, h in
            AuditStreamHead.objects.filter(stream__in=[e[0] for e in ends]).values_list("stream", "seq", "hash")
        )
        for stream, seq, hash_, last_id in ends:
            head = heads.get(stream)
            if head is None:
                self.fail(Problem(
                    "the stream has no head: audit.record() did not write it (forged stream), or its head was removed",
                    event_id=last_id, stream=stream, seq=seq,
                ))
            elif seq < head[0]:
                self.fail(Problem(f"the stream ends at seq {seq}: its last event(s) were removed", stream=stream, seq=head[0]))
            elif seq > head[0]:
                first_extra = AuditEvent.objects.filter(stream=stream, seq=head[0] + 1).values_list("pk", flat=True).first()
                self.fail(Problem(
                    f"appended after the stream head (seq {head[0]}): audit.record() did not write it",
                    event_id=first_extra, stream=stream, seq=head[0] + 1,
                ))
            elif hash_ != head[1]:
                self.fail(Problem("the last event differs from the stream head: it was replaced",
                                  event_id=last_id, stream=stream, seq=seq))

    # Every (stream, seq, hash) a checkpoint recorded still exists.
    def check_checkpointed_heads(self) -> None:
        if _on_postgresql():
            # One join in the database, returning only the mismatches: linear in
            # the size of the trail, whatever the number of checkpoints.
            with connection.cursor() as cursor:
                cursor.execute(_CHECKPOINTED_MISMATCHES)
                for number, stream, seq, event_id in cursor:
                    self.report_checkpointed(number, stream, seq, event_id)
            return
        pending: list[tuple[str, int, str, int]] = []
        for cp in AuditCheckpoint.objects.order_by("number").iterator(chunk_size=self.chunk_size):
            for stream, seq, hash_ in _checkpoint_entries(cp) or ():
                pending.append((stream, seq, hash_, cp.number))
            if len(pending) >= self.chunk_size:
                self.compare_with_events(pending)
                pending = []
        self.compare_with_events(pending)

    def compare_with_events(self, pending: list[tuple[str, int, str, int]]) -> None:
        """`pending`: (stream, seq, hash, checkpoint number) recorded by checkpoints."""
        if not pending:
            return
        found = {(s, q): (h, pk) for s, q, h, pk in _events_at([(s, q) for s, q, _h, _n in pending])}
        for stream, seq, hash_, number in pending:
            event = found.get((stream, seq))
            if event is None or event[0] != hash_:
                self.report_checkpointed(number, stream, seq, event and event[1])

    def report_checkpointed(self, number: int, stream: str, seq: int, event_id: int | None) -> None:
        """The checkpointed event is missing (no id) or has another hash."""
        if event_id is None:
            self.fail(Problem(f"recorded in checkpoint {number} but missing: the event or its whole stream was removed",
                              stream=stream, seq=seq))
        else:
            self.fail(Problem(f"differs from the hash recorded in checkpoint {number}",
                              event_id=event_id, stream=stream, seq=seq))

    # Every archive has its audit event with the same figures, and the other way round.
    def check_archives(self) -> None:
        from .partitions import ends_digest

        events: dict[Any, AuditEvent] = {}
        for event in AuditEvent.objects.filter(stream="system", action=AuditAction.PARTITION_ARCHIVED):
            number = event.data.get("number") if isinstance(event.data, dict) else None
            events[number] = event
        system_archived = AuditArchiveEnd.objects.filter(stream="system").exists()
        for archive in AuditArchive.objects.order_by("number"):
            found = events.pop(archive.number) if archive.number in events else None
            if found is None:
                if not system_archived:  # else its event may itself be archived (verify_audit --archive)
                    self.fail(Problem(f"archive {archive.number} ({archive.partition}) has no "
                                      f"audit.partition_archived event: it was not made by archive_partition"))
                continue
            data = found.data
            if (data.get("partition"), data.get("events"), data.get("file_sha256"), data.get("ends_sha256")) != (
                    archive.partition, archive.events, archive.file_sha256, archive.ends_sha256):
                self.fail(Problem(f"archive {archive.number} differs from its audit event", event_id=found.pk,
                                  stream=found.stream, seq=found.seq))
            ends = archive.ends.values_list("stream", "seq", "hash").iterator(chunk_size=self.chunk_size)
            if ends_digest(ends) != archive.ends_sha256:
                self.fail(Problem(f"the recorded ends of archive {archive.number} ({archive.partition}) were altered: "
                                  f"where live streams continue is not what was archived"))
        for number, event in sorted(events.items(), key=lambda item: str(item[0])):
            self.fail(Problem(f"archive {number} was recorded by its audit event but its record was removed",
                              event_id=event.pk, stream=event.stream, seq=event.seq))

    # A head whose stream has no events at all: the whole stream was removed.
    def check_heads_without_events(self) -> None:
        orphans = AuditStreamHead.objects.filter(seq__gt=0).filter(
            ~Exists(AuditEvent.objects.filter(stream=OuterRef("stream")))
        ).filter(
            # A stream whose every event is archived ends where its head is.
            ~Exists(AuditArchiveEnd.objects.filter(stream=OuterRef("stream"), seq=OuterRef("seq"), hash=OuterRef("hash")))
        ).order_by("stream")
        for head in orphans.iterator(chunk_size=self.chunk_size):
            self.fail(Problem("the stream head exists but the stream has no events: the stream was removed",
                              stream=head.stream, seq=head.seq))


# (number, stream, seq, event id) of each checkpointed head whose
# event is missing (id NULL) or has another hash. Malformed heads are skipped
# here; the checkpoint chain pass reports them.
_CHECKPOINTED_MISMATCHES = """
WITH entries AS (
    SELECT cp.number, h.key AS stream,
           CASE WHEN (h.value ->> 0) ~ '^-?[0-9]{1,18}$' THEN (h.value ->> 0)::bigint END AS seq,
           h.value ->> 1 AS hash
    FROM audit_auditcheckpoint cp,
         jsonb_each(CASE WHEN jsonb_typeof(cp.heads) = 'object' THEN cp.heads ELSE '{}'::jsonb END) AS h
    WHERE jsonb_typeof(h.value -> 0) = 'number' AND (h.value ->> 0) ~ '^-?[0-9]{1,18}$'
      AND jsonb_typeof(h.value -> 1) = 'string' AND (h.value -> 2) IS NULL
)
,
archived AS (
    SELECT DISTINCT ON (x.stream) x.stream, x.seq, x.hash
    FROM audit_auditarchiveend x JOIN audit_auditarchive a ON a.id = x.archive_id
    ORDER BY x.stream, a.number DESC
)
SELECT n.number, n.stream, n.seq, e.id
FROM entries n LEFT JOIN archived b ON b.stream = n.stream
     LEFT JOIN audit_auditevent e ON e.stream = n.stream AND e.seq = n.seq AND (b.seq IS NULL OR n.seq > b.seq)
WHERE CASE WHEN b.seq IS NOT NULL AND n.seq < b.seq THEN false  -- in an archive: verify_audit --archive checks it
           WHEN b.seq = n.seq THEN b.hash <> n.hash
           ELSE e.id IS NULL OR e.hash <> n.hash END
ORDER BY n.number, n.stream
"""


def _checkpoint_entries(cp: Any) -> list[tuple[str, int, str]] | None:
    """[(stream, seq, hash)] recorded by a checkpoint, or None if malformed."""
    if not isinstance(cp.heads, dict):
        return None
    entries = []
    for stream, value in cp.heads.items():
        if not (isinstance(value, list) and len(value) == 2 and type(value[0]) is int and abs(value[0]) < 10**18
                and isinstance(value[1], str)):
            return None
        entries.append((stream, value[0], value[1]))
    return entries


def _events_at(positions: list[tuple[str, int]]) -> list[tuple[str, int, str, int]]:
    """(stream, seq, hash, id) of the events at the given (stream, seq)."""
    if _on_postgresql():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT e.stream, e.seq, e.hash, e.id FROM audit_auditevent e "
                "JOIN unnest(%s::text[], %s::bigint[]) AS v(stream, seq) ON e.stream = v.stream AND e.seq = v.seq",
                [[s for s, _ in positions], [q for _, q in positions]],
            )
            return cursor.fetchall()
    wanted = set(positions)
    rows = AuditEvent.objects.filter(
        stream__in={s for s, _ in positions}, seq__in={q for _, q in positions}
    ).values_list("stream", "seq", "hash", "pk")
    return [row for row in rows if (row[0], row[1]) in wanted]


# ---- one stream (the console's "verify this case's chain") ---------------------------------------------------------


@dataclass
class StreamVerifyResult:
    stream: str
    events: int = 0
    head_seq: int | None = None
    checkpoints: int = 0
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_stream(stream: str, *, chunk_size: int = 2000) -> StreamVerifyResult:
    """Checks one stream: gapless from seq 1, every prev_hash links and every
    hash recomputes, it ends exactly at its AuditStreamHead, and every entry
    that a checkpoint recorded for it is still there with the same hash.
    Stops at the first problem. Three queries whatever the length of the
    stream (events are read with a server-side cursor); writes nothing.

    Like verify_audit, on PostgreSQL outside a transaction it reads one
    consistent snapshot, so a writer appending meanwhile is not tampering."""
    if _on_postgresql() and not connection.in_atomic_block:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return _verify_stream(stream, chunk_size)
    return _verify_stream(stream, chunk_size)


def _stream_checkpoint_entries(stream: str) -> tuple[int, dict[int, tuple[str, int]] | Problem]:
    """{seq: (hash, checkpoint number)} recorded for `stream` by the checkpoints
    (the latest checkpoint wins for a seq), or a Problem for a malformed one."""
    entries: dict[int, tuple[str, int]] = {}
    count = 0
    rows = (AuditCheckpoint.objects.filter(heads__has_key=stream).annotate(entry=KeyTransform(stream, "heads"))
            .order_by("number").values_list("number", "entry"))
    for number, value in rows:
        count += 1
        if not (isinstance(value, list) and len(value) == 2 and type(value[0]) is int and isinstance(value[1], str)):
            return count, Problem(f"checkpoint {number} has a malformed entry for this stream", stream=stream)
        entries[value[0]] = (value[1], number)
    return count, entries


def _verify_stream(stream: str, chunk_size: int) -> StreamVerifyResult:
    result = StreamVerifyResult(stream=stream)
    result.checkpoints, checkpointed = _stream_checkpoint_entries(stream)
    if isinstance(checkpointed, Problem):
        result.problem = checkpointed
        return result
    # The head, and where the stream continues from if its beginning is archived, in one query.
    ends = AuditArchiveEnd.objects.filter(stream=OuterRef("stream")).order_by("-archive__number")
    row = (AuditStreamHead.objects.filter(stream=stream)
           .annotate(end_seq=Subquery(ends.values("seq")[:1]), end_hash=Subquery(ends.values("hash")[:1]))
           .values_list("seq", "hash", "end_seq", "end_hash").first())
    head = row[:2] if row else None
    end = row[2:] if row and row[2] is not None else None
    result.head_seq = head[0] if head else None
    expected_seq, prev, last_id, keyed, keys = 1, GENESIS, None, False, keyring()
    if end is not None:  # its beginning is archived: the live chain continues from the archive's end
        expected_seq, prev = end[0] + 1, end[1]
        checkpointed = {seq: entry for seq, entry in checkpointed.items() if seq > end[0]}
    for event in AuditEvent.objects.filter(stream=stream).order_by("seq").iterator(chunk_size=chunk_size):
        result.events += 1
        # Without the first keyed checkpoint's seal (verify_audit checks it): unkeyed events only as a prefix.
        for problem in event_problems(event, expected_seq=expected_seq, prev=prev, keyed=keyed, keys=keys, seal=None):
            result.problem = problem
            return result
        keyed = keyed or bool(event.key_id)
        recorded = checkpointed.pop(event.seq, None)
        if recorded is not None and recorded[0] != event.hash:
            result.problem = Problem(f"differs from the hash recorded in checkpoint {recorded[1]}",
                                     event_id=event.pk, stream=stream, seq=event.seq)
            return result
        expected_seq, prev, last_id = event.seq + 1, event.hash, event.pk
    last_seq = expected_seq - 1
    if checkpointed:
        seq = min(checkpointed)
        result.problem = Problem(f"recorded in checkpoint {checkpointed[seq][1]} but missing: the event was removed",
                                 stream=stream, seq=seq)
    elif end is not None and not result.events and head is not None and tuple(head) == end:
        pass  # every event of the stream is archived
    elif head is None:
        if result.events:
            result.problem = Problem("the stream has no head: audit.record() did not write it (forged stream), "
                                     "or its head was removed", event_id=last_id, stream=stream, seq=last_seq)
        else:
            result.problem = Problem("no audit events were recorded for this stream", stream=stream)
    elif last_seq < head[0]:
        result.problem = Problem(f"the stream ends at seq {last_seq}: its last event(s) were removed",
                                 stream=stream, seq=last_seq + 1)
    elif last_seq > head[0]:
        result.problem = Problem(f"appended after the stream head (seq {head[0]}): audit.record() did not write it",
                                 stream=stream, seq=head[0] + 1)
    elif prev != head[1]:
        result.problem = Problem("the last event differs from the stream head: it was replaced",
                                 event_id=last_id, stream=stream, seq=last_seq)
    return result
