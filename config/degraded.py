"""Counts of the times a dependency was down and a component went on without
it, per component and the way it went on ("fail_open": let the request
through / treat as a miss; "fail_closed": refused). Per process, like any
Prometheus counter in a process that is scraped; /metrics shows them.

Logging is rate-limited per component so an outage does not flood the log.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("quorum.degraded")

_lock = threading.Lock()
_counts: dict[tuple[str, str], int] = {}
_logged_at: dict[str, float] = {}
LOG_EVERY_SECONDS = 10.0


def record(*, component: str, mode: str, error: BaseException | str) -> None:
    """Count one degraded operation and log it (at most once per LOG_EVERY_SECONDS per component)."""
    now = time.monotonic()
    with _lock:
        _counts[(component, mode)] = _counts.get((component, mode), 0) + 1
        due = now - _logged_at.get(component, -LOG_EVERY_SECONDS) >= LOG_EVERY_SECONDS
        if due:
            _logged_at[component] = now
    if due:
        log.warning("%s degraded (%s): %s", component, mode, error)


def counts() -> dict[tuple[str, str], int]:
    with _lock:
        return dict(_counts)
