"""Near-identical descriptions: 64-bit simhash of normalised text. Pure."""

import hashlib
import re
import unicodedata

NEAR_DUPLICATE_BITS = 3  # simhashes within this Hamming distance are near-identical
_WORD = re.compile(r"\w+", re.UNICODE)


def normalise(text: str) -> list[str]:
    """NFKC, case-folded words (punctuation, spacing and case ignored)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text or "").casefold())


def simhash(text: str) -> int | None:
    """Signed 64-bit simhash over word 2-shingles (single words for one-word
    texts); None for a text without words (it says nothing)."""
    words = normalise(text)
    if not words:
        return None
    shingles = [" ".join(words[i:i + 2]) for i in range(len(words) - 1)] or words
    totals = [0] * 64
    for shingle in shingles:
        h = int.from_bytes(hashlib.blake2b(shingle.encode("utf-8"), digest_size=8).digest(), "big")
        for bit in range(64):
            totals[bit] += 1 if h >> bit & 1 else -1
    value = sum(1 << bit for bit in range(64) if totals[bit] > 0)
    return value - (1 << 64) if value >= 1 << 63 else value  # as PostgreSQL's bigint


def distance(a: int, b: int) -> int:
    return bin((a ^ b) & ((1 << 64) - 1)).count("1")
