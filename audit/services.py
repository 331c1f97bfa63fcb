import contextvars
import json
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from config.sql import together

from .context import Actor, current_request
from .hashing import GENESIS, checkpoint_hash, event_hash, normalize_data
from .keys import keyring
from .models import ActorType, AuditAction, AuditCheckpoint, AuditEvent, AuditStreamHead


class AuditError(Exception):
    pass


class AuditHeadMoved(AuditError):
    """A stream's head moved on after the caller read it (audit_batch's
    known_heads): nothing may be committed; roll back and try again."""


def case_stream(case_id):
    return f"case:{case_id}"


CONFIG_STREAM = "config"
SYSTEM_STREAM = "system"

# pg_advisory_xact_lock key that serializes checkpoint writers ("QuorumCP").
_CHECKPOINT_LOCK_KEY = 0x51756F72756D4350


# TextChoices.values builds a new list on every access; these are looked up for every event.
_ACTOR_TYPES = frozenset(ActorType.values)
_ACTIONS = frozenset(AuditAction.values)


def _check_actor(actor):
    if not isinstance(actor, Actor):
        raise AuditError("actor must be an audit.context.Actor")
    if actor.type not in _ACTOR_TYPES:
        raise AuditError(f"unknown actor type {actor.type!r}")


def _check_action(action):
    if str(action) not in _ACTIONS:
        raise AuditError(f"unknown audit action {str(action)!r}: add it to audit.models.AuditAction")
    return str(action)


_HEADS = AuditStreamHead._meta.db_table
_EVENTS = AuditEvent._meta.db_table


def _lock_heads(streams) -> dict[str, tuple[int, str]]:
    """Locks the heads of `streams` in stream order (so writers of existing
    streams cannot deadlock) and returns {stream: (seq, hash)}. A stream
    without a head gets an empty one (seq 0) first, so that two racing first
    writers serialize on it instead of colliding on (stream, seq 1). One
    statement when every head exists (the common case)."""
    streams = sorted(set(streams))
    if not streams:
        return {}
    heads = _select_heads_for_update(streams)
    missing = [s for s in streams if s not in heads]
    if missing:
        AuditStreamHead.objects.bulk_create(
            [AuditStreamHead(stream=s, seq=0, hash=GENESIS, dirty=False) for s in missing], ignore_conflicts=True
        )
        heads.update(_select_heads_for_update(missing))
    return heads


def _select_heads_for_update(streams: list[str]) -> dict[str, tuple[int, str]]:
    if connection.vendor != "postgresql":
        rows = (AuditStreamHead.objects.select_for_update().filter(stream__in=streams).order_by("stream")
                .values_list("stream", "seq", "hash"))
    else:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT stream, seq, hash FROM {_HEADS} WHERE stream = ANY(%s) ORDER BY stream FOR UPDATE",
                           [streams])
            rows = cursor.fetchall()
    return {stream: (seq, hash_) for stream, seq, hash_ in rows}


_buffer = contextvars.ContextVar("quorum_audit_buffer", default=None)


class AuditBatch:
    """What an audit_batch() block yields: `known_heads` may be filled in
    after the block started (a service that locks the heads in its first
    statement), and `also` takes the caller's own data-modifying statements
    (config.sql), sent in the same statement as the events when the block
    ends."""

    def __init__(self, known_heads=None):
        self.known_heads: dict[str, tuple[int, str]] = dict(known_heads or {})
        self.also: list[tuple[str, list]] = []
        self.entries: list[dict] = []


