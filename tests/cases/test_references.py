"""Short case references (cases.references): derived from the UUIDv7, stable,
parsed forgivingly, and found by a range of the primary key."""
import uuid

import pytest

from cases.ids import uuid7
from cases.references import case_reference, id_range, parse_reference, reference_q


def test_reference_is_short_stable_and_round_trips_to_its_id_range():
    ids = [uuid7() for _ in range(2000)]
    refs = [case_reference(i) for i in ids]
    assert all(len(r) == 14 and r[4] == r[9] == "-" for r in refs)
    assert refs == [case_reference(str(i)) for i in ids]  # stable, from a UUID or its text
    assert len(set(refs)) == len(refs)  # unique within a process, even inside one millisecond
    assert refs == sorted(refs)  # time-ordered like the ids
    for case_id, ref in zip(ids[:50], refs[:50], strict=True):
        low, high = id_range(parse_reference(ref))
        assert low <= case_id <= high
        others = [o for o in ids if low <= o <= high]
        assert others == [case_id]


@pytest.mark.parametrize("text", ["", "1JF3", "1JF3-K9Q7-XZA", "1JF3-K9Q7-XZA00", "1JF3-K9Q7-XZAU", "ZZZZ-ZZZZ-ZZZ!",
                                  "１JF3-K9Q7-XZA0", "<script>alert(1)</script>", None])
def test_anything_else_is_not_a_reference(text):
    assert parse_reference(text) is None
    assert reference_q(text) is None


def test_typing_is_forgiving():
    ref = case_reference(uuid.UUID("0190c5e4-1234-7abc-8000-000000000000"))
    head = parse_reference(ref)
    assert head is not None
    assert parse_reference(ref.lower()) == parse_reference(ref.replace("-", "")) == head
    assert parse_reference(" " + ref.replace("-", " ") + " ") == head
    assert parse_reference(ref.replace("0", "o").replace("1", "i")) == head
