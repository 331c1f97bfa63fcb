import uuid

from cases.ids import uuid7


def test_version_and_variant():
    value = uuid7()
    assert value.version == 7 and value.variant == uuid.RFC_4122


def test_strictly_increasing_within_a_process_even_inside_one_millisecond():
    ids = [uuid7() for _ in range(20_000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_not_sequential():
    a, b = uuid7(), uuid7()
    assert b.int - a.int > 1  # random low bits: the next id cannot be guessed from the last