@contextmanager
def audit_batch(known_heads=None):
    """Buffers the audit.record() calls made inside it and writes them when
    it ends, with audit_record_many: three statements for all of them instead
    of three per event. Use it inside the service's transaction:
    `with transaction.atomic(), audit_batch(): ...`. Nothing is written if the
    block raises; nested batches join the outer one (and yield it).

    `known_heads` ({stream: (seq, hash)}) is what the caller read of the
    heads in its first query (claim_next locks them there; vote_cast sets
    them on the yielded AuditBatch after its first statement): when every
    buffered event appends to one of those streams, they are written in one
    statement that moves the heads by compare-and-swap instead of locking
    them first; if a head moved meanwhile, AuditHeadMoved is raised (the
    transaction must roll back, which the surrounding atomic() does, and may
    be retried). Statements the caller put in the yielded batch's `also` go
    in that same statement."""
    outer = _buffer.get()
    if outer is not None:
        yield outer
        return
    batch = AuditBatch(known_heads)
    entries = batch.entries
    token = _buffer.set(batch)
    try:
        yield batch
    except BaseException:
        _buffer.reset(token)
        raise
    _buffer.reset(token)
    known_heads = batch.known_heads
    if not entries:
        together(batch.also)
        return
    if (known_heads and connection.vendor == "postgresql" and not settings.AUDIT_DISABLED_FOR_BENCHMARK
            and all(known_heads.get(e["stream"]) and not e.get("new_stream") for e in entries)):
        _append_at_known_heads(entries, known_heads, also=batch.also)
    else:
        audit_record_many(entries=entries, together_with=batch.also)


def _append_at_known_heads(entries, known_heads, also=()):
    """audit_record_many for streams whose heads the caller read: the events,
    the moved heads and `also` (the caller's statements) in one statement
    (PostgreSQL). The head update is a compare-and-swap on seq; a head that
    moved (or an event that collides on (stream, seq) with a concurrent
    writer's) raises AuditHeadMoved."""
    from django.db import IntegrityError

    position = {stream: tuple(known_heads[stream]) for stream in {e["stream"] for e in entries}}
    before = dict(position)
    events = _chain_events(entries, position, actor=None)
    rows_sql, rows_params = _event_rows(events)
    params = []
    heads = sorted(position)
    for stream in heads:
        params.extend((stream, before[stream][0], position[stream][0], position[stream][1]))
    params.extend(rows_params)
    sql = (
        f"WITH moved AS (UPDATE {AuditStreamHead._meta.db_table} h SET seq = v.new_seq, hash = v.new_hash, dirty = true "
        f"FROM (VALUES {', '.join(['(%s::varchar, %s::bigint, %s::bigint, %s::varchar)'] * len(heads))}) "
        "AS v(stream, old_seq, new_seq, new_hash) WHERE h.stream = v.stream AND h.seq = v.old_seq RETURNING 1), "
        f"ins AS (INSERT INTO {AuditEvent._meta.db_table} ({', '.join(_EVENT_COLUMNS)}) "
        f"{rows_sql} RETURNING id)"
        + "".join(f", a{i} AS ({sql})" for i, (sql, _params) in enumerate(also))
        + " SELECT (SELECT count(*) FROM moved), id FROM ins ORDER BY id"
    )
    for _sql, also_params in also:
        params.extend(also_params)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
    except IntegrityError as exc:
        constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
        if also and constraint != "audit_event_stream_seq_unique":
            raise  # the caller's statement broke a constraint of its own
        raise AuditHeadMoved("an audit stream head moved while the change was being made") from exc
    if not rows or rows[0][0] != len(heads):
        raise AuditHeadMoved("an audit stream head moved while the change was being made")
    for event, (_, pk) in zip(events, rows, strict=True):
        event.pk = event.id = pk
        event._state.adding = False
    return events


