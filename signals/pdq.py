"""PDQ hashes (256 bits, 64 hex digits) and their band keys. Pure.

Quorum never fetches media, so it does not compute PDQ itself: platforms send
the PDQ hash of an image, and Quorum compares by Hamming distance. A PDQ hash
is stored as sent (it is a perceptual fingerprint of media, not personal data,
and a keyed hash of it could not be compared by distance)."""

import re

BANDS = 16
BAND_BITS = 16
MAX_THRESHOLD = 31  # with 16 bands, distance ≤ 31 leaves some band within one bit
_HEX64 = re.compile(r"[0-9a-f]{64}")


def is_hash(value: str) -> bool:
    return isinstance(value, str) and bool(_HEX64.fullmatch(value))


def bands(value: str) -> list[int]:
    """The 16 16-bit bands, most significant first."""
    number = int(value, 16)
    return [(number >> (BAND_BITS * (BANDS - 1 - i))) & 0xFFFF for i in range(BANDS)]


def probe_keys(value: str) -> tuple[list[int], list[int]]:
    """(band numbers, band values) to look up: each band as is and with each
    one of its bits flipped (16 × 17 keys). Any listed hash within Hamming
    distance 31 shares one of them (pigeonhole over 16 bands)."""
    numbers, values = [], []
    for band, band_value in enumerate(bands(value)):
        for candidate in [band_value] + [band_value ^ (1 << bit) for bit in range(BAND_BITS)]:
            numbers.append(band)
            values.append(candidate)
    return numbers, values


def distance(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")
