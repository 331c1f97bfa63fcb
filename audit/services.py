from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .context import Actor, current_request
from .hashing import GENESIS, checkpoint_hash, event_hash, normalize_data
from .models import AuditCheckpoint, AuditEvent, AuditStreamHead


class AuditError(Exception):
    pass


def case_stream(case_id):
    return f"case:{case_id}"


CONFIG_STREAM = "config"
SYSTEM_STREAM = "system"


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
    if not isinstance(actor, Actor):
        raise AuditError("actor must be an audit.context.Actor")
    if settings.AUDIT_DISABLED_FOR_BENCHMARK:
        return None
    data = normalize_data(data or {})
    request_id, ip = current_request()
    now = timezone.now()

    if new_stream:
        seq, prev_hash = 1, GENESIS
    else:
        head = AuditStreamHead.objects.select_for_update().filter(stream=stream).first()
        if head is None:
            # First event of a long-lived stream: create an empty head so that
            # two racing first writers serialize on it instead of colliding.
            AuditStreamHead.objects.bulk_create(
                [AuditStreamHead(stream=stream, seq=0, hash=GENESIS, dirty=False)], ignore_conflicts=True
            )
            head = AuditStreamHead.objects.select_for_update().get(stream=stream)
        seq, prev_hash = head.seq + 1, head.hash

    fields = dict(
        stream=stream, seq=seq, action=str(action), actor_type=actor.type, actor_id=actor.id[:64],
        actor_name=actor.name[:200], target_type=target_type, target_id=str(target_id), data=data,
        request_id=request_id, ip=ip, created_at=now, prev_hash=prev_hash,
    )
    event = AuditEvent(hash=event_hash(**fields), **fields)
    event.save(force_insert=True)

    if new_stream:
        AuditStreamHead.objects.create(stream=stream, seq=seq, hash=event.hash, dirty=True)
    else:
        AuditStreamHead.objects.filter(stream=stream).update(seq=seq, hash=event.hash, dirty=True)
    return event


def audit_checkpoint_create():
    """Records the heads of every stream that changed since the last
    checkpoint, chained to the previous checkpoint. Returns the checkpoint,
    or None when nothing changed. Safe to run concurrently: checkpoints are
    serialized on the latest checkpoint row / the unique number."""
    with transaction.atomic():
        last = AuditCheckpoint.objects.select_for_update().order_by("-number").first()
        dirty = list(
            AuditStreamHead.objects.filter(dirty=True).order_by("stream").values_list("stream", "seq", "hash")[:100_000]
        )
        if not dirty:
            return None
        number = (last.number + 1) if last else 1
        prev_hash = last.hash if last else GENESIS
        heads = {stream: [seq, hash_] for stream, seq, hash_ in dirty}
        now = timezone.now()
        checkpoint = AuditCheckpoint.objects.create(
            number=number, created_at=now, heads=heads, prev_hash=prev_hash,
            hash=checkpoint_hash(number=number, created_at=now, heads=heads, prev_hash=prev_hash),
        )
        _clear_dirty([(stream, seq) for stream, seq, _hash in dirty])
        return checkpoint


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


def audit_record_many(*, entries, actor):
    """Appends many events in a few statements; for batch intake.

    `entries` is a list of dicts with stream, action, target_type, target_id,
    data and new_stream (as in audit_record). Events of one stream keep the
    order they have in the list. Heads are locked in stream order so
    concurrent batches cannot deadlock on them."""
    if not connection.in_atomic_block:
        raise AuditError("audit_record_many() must run inside the transaction of the change it records")
    if settings.AUDIT_DISABLED_FOR_BENCHMARK or not entries:
        return []
    request_id, ip = current_request()
    now = timezone.now()
    existing_streams = sorted({e["stream"] for e in entries if not e.get("new_stream")})
    heads = {}
    if existing_streams:
        for head in AuditStreamHead.objects.select_for_update().filter(stream__in=existing_streams).order_by("stream"):
            heads[head.stream] = head
    position = {stream: (head.seq, head.hash) for stream, head in heads.items()}
    events, created_heads = [], []
    for entry in entries:
        stream = entry["stream"]
        seq, prev_hash = position.get(stream, (0, GENESIS))
        seq += 1
        fields = dict(
            stream=stream, seq=seq, action=str(entry["action"]), actor_type=actor.type, actor_id=actor.id[:64],
            actor_name=actor.name[:200], target_type=entry["target_type"], target_id=str(entry["target_id"]),
            data=normalize_data(entry.get("data") or {}), request_id=request_id, ip=ip, created_at=now,
            prev_hash=prev_hash,
        )
        event = AuditEvent(hash=event_hash(**fields), **fields)
        events.append(event)
        position[stream] = (seq, event.hash)
    AuditEvent.objects.bulk_create(events)
    for stream, (seq, hash_) in position.items():
        head = heads.get(stream)
        if head is None:
            created_heads.append(AuditStreamHead(stream=stream, seq=seq, hash=hash_, dirty=True))
        else:
            head.seq, head.hash, head.dirty = seq, hash_, True
    if created_heads:
        AuditStreamHead.objects.bulk_create(created_heads)
    if heads:
        AuditStreamHead.objects.bulk_update(list(heads.values()), ["seq", "hash", "dirty"])
    return events
