"""Keeps routine periodic work out of the logs.

Celery beat sends the webhook tick every WEBHOOK_DISPATCH_SECONDS and the SLA
sweeps every SLA_SWEEP_SECONDS; at INFO each would write "Sending due task",
"received" and "succeeded" lines, burying everything else (and `make run`'s
banner). For tasks that beat runs at least once a minute this filter drops
those three lines, except a "succeeded" whose task did something (a non-zero
count). Failures, retries and everything the tasks log themselves stay.
"""

import logging
from datetime import timedelta

ROUTINE_MAX_INTERVAL = timedelta(seconds=60)
_SENDING = "Scheduler: Sending due task %s (%s)"
_DISCARDED = "Discarding revoked task: %s[%s]"  # celery.worker.request, for an expired task
_IDLE_RESULTS = {"0", "None", "[]", "{}", "()", "False", "''"}


def routine_task_names() -> frozenset[str]:
    """Task names that beat schedules at least once per ROUTINE_MAX_INTERVAL."""
    from django.conf import settings

    names = set()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        schedule = entry["schedule"]
        if isinstance(schedule, (int, float)):
            schedule = timedelta(seconds=schedule)
        if isinstance(schedule, timedelta) and schedule <= ROUTINE_MAX_INTERVAL:
            names.add(entry["task"])
    return frozenset(names)


class QuietRoutineTicks(logging.Filter):
    def __init__(self, names: frozenset[str] | None = None) -> None:
        super().__init__()
        self._names = names

    @property
    def names(self) -> frozenset[str]:
        if self._names is None:
            self._names = routine_task_names()
        return self._names

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS

        if record.msg == _SENDING and isinstance(record.args, tuple) and len(record.args) == 2:
            return record.args[1] not in self.names
        if (isinstance(record.msg, str) and record.msg.startswith(_DISCARDED) and isinstance(record.args, tuple)
                and record.args):
            # A routine tick that waited past its expiry (the worker was busy or starting): the next
            # one comes within ROUTINE_MAX_INTERVAL, so its discarding is routine too.
            return record.args[0] not in self.names
        if record.msg in (LOG_RECEIVED, LOG_SUCCESS) and isinstance(record.args, dict):
            if record.args.get("name") not in self.names:
                return True
            if record.msg == LOG_RECEIVED:
                return False
            return str(record.args.get("return_value")) not in _IDLE_RESULTS
        return True


# The loggers that write those lines (celery.beat, celery.worker.strategy, celery.app.trace,
# celery.worker.request for expired ticks).
LOGGERS = ("celery.beat", "celery.worker.strategy", "celery.app.trace", "celery.worker.request")


def install() -> None:
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, QuietRoutineTicks) for f in logger.filters):
            logger.addFilter(QuietRoutineTicks())
