"""The msgspec fast path of intake validation (integrations/api/fast_intake.py)
against the DRF serializers that define the API: for any body, the fast path
either declines (None: the serializer then answers, with its errors) or
returns exactly the serializer's validated data. It must also take the
ordinary valid bodies, or it would be no fast path at all."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.api import fast_intake
from integrations.api import serializers as s

pytestmark = pytest.mark.django_db

SHA = "ab" * 32
FULL = {
    "subject": {"kind": "content", "external_id": 12345, "url": "https://example.org/p/1", "display_name": "",
                "author": {"external_id": "acct-1", "display_name": "Ann"}, "text": "buy now",
                "media": [{"url": "HTTP://example.org/i.png", "sha256": SHA.upper(), "mime_type": "image/png"},
                          {"url": "https://example.org/v"}],
                "language": "pt-BR", "metadata": {"followers_count": 10, "tags": ["a", {"b": None}]}},
    "policy": "spam",
    "reporter": {"kind": "automated", "external_id": ""},
    "description": "posts the same link",
    "jurisdiction": ["DE", "FR", "DE"],
    "classifier_score": 1,
    "signals": {"author": {"email": "a@example.org", "ip_prefix": "203.0.113.7"},
                "media": [{"pdq": SHA.upper()}, {"sha256": SHA, "pdq": SHA}]},
}
VALID = [
    {"subject": {"kind": "content", "external_id": "post-1", "text": "buy now"}, "policy": "spam"},
    {"subject": {"kind": "account", "external_id": "u1", "display_name": "Bench account",
                 "url": "https://example.org/u/u1", "metadata": {"followers_count": 7}},
     "policy": "spam", "reporter": {"kind": "user", "external_id": "r1"}, "description": "spam"},
    {"subject": {"kind": "account", "external_id": 7}, "policy": "harassment", "reporter": {},
     "signals": {"subject": {"phone": "+49 30 1234567", "device": "d-1", "payment": "p-1"}}},
    FULL,
]


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _drf(serializer_class, raw):
    serializer = serializer_class(data=raw)
    return _plain(serializer.validated_data) if serializer.is_valid() else None


def _same_as_drf(raw, batch=False):
    fast = fast_intake.batch_item_in(raw) if batch else fast_intake.report_in(raw)
    drf = _drf(s.BatchItemSerializer if batch else s.ReportInSerializer, raw)
    if fast is not None:
        assert drf is not None, f"fast path accepted what the serializer refuses: {raw!r}"
        assert _plain(fast) == drf, raw
        # and the ReportInput filed from it is the same
        mine = s.to_report_input(fast, raw=raw, idempotency_key="k")
        theirs = s.to_report_input(drf, raw=raw, idempotency_key="k")
        assert (mine, mine.signals) == (theirs, theirs.signals)
    return fast, drf


@pytest.mark.parametrize("index", range(len(VALID)))
def test_ordinary_valid_bodies_take_the_fast_path_and_validate_as_drf_does(policy_book, index):
    fast, drf = _same_as_drf(json.loads(json.dumps(VALID[index])))
    assert fast is not None and drf is not None
    fast, drf = _same_as_drf({**VALID[index], "idempotency_key": "key-1"}, batch=True)
    assert fast is not None and fast["idempotency_key"] == "key-1"


def test_values_drf_would_change_or_refuse_are_left_to_drf(policy_book):
    """Each of these the serializer trims, converts or refuses with a message;
    the fast path must decline rather than guess."""
    declined = [
        {**VALID[0], "policy": " spam "},  # DRF trims the policy code
        {**VALID[0], "policy": "nope"},
        {**VALID[0], "subject": {"kind": "content", "external_id": ""}},
        {**VALID[0], "subject": {"kind": "content", "external_id": True}},
        {**VALID[0], "subject": {"kind": "content", "external_id": 1.0}},
        {**VALID[0], "subject": {"kind": "content", "external_id": "x\x00"}},
        {**VALID[0], "subject": {"kind": "content", "external_id": "\ud800"}},
        {**VALID[0], "subject": {"kind": "content", "external_id": "x" * 256}},
        {**VALID[0], "subject": {"kind": "account", "external_id": "a", "author": {"external_id": "b"}}},
        {**VALID[0], "subject": {"kind": "content", "external_id": "a", "url": "ftp://example.org/"}},
        {**VALID[0], "subject": {"kind": "content", "external_id": "a", "url": "https://a b"}},
        {**VALID[0], "subject": {"kind": "content", "external_id": "a", "language": "english!"}},
        {**VALID[0], "subject": {"kind": "content", "external_id": "a", "metadata": []}},
        {**VALID[0], "subject": {"kind": "content", "external_id": "a", "extra": 1}},
        {**VALID[0], "reporter": None},
        {**VALID[0], "reporter": {"kind": "robot"}},
        {**VALID[0], "classifier_score": 0.5},  # only from automated reporters
        {**VALID[0], "reporter": {"kind": "automated"}, "classifier_score": 1.5},
        {**VALID[0], "reporter": {"kind": "automated"}, "classifier_score": True},
        {**VALID[0], "jurisdiction": ["XX"]},
        {**VALID[0], "jurisdiction": ["DE"] * 61},
        {**VALID[0], "signals": {"subject": {"email": "a@example.org"}}},  # content subject: author's identifiers
        {**VALID[0], "signals": {"author": {"email": " a@example.org"}}},  # DRF trims identifiers
        {**VALID[0], "signals": {"media": [{}]}},
        {**VALID[0], "signals": {"media": [{"pdq": "zz"}]}},
        {**VALID[0], "unknown": 1},
        {**VALID[0], "\ud800": 1},
        {**VALID[0], "subject": {"kind": "\ud800", "external_id": "a"}},
        {**VALID[0], "reporter": {"kind": "\udfff"}},
    ]
    for raw in declined:
        fast, _drf_result = _same_as_drf(raw)
        assert fast is None, raw
    assert _same_as_drf({**VALID[0], "idempotency_key": "has space"}, batch=True)[0] is None


_text = st.one_of(st.sampled_from(["", " ", "a", " a", "spam", "x\x00", "\ud800", "DE", "EU", "en", "pt-BR",
                                   "content", "account", "user", "automated", "trusted_flagger",
                                   "https://example.org/a", "http://x", "image/png", SHA, SHA.upper(),
                                   "a@example.org", "+4930123456", "203.0.113.0/24", "x" * 256]),
                  st.text(max_size=12))
_scalar = st.one_of(_text, st.integers(-5, 2**65), st.booleans(), st.none(), st.floats(-2, 2, allow_nan=False))


def _mutated(base):
    """`base` with some fields replaced, removed or added, recursively."""
    if isinstance(base, dict):
        keys = sorted(base)
        return st.fixed_dictionaries(
            {}, optional={k: st.one_of(_mutated(base[k]), _scalar) for k in keys}
        ).flatmap(lambda d: st.one_of(st.just(d), st.just({**d, "extra": 1}), st.just(base)))
    if isinstance(base, list):
        return st.lists(st.one_of(*[_mutated(v) for v in base]) if base else _scalar, max_size=4)
    return st.one_of(st.just(base), _scalar)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(raw=st.one_of(*[_mutated(v) for v in VALID]), batch=st.booleans(),
       key=st.one_of(st.none(), _text))
def test_generated_bodies_either_declined_or_validated_exactly_as_drf(policy_book, raw, batch, key):
    if batch and key is not None:
        raw = {**raw, "idempotency_key": key}
    _same_as_drf(raw, batch=batch)
