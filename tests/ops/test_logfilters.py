"""Routine ticks leave no INFO lines; failures and ticks that did work do."""

import logging

from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS

from config.logfilters import QuietRoutineTicks, routine_task_names


def _record(level, msg, args, name="celery.app.trace"):
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_the_routine_tasks_are_the_ones_beat_runs_at_least_once_a_minute():
    names = routine_task_names()
    assert {"integrations.tasks.webhook_tick_task", "reviews.tasks.sweep_breaches_task",
            "reviews.tasks.sweep_leases_task", "audit.tasks.audit_checkpoint_task"} <= names
    assert "integrations.tasks.webhook_cleanup_task" not in names  # hourly: its lines stay


def test_routine_lines_are_dropped_and_the_rest_kept():
    tick = "integrations.tasks.webhook_tick_task"
    quiet = QuietRoutineTicks(frozenset({tick}))
    sending = "Scheduler: Sending due task %s (%s)"
    assert not quiet.filter(_record(logging.INFO, sending, ("webhook-tick", tick), "celery.beat"))
    assert quiet.filter(_record(logging.INFO, sending, ("webhook-log-cleanup", "other.task"), "celery.beat"))
    assert not quiet.filter(_record(logging.INFO, LOG_RECEIVED, {"name": tick, "id": "1"}))
    assert not quiet.filter(_record(logging.INFO, LOG_SUCCESS, {"name": tick, "id": "1", "return_value": "0",
                                                                 "runtime": 0.01}))
    # A tick that did something, another task, and anything above INFO are kept.
    assert quiet.filter(_record(logging.INFO, LOG_SUCCESS, {"name": tick, "id": "1", "return_value": "3",
                                                             "runtime": 0.01}))
    assert quiet.filter(_record(logging.INFO, LOG_RECEIVED, {"name": "other.task", "id": "2"}))
    assert quiet.filter(_record(logging.ERROR, "Task %(name)s[%(id)s] raised: %(exc)s",
                                {"name": tick, "id": "1", "exc": "boom"}))
    # A routine tick that expired in the queue while the worker was busy is dropped; another task's is kept.
    discarded = "Discarding revoked task: %s[%s]"
    assert not quiet.filter(_record(logging.INFO, discarded, (tick, "3"), "celery.worker.request"))
    assert quiet.filter(_record(logging.INFO, discarded, ("other.task", "4"), "celery.worker.request"))


def test_the_filter_is_on_the_loggers_celery_writes_them_to():
    import config.celery  # noqa: F401 - installs the filter

    for name in ("celery.beat", "celery.worker.strategy", "celery.app.trace", "celery.worker.request"):
        assert any(isinstance(f, QuietRoutineTicks) for f in logging.getLogger(name).filters), name
