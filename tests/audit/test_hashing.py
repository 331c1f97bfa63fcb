"""Canonical form and hashes, and that data hashes the same after a round trip
through PostgreSQL's jsonb."""

import json
import math
import random
import struct
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import connection, transaction

from audit.context import Actor
from audit.hashing import GENESIS, canonical_json, checkpoint_hash, event_hash, hash_of_event, normalize_data
from audit.models import AuditEvent
from audit.services import SYSTEM_STREAM, audit_record_many
from audit.verify import verify_audit

from .conftest import record, run_verify

WHEN = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
EVENT = dict(
    stream="case:1", seq=3, action="case.opened", actor_type="user", actor_id="5", actor_name="alice",
    target_type="case", target_id="1", data={"a": [1, 2]}, request_id="r", ip="192.0.2.1", created_at=WHEN,
    prev_hash="a" * 64,
)


# --- canonical form -------------------------------------------------------------------------------------------------


def test_canonical_json_sorts_keys_has_no_whitespace_and_keeps_unicode():
    assert canonical_json({"b": 1, "a": [1, {"d": "é", "c": None}]}) == '{"a":[1,{"c":null,"d":"é"}],"b":1}'


def test_canonical_json_refuses_nan_and_infinity():
    for value in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError):
            canonical_json({"x": value})


def test_event_hash_is_sha256_of_the_documented_canonical_content():
    import hashlib

    content = {
        "stream": "case:1", "seq": 3, "action": "case.opened", "actor": ["user", "5", "alice"], "target": ["case", "1"],
        "data": {"a": [1, 2]}, "request_id": "r", "ip": "192.0.2.1", "created_at": "2026-01-02T03:04:05.678901+00:00",
        "prev_hash": "a" * 64,
    }
    expected = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert event_hash(**EVENT) == expected
    assert len(GENESIS) == 64 and set(GENESIS) == {"0"}


@pytest.mark.parametrize("name,other", [
    ("stream", "case:2"), ("seq", 4), ("action", "report.filed"), ("actor_type", "system"), ("actor_id", "6"),
    ("actor_name", "mallory"), ("target_type", "policy"), ("target_id", "2"), ("data", {"a": [2, 1]}),
    ("request_id", "s"), ("ip", "192.0.2.2"), ("created_at", WHEN.replace(microsecond=678902)), ("prev_hash", "b" * 64),
])
def test_every_field_is_in_the_event_hash(name, other):
    assert event_hash(**{**EVENT, name: other}) != event_hash(**EVENT)


def test_actor_and_target_fields_cannot_be_shifted_into_each_other():
    moved = {**EVENT, "actor_id": "", "actor_name": "5alice"}
    assert event_hash(**moved) != event_hash(**EVENT)


def test_created_at_hashes_the_instant_in_utc():
    elsewhere = WHEN.astimezone(timezone(timedelta(hours=-5)))
    assert event_hash(**{**EVENT, "created_at": elsewhere}) == event_hash(**EVENT)
    assert checkpoint_hash(number=1, created_at=elsewhere, heads={}, prev_hash=GENESIS) == checkpoint_hash(
        number=1, created_at=WHEN, heads={}, prev_hash=GENESIS)
    with pytest.raises(ValueError, match="timezone-aware"):
        event_hash(**{**EVENT, "created_at": WHEN.replace(tzinfo=None)})


@pytest.mark.parametrize("name,other", [
    ("number", 2), ("created_at", WHEN.replace(second=6)), ("heads", {"config": [2, "c" * 64]}), ("prev_hash", "b" * 64),
])
def test_every_field_is_in_the_checkpoint_hash(name, other):
    base = dict(number=1, created_at=WHEN, heads={"config": [1, "c" * 64]}, prev_hash=GENESIS)
    assert checkpoint_hash(**{**base, name: other}) != checkpoint_hash(**base)


# --- normalization --------------------------------------------------------------------------------------------------


def test_normalize_keeps_plain_json_unchanged():
    value = {"s": "x", "i": -3, "big": 10**30, "f": 0.1, "t": True, "n": None, "l": [1, [2, {"k": "v"}]]}
    assert normalize_data(value) == value


def test_normalize_turns_python_values_into_json_values():
    when = datetime(2026, 1, 1, tzinfo=UTC)
    ident = uuid.UUID(int=5)
    assert normalize_data({1: (1, 2), "d": Decimal("1.50"), "u": ident, "w": when}) == {
        "1": [1, 2], "d": "1.50", "u": str(ident), "w": str(when),
    }


