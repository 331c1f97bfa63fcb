"""Canonical form and hashes of audit events and checkpoints.

The canonical form is JSON with sorted keys, no whitespace, UTF-8. Every field
that describes the event is in it, including its position (stream, seq) and
the previous hash, so altering, removing, re-ordering or inserting an event
breaks the chain.
"""

import hashlib
import json
import math

GENESIS = "0" * 64


def canonical_json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def normalize_data(value):
    """Returns `value` in the form it has after a round trip through the
    database's JSON type, so the hash computed before insert still matches
    what a later verification reads back.

    Floats print in exponent form ("1e+20") in Python but jsonb gives them back
    as plain numbers; such floats are stored as their text instead."""
    if isinstance(value, dict):
        return {str(k): normalize_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalize_data(v) for v in value]
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("audit data cannot hold NaN or infinity")
        text = repr(value)
        return text if ("e" in text or "E" in text) else value
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def event_hash(*, stream, seq, action, actor_type, actor_id, actor_name, target_type, target_id,
               data, request_id, ip, created_at, prev_hash):
    content = {
        "stream": stream,
        "seq": seq,
        "action": action,
        "actor": [actor_type, actor_id, actor_name],
        "target": [target_type, target_id],
        "data": data,
        "request_id": request_id,
        "ip": ip,
        "created_at": created_at.isoformat(timespec="microseconds"),
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def hash_of_event(event):
    return event_hash(
        stream=event.stream, seq=event.seq, action=event.action, actor_type=event.actor_type,
        actor_id=event.actor_id, actor_name=event.actor_name, target_type=event.target_type,
        target_id=event.target_id, data=event.data, request_id=event.request_id, ip=event.ip,
        created_at=event.created_at, prev_hash=event.prev_hash,
    )


def checkpoint_hash(*, number, created_at, heads, prev_hash):
    content = {
        "number": number,
        "created_at": created_at.isoformat(timespec="microseconds"),
        "heads": heads,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()
