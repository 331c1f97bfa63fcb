"""Public ids: UUID version 7 (time-ordered, 74 random bits).

Opaque and not sequential, so ids cannot be guessed or counted, yet new rows
land at the right edge of the primary-key index instead of all over it.
Within one process ids are strictly increasing, also inside one millisecond
(RFC 9562 method 1: the 12-bit `rand_a` field is a counter seeded randomly
each millisecond), so rows filed together keep their order.
"""

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last = {"millis": -1, "counter": 0}


def uuid7():
    with _lock:
        millis = time.time_ns() // 1_000_000
        if millis > _last["millis"]:
            _last["millis"] = millis
            _last["counter"] = int.from_bytes(os.urandom(2), "big") & 0x3FF  # leave room to count up
        else:
            millis = _last["millis"]  # the clock stood still or went back: keep counting
            _last["counter"] += 1
            if _last["counter"] > 0xFFF:
                _last["millis"] = millis = millis + 1
                _last["counter"] = 0
        counter = _last["counter"]
    rand = int.from_bytes(os.urandom(8), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)