def audit_record(*, stream, action, actor, target_type, target_id, data=None, new_stream=False):
    """Appends one event to `stream` and returns it.

    Requires an open transaction (the caller's), so that the event commits or
    rolls back with the change it describes. Locks only this stream's head:
    unrelated streams never wait for each other. `new_stream=True` is a
    promise by the caller that the stream was created in this transaction
    (a new case), which saves the head lookup.
    """
    if not connection.in_atomic_block:
        raise AuditError("audit.record() must run inside the transaction of the change it records")
    _check_actor(actor)
    action = _check_action(action)
    if settings.AUDIT_DISABLED_FOR_BENCHMARK:
        return None
    data = normalize_data(data or {})
    buffered = _buffer.get()
    if buffered is not None:
        buffered.entries.append(dict(stream=stream, action=action, actor=actor, target_type=target_type,
                             target_id=target_id, data=data, new_stream=new_stream))
        return None
    request_id, ip = current_request()

    if new_stream:
        seq, prev_hash = 1, GENESIS
    else:
        seq, prev_hash = _lock_heads([stream])[stream]
        seq += 1
    # Taken after the head lock, so that times never go backwards in a stream.
    now = timezone.now()
    ring = keyring()

    fields = dict(
        stream=stream, seq=seq, action=action, actor_type=actor.type, actor_id=actor.id[:64],
        actor_name=actor.name[:200], target_type=target_type, target_id=str(target_id), data=data,
        request_id=request_id, ip=ip, created_at=now, prev_hash=prev_hash, key_id=ring.current_id,
    )
    event = AuditEvent(hash=event_hash(keyring=ring, **fields), **fields)
    head = [(stream, seq, event.hash)]
    _write([event], new_heads=head if new_stream else [], moved_heads=[] if new_stream else head)
    return event


def _chain_events(entries, position, *, actor, actions=None):
    """The AuditEvent objects for `entries`, each chained to the one before
    it in its stream; `position` ({stream: (seq, hash)}, streams not in it
    start from the genesis) is moved to each stream's new head. Times are
    taken now, after the caller locked or read the heads."""
    request_id, ip = current_request()
    now = timezone.now()
    ring = keyring()
    key_id = ring.current_id
    events = []
    for i, entry in enumerate(entries):
        stream = entry["stream"]
        seq, prev_hash = position.get(stream, (0, GENESIS))
        seq += 1
        who = entry.get("actor") or actor
        fields = dict(
            stream=stream, seq=seq, action=actions[i] if actions else _check_action(entry["action"]),
            actor_type=who.type, actor_id=who.id[:64], actor_name=who.name[:200],
            target_type=entry["target_type"], target_id=str(entry["target_id"]),
            data=normalize_data(entry.get("data") or {}), request_id=request_id, ip=ip, created_at=now,
            prev_hash=prev_hash, key_id=key_id,
        )
        event = AuditEvent(hash=event_hash(keyring=ring, **fields), **fields)
        events.append(event)
        position[stream] = (seq, event.hash)
    return events


def _event_params(e):
    return (e.stream, e.seq, e.action, e.actor_type, e.actor_id, e.actor_name, e.target_type, e.target_id,
            json.dumps(e.data), e.request_id, e.ip, e.created_at, e.prev_hash, e.hash, e.key_id)


_EVENT_COLUMNS = ("stream", "seq", "action", "actor_type", "actor_id", "actor_name", "target_type", "target_id",
                  "data", "request_id", "ip", "created_at", "prev_hash", "hash", "key_id")
_EVENT_TYPES = ("varchar", "bigint", "varchar", "varchar", "varchar", "varchar", "varchar", "varchar", "jsonb",
                "varchar", "varchar", "timestamptz", "varchar", "varchar", "varchar")
# From this many events on, the rows go as one array per column: 15 placeholders per event made
# binding a sweep's statement (3,000 events) on the client cost more than running it.
_EVENTS_AS_ARRAYS = 50


def _event_rows(events) -> tuple[str, list]:
    """The source of the events' INSERT (after the column list) and its parameters."""
    if len(events) < _EVENTS_AS_ARRAYS:
        row = "(" + ", ".join("%s::jsonb" if c == "data" else "%s" for c in _EVENT_COLUMNS) + ")"
        return f"VALUES {', '.join([row] * len(events))}", [p for e in events for p in _event_params(e)]
    columns = zip(*(_event_params(e) for e in events), strict=True)
    return ("SELECT * FROM unnest(" + ", ".join(f"%s::{t}[]" for t in _EVENT_TYPES) + ")",
            [list(column) for column in columns])


