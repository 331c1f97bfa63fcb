"""Canonical form and hashes of audit events and checkpoints.

The canonical form is JSON with sorted keys, no whitespace, UTF-8. Every field
that describes the event is in it, including its position (stream, seq) and
the previous hash, so altering, removing, re-ordering or inserting an event
breaks the chain.

Since G2 both hashes are HMAC-SHA256 under a key outside the database
(audit.keys), named by `key_id`, which is part of the hashed content. An
empty `key_id` is the legacy scheme: plain SHA-256 of the same content
without the key id (kept so that trails written before keys still verify).
"""

import hashlib
import hmac
import json
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .keys import AuditKeyring

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def normalize_data(value: Any) -> Any:
    """Returns `value` in the form it has after a round trip through the
    database's JSON type, so the hash computed before insert still matches
    what a later verification reads back.

    jsonb keeps numbers as `numeric`, which prints without an exponent and has
    no negative zero: 1e+20 comes back as the integer 100000000000000000000 and
    -0.0 as 0.0, so those are stored in that form. (1e-07 comes back as
    0.0000001, which reads as the same float, and stays a float.) NaN,
    infinity, NUL characters and lone surrogates cannot be stored and raise
    ValueError."""
    if isinstance(value, dict):
        return {_normalize_text(str(k)): normalize_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalize_data(v) for v in value]
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("audit data cannot hold NaN or infinity")
        if value == 0:
            return 0.0
        text = repr(value)
        if "e+" in text:
            return int(Decimal(text))
        return value
    if isinstance(value, str):
        return _normalize_text(value)
    if value is None or isinstance(value, (bool, int)):
        return value
    return _normalize_text(str(value))


def _normalize_text(text: str) -> str:
    if "\x00" in text:
        raise ValueError("audit data cannot hold NUL characters (jsonb rejects them)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("audit data cannot hold lone surrogates (not valid UTF-8)") from None
    return text


def _digest(content: dict[str, Any], key_id: str, keyring: "AuditKeyring | None") -> str:
    """HMAC-SHA256 under `key_id` (one HMAC, from the ring's cached key
    object), or plain SHA-256 for the legacy scheme (key_id "")."""
    if key_id:
        content["key"] = key_id
        if keyring is None:
            from .keys import keyring as configured

            keyring = configured()
        mac = keyring.mac(key_id).copy()
        mac.update(canonical_json(content).encode("utf-8"))
        return mac.hexdigest()
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def hashes_equal(a: object, b: object) -> bool:
    return hmac.compare_digest(str(a).encode(), str(b).encode())


def event_hash(*, stream: str, seq: int, action: str, actor_type: str, actor_id: str, actor_name: str,
               target_type: str, target_id: str, data: Any, request_id: str, ip: str, created_at: datetime,
               prev_hash: str, key_id: str = "", keyring: "AuditKeyring | None" = None) -> str:
    content = {
        "stream": stream,
        "seq": seq,
        "action": action,
        "actor": [actor_type, actor_id, actor_name],
        "target": [target_type, target_id],
        "data": data,
        "request_id": request_id,
        "ip": ip,
        "created_at": _instant(created_at),
        "prev_hash": prev_hash,
    }
    return _digest(content, key_id, keyring)


def _instant(moment: datetime) -> str:
    """The time in UTC, so the hash does not depend on the time zone the
    database connection happens to hand datetimes back in."""
    if moment.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def hash_of_event(event: Any, keyring: "AuditKeyring | None" = None) -> str:
    """`event`: an AuditEvent, or an exported one read back (audit.offline), which has the same attributes."""
    return event_hash(key_id=event.key_id, keyring=keyring,
        stream=event.stream, seq=event.seq, action=event.action, actor_type=event.actor_type,
        actor_id=event.actor_id, actor_name=event.actor_name, target_type=event.target_type,
        target_id=event.target_id, data=event.data, request_id=event.request_id, ip=event.ip,
        created_at=event.created_at, prev_hash=event.prev_hash,
    )


def checkpoint_hash(*, number: int, created_at: datetime, heads: Any, prev_hash: str, key_id: str = "",
                    keyring: "AuditKeyring | None" = None) -> str:
    content = {
        "number": number,
        "created_at": _instant(created_at),
        "heads": heads,
        "prev_hash": prev_hash,
    }
    return _digest(content, key_id, keyring)


def archive_seal_hash(*, content_sha256: str, events: int, streams: int, key_id: str,
                      keyring: "AuditKeyring | None" = None) -> str:
    """The HMAC that seals an archive file (audit/partitions.py): over the
    SHA-256 of every line before the seal, so that no line of the archive
    can be changed, added or removed without the audit key."""
    content = {"archive_sha256": content_sha256, "events": events, "streams": streams}
    return _digest(content, key_id, keyring)
