"""Counts of the times a dependency was down and a component went on without
it, per component and the way it went on ("fail_open": let the request
through / treat as a miss; "fail_closed": refused). /metrics shows them as
`quorum_degraded_operations_total`, a prometheus_client counter: under
gunicorn (multiprocess mode, gunicorn.conf.py) each worker writes its counts
to PROMETHEUS_MULTIPROC_DIR and a scrape answered by any worker shows the
sum over all of them; elsewhere (runserver, a test process) this process's.

Logging is rate-limited per component so an outage does not flood the log.
"""

from __future__ import annotations

import logging
import threading
import time

from prometheus_client import Counter

log = logging.getLogger("quorum.degraded")

_lock = threading.Lock()
_counts: dict[tuple[str, str], int] = {}
_logged_at: dict[str, float] = {}
LOG_EVERY_SECONDS = 10.0

# Not in prometheus_client's global registry: config.metrics.render() adds it to the registry of each scrape
# (or, in multiprocess mode, reads what every process wrote).
COUNTER = Counter("quorum_degraded_operations",
                  "Operations that went on without a dependency that was down, per component and choice.",
                  labelnames=["component", "mode"], registry=None)


def record(*, component: str, mode: str, error: BaseException | str) -> None:
    """Count one degraded operation and log it (at most once per LOG_EVERY_SECONDS per component)."""
    now = time.monotonic()
    with _lock:
        _counts[(component, mode)] = _counts.get((component, mode), 0) + 1
        due = now - _logged_at.get(component, -LOG_EVERY_SECONDS) >= LOG_EVERY_SECONDS
        if due:
            _logged_at[component] = now
    COUNTER.labels(component=component, mode=mode).inc()
    if due:
        log.warning("%s degraded (%s): %s", component, mode, error)


def counts() -> dict[tuple[str, str], int]:
    """This process's counts (the metric adds up every process's)."""
    with _lock:
        return dict(_counts)