@pytest.mark.parametrize("value,expected", [
    (1e20, 10**20), (-1e20, -(10**20)), (1.5e300, 15 * 10**299), (1e16, 10**16),
    (1e-7, 1e-7), (2.5e-05, 2.5e-05), (0.1, 0.1), (-0.0, 0.0), (1234567890123456.8, 1234567890123456.8),
])
def test_normalize_floats_to_what_jsonb_gives_back(value, expected):
    normalized = normalize_data(value)
    assert normalized == expected and type(normalized) is type(expected)
    assert canonical_json(normalized) == canonical_json(expected)


def test_negative_zero_is_stored_as_zero():
    assert canonical_json(normalize_data({"z": -0.0})) == '{"z":0.0}'


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_normalize_refuses_nan_and_infinity(value):
    with pytest.raises(ValueError, match="NaN or infinity"):
        normalize_data({"deep": [1, {"x": value}]})


@pytest.mark.parametrize("value", [{"x": "a\x00b"}, {"a\x00": 1}, ["\ud800"], {"\udfff": 1}])
def test_normalize_refuses_text_jsonb_cannot_store(value):
    with pytest.raises(ValueError):
        normalize_data(value)


# --- round trip through PostgreSQL ----------------------------------------------------------------------------------


def _random_doubles(count, seed=20260101):
    """Finite doubles spread over the whole range of exponents and mantissas."""
    rng = random.Random(seed)
    out = []
    while len(out) < count:
        value = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if math.isfinite(value):
            out.append(value)
    return out


@pytest.mark.django_db
def test_normalized_floats_survive_jsonb_exactly():
    values = _random_doubles(3000) + [0.1, 1e20, 1e-7, -0.0, 5e-324, 1.7976931348623157e308, 2.0**53 + 1, 1e15, 1e16]
    normalized = normalize_data(values)
    with connection.cursor() as cursor:
        cursor.execute("SELECT (%s::jsonb)::text", [json.dumps(normalized)])
        back = json.loads(cursor.fetchone()[0])
    mismatches = [(v, n, b) for v, n, b in zip(values, normalized, back) if canonical_json(n) != canonical_json(b)]
    assert not mismatches[:5]
    # Same number, not only the same hash.
    assert all(Decimal(repr(float(n))) == Decimal(repr(float(b))) for n, b in zip(normalized, back))


AWKWARD_DATA = {
    "floats": [0.1, 1e20, 1e-7, 0.30000000000000004, -0.0, 1e300, 5e-324, 123.0, -2.5e-8, 1e16],
    "ints": [0, -1, 2**53 + 1, 10**40],
    "unicode": ["é", "日本語", "👩‍👩‍👧", "e\u0301", "\u2028\u2029", "tab\tquote\"back\\slash", "\x01\x1f", "ﬀ", "İ"],
    "nested": [[[]], [{}], [[1, [2, [3, {"deep": [None, True, False]}]]]]],
    "keys": {"Z": 1, "a": 2, "é": 3, "10": 4, "9": 5, "": 6, "日本": 7},
}


@pytest.mark.django_db
def test_awkward_data_verifies_after_a_round_trip():
    event = record(SYSTEM_STREAM, action="system.demo_data_loaded", data=AWKWARD_DATA)
    record(SYSTEM_STREAM, action="system.demo_data_loaded", data={"random": _random_doubles(500, seed=7)})
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.data == normalize_data(AWKWARD_DATA)
    assert stored.data["floats"][:3] == [0.1, 10**20, 1e-7]
    assert hash_of_event(stored) == stored.hash
    ok, out, _err, _message = run_verify()
    assert ok and "2 events in 1 streams" in out


@pytest.mark.django_db
def test_nan_in_data_is_refused_and_nothing_is_written():
    with pytest.raises(ValueError, match="NaN"):
        record(SYSTEM_STREAM, action="system.demo_data_loaded", data={"score": math.nan})
    with pytest.raises(ValueError), transaction.atomic():
        audit_record_many(entries=[dict(stream=SYSTEM_STREAM, action="system.demo_data_loaded", target_type="x",
                                        target_id="1", data={"score": math.inf})], actor=Actor.system("t"))
    assert not AuditEvent.objects.exists()
    assert verify_audit().ok