def _write(events: list[AuditEvent], *, new_heads: list[tuple[str, int, str]],
           moved_heads: list[tuple[str, int, str]], also=()) -> None:
    """Inserts `events` (setting their ids), inserts the heads of new streams
    and moves the heads of existing ones to (seq, hash), all dirty; `also`
    (the caller's data-modifying statements, config.sql) go with them. On
    PostgreSQL this is one statement (data-modifying CTEs), plain SQL: the
    round trips and the ORM's per-object bookkeeping cost more than the rows
    themselves on the hot paths (intake, sweeps, votes). The parts run on one
    snapshot, so none may need another's rows (callers make ids in Python)."""
    also = list(also)
    if connection.vendor != "postgresql":
        together(also)
        AuditEvent.objects.bulk_create(events)
        AuditStreamHead.objects.bulk_create([AuditStreamHead(stream=s, seq=q, hash=h, dirty=True)
                                             for s, q, h in new_heads])
        for stream, seq, hash_ in moved_heads:
            AuditStreamHead.objects.filter(stream=stream).update(seq=seq, hash=hash_, dirty=True)
        return
    params = []
    parts = []
    for i, (sql, also_params) in enumerate(also):
        parts.append(f"a{i} AS ({sql})")
        params.extend(also_params)
    rows_sql, rows_params = _event_rows(events)
    params.extend(rows_params)
    parts.append(f"e AS (INSERT INTO {_EVENTS} ({', '.join(_EVENT_COLUMNS)}) {rows_sql} RETURNING id, stream, seq)")
    if new_heads:
        parts.append(f"n AS (INSERT INTO {_HEADS} (stream, seq, hash, dirty) "
                     f"VALUES {', '.join(['(%s, %s, %s, true)'] * len(new_heads))})")
        params.extend(value for head in new_heads for value in head)
    if len(moved_heads) >= _EVENTS_AS_ARRAYS:
        parts.append(f"u AS (UPDATE {_HEADS} AS t SET seq = v.seq, hash = v.hash, dirty = true FROM "
                     "unnest(%s::varchar[], %s::bigint[], %s::varchar[]) AS v(stream, seq, hash) "
                     "WHERE t.stream = v.stream)")
        params.extend(list(column) for column in zip(*moved_heads, strict=True))
    elif moved_heads:
        parts.append(f"u AS (UPDATE {_HEADS} AS t SET seq = v.seq, hash = v.hash, dirty = true FROM (VALUES "
                     f"{', '.join(['(%s::varchar, %s::bigint, %s::varchar)'] * len(moved_heads))}) "
                     f"AS v(stream, seq, hash) WHERE t.stream = v.stream)")
        params.extend(value for head in moved_heads for value in head)
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} SELECT id, stream, seq FROM e", params)
        ids = {(stream, seq): pk for pk, stream, seq in cursor.fetchall()}
    for event in events:
        event.pk = event.id = ids[(event.stream, event.seq)]
        event._state.adding = False


