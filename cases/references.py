"""Short, stable, human references for cases, e.g. ``1JF3-K9Q7-XZA0``.

A reference is the time-ordered head of the case's UUIDv7 (the 48-bit
millisecond timestamp and the 12-bit per-millisecond counter, 60 bits) in
Crockford base32: 12 characters, shown in groups of four. It needs no
column: it is computed from the id, never changes, and finding a case by it
is a range scan of the primary-key index (every id with that head). Within
one process the head is unique (cases.ids counts inside a millisecond); two
processes collide only when they open cases in the same millisecond with the
same randomly seeded counter, and a search then lists both. The UUID stays
the id of the API and of URLs.

Typing is forgiving: case and hyphens/spaces do not matter, and the letters
Crockford reads as digits (O→0, I/L→1) are accepted.
"""

import re
import uuid

from django.db.models import Q

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 12
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s\-]+")


def case_reference(case_id: uuid.UUID | str) -> str:
    """The reference of the case `case_id`, e.g. "1JF3-K9Q7-XZA0"."""
    value = (case_id if isinstance(case_id, uuid.UUID) else uuid.UUID(str(case_id))).int
    head = ((value >> 80) << 12) | ((value >> 64) & 0xFFF)  # timestamp, then counter (the version nibble dropped)
    chars = "".join(ALPHABET[(head >> (5 * i)) & 31] for i in reversed(range(LENGTH)))
    return f"{chars[:4]}-{chars[4:8]}-{chars[8:]}"


def parse_reference(text: str) -> int | None:
    """The 60-bit head a typed reference stands for, or None when `text` is not one."""
    cleaned = _SEPARATORS.sub("", text or "").upper().translate(_ALIASES)
    if len(cleaned) != LENGTH or any(c not in ALPHABET for c in cleaned):
        return None
    head = 0
    for c in cleaned:
        head = (head << 5) | ALPHABET.index(c)
    return head if head < (1 << 60) else None


def id_range(head: int) -> tuple[uuid.UUID, uuid.UUID]:
    """The lowest and highest UUIDv7 with this head (for `pk__range`)."""
    base = ((head >> 12) << 80) | (0x7 << 76) | ((head & 0xFFF) << 64)
    return uuid.UUID(int=base), uuid.UUID(int=base | ((1 << 64) - 1))


def reference_q(text: str, *, field: str = "pk") -> Q | None:
    """A filter for the cases whose reference is `text` (None when it is not a reference)."""
    head = parse_reference(text)
    if head is None:
        return None
    return Q(**{f"{field}__range": id_range(head)})
