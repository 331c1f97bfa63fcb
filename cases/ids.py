"""Public ids: UUID version 7 (time-ordered, 74 random bits).

Opaque and not sequential, so ids cannot be guessed or counted, yet new rows
land at the right edge of the primary-key index instead of all over it.
"""

import os
import time
import uuid


def uuid7():
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)