def audit_checkpoint_create(*, force: bool = True) -> AuditCheckpoint | None:
    """Records the heads of every stream that changed since the last
    checkpoint, chained to the previous checkpoint and HMAC'd under the
    current audit key. Returns the checkpoint, or None when nothing changed
    (or, with force=False, when neither AUDIT_CHECKPOINT_SECONDS have passed
    since the last one nor AUDIT_CHECKPOINT_EVERY_EVENTS were written).

    The first keyed checkpoint after legacy (unkeyed) entries records the
    head of *every* stream: it seals the legacy trail, and verification
    accepts an unkeyed event only at or before the position it sealed.

    Safe to run concurrently: on PostgreSQL checkpoint writers are
    serialized by a transaction-level advisory lock (elsewhere by the unique
    number). Takes no row lock on the checkpoint table, which the
    application role may only read and insert."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # A transaction-level lock serializes even the first checkpoint (no row yet to lock).
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHECKPOINT_LOCK_KEY])
        last = AuditCheckpoint.objects.order_by("-number").first()
        max_event_id = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
        if not force and last is not None:
            due = timezone.now() - last.created_at >= timedelta(seconds=settings.AUDIT_CHECKPOINT_SECONDS)
            many = max_event_id - last.max_event_id >= settings.AUDIT_CHECKPOINT_EVERY_EVENTS
            if not (due or many):
                return None
        sealing = _needs_seal(last)
        heads_qs = AuditStreamHead.objects.filter(seq__gt=0) if sealing else AuditStreamHead.objects.filter(dirty=True)
        limit = None if sealing else 100_000
        dirty = list(heads_qs.order_by("stream").values_list("stream", "seq", "hash")[:limit])
        if not dirty:
            return None
        number = (last.number + 1) if last else 1
        prev_hash = last.hash if last else GENESIS
        heads = {stream: [seq, hash_] for stream, seq, hash_ in dirty}
        now = timezone.now()
        ring = keyring()
        checkpoint = AuditCheckpoint.objects.create(
            number=number, created_at=now, heads=heads, prev_hash=prev_hash, key_id=ring.current_id,
            max_event_id=max_event_id,
            hash=checkpoint_hash(number=number, created_at=now, heads=heads, prev_hash=prev_hash,
                                 key_id=ring.current_id, keyring=ring),
        )
        _clear_dirty([(stream, seq) for stream, seq, _hash in dirty])
        return checkpoint


def _needs_seal(last) -> bool:
    """True while no keyed checkpoint exists and the trail holds legacy entries."""
    if last is None:
        return AuditEvent.objects.filter(key_id="").exists()
    if last.key_id == "":
        return True
    return False


def _clear_dirty(recorded):
    """Compare-and-swap: a head that moved on since it was read stays dirty."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE audit_auditstreamhead h SET dirty = false "
                "FROM unnest(%s::text[], %s::bigint[]) AS v(stream, seq) "
                "WHERE h.stream = v.stream AND h.seq = v.seq",
                [[s for s, _ in recorded], [q for _, q in recorded]],
            )
    else:
        for stream, seq in recorded:
            AuditStreamHead.objects.filter(stream=stream, seq=seq).update(dirty=False)


def audit_record_many(*, entries, actor=None, together_with=()):
    """Appends many events in a few statements; for intake, sweeps and
    audit_batch().

    `entries` is a list of dicts with stream, action, target_type, target_id,
    data and new_stream (as in audit_record), and optionally their own
    "actor" (else `actor`). Events of one stream keep the order they have in
    the list. Heads are locked in stream order so concurrent batches cannot
    deadlock on them. `together_with` are the caller's own data-modifying
    statements (config.sql): they are sent in the same round trip as the
    events and heads, so a change and its record are one statement. Only
    streams that already exist cost a round trip of their own (the head
    lock, which must come before the hash)."""
    if not connection.in_atomic_block:
        raise AuditError("audit_record_many() must run inside the transaction of the change it records")
    for entry in entries:
        _check_actor(entry.get("actor") or actor)
    if settings.AUDIT_DISABLED_FOR_BENCHMARK or not entries:
        together(list(together_with))
        return []
    actions = [_check_action(e["action"]) for e in entries]
    # Streams that an entry appends to without the new_stream promise may
    # already exist, or be created concurrently: lock (or create and lock) them.
    heads = _lock_heads(e["stream"] for e in entries if not e.get("new_stream"))
    position = dict(heads)
    events = _chain_events(entries, position, actor=actor, actions=actions)
    moved = [(stream, seq, hash_) for stream, (seq, hash_) in sorted(position.items()) if stream in heads]
    created = [(stream, seq, hash_) for stream, (seq, hash_) in position.items() if stream not in heads]
    _write(events, new_heads=created, moved_heads=moved, also=together_with)
    return events
