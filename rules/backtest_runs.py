"""Backtests as jobs: a lead starts a run (stored, audited), a Celery worker
executes it (rules.backtest over the period, progress after every batch), and
a periodic sweep makes sure no run stays "running" after its worker is gone.

Who owns a run while it executes: the worker holds a PostgreSQL session-level
advisory lock on the run for the whole execution. The lock dies with the
worker's connection, so the sweep knows a worker was lost when it can take
the lock of a run that says "running" — however long the run legitimately
takes. A lost run is re-queued with the next attempt number (at most
MAX_ATTEMPTS), then marked failed. Every transition is a compare-and-swap on
(status, attempt): a late redelivery of an old attempt changes nothing.
"""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

import audit
from audit.context import Actor
from audit.services import CONFIG_STREAM

from . import engine
from .backtest import backtest, cases_to_evaluate
from .errors import RuleInvalid, RuleNotAllowed
from .expressions import ExpressionError
from .models import BacktestRun, BacktestStatus, Rule, RuleVersion

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 2
# Backtests queued or running at once, over all rules: each can read every decided case, so a lead (or a stolen
# lead session) must not be able to keep the workers busy with them.
MAX_ACTIVE = 4
MAX_DAYS = 365
# A run nobody started within this time (the broker lost the message, no worker) is marked failed.
QUEUED_TIMEOUT = timedelta(hours=1)
# Without PostgreSQL's advisory locks (SQLite), a run whose progress stopped this long ago counts as lost.
STALE_AFTER = timedelta(minutes=10)
_LOCK_NAMESPACE = 0x5142  # "QB": advisory locks of backtest runs (first key of the two-key form)
SWEEPER = Actor.system("backtest sweep")
WORKER = Actor.system("backtest worker")


class BacktestBusy(RuleNotAllowed):
    """Too many backtests are queued or running."""


def _definition(run: BacktestRun) -> dict[str, Any]:
    return {"expression": run.expression, "effects": run.effects, "predicts": run.predicts}


def _event(action: str, run: BacktestRun, actor: Actor, **data: Any) -> None:
    audit.record(stream=CONFIG_STREAM, action=action, actor=actor, target_type="rule", target_id=run.rule.slug,
                 data={"backtest": str(run.pk), "version": run.version.number, "attempt": run.attempt, **data})


def backtest_run_start(*, version: RuleVersion, days: int, actor: Actor, user=None,
                       now: datetime | None = None) -> BacktestRun:
    """Queues a backtest of `version` over the cases decided in the last
    `days` days (1–MAX_DAYS) and the open cases. Requires a condition that
    compiles (RuleInvalid names the field otherwise). A run of the same rule
    already queued or running is returned as it is (no second job); at most
    MAX_ACTIVE runs may be queued or running at once
    (BacktestBusy). Audits "rule.backtest_started"; the job is sent after
    commit."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise RuleInvalid({"days": [f"a whole number of days from 1 to {MAX_DAYS}"]})
    try:
        engine.compile_rule_condition(version.expression)
    except ExpressionError as exc:
        raise RuleInvalid({"expression": exc.problems}) from None
    now = now or timezone.now()
    with transaction.atomic():
        rule = Rule.objects.select_for_update().get(pk=version.rule_id)
        running = BacktestRun.objects.filter(rule=rule, status__in=[BacktestStatus.QUEUED, BacktestStatus.RUNNING])
        existing = running.order_by("-created_at").first()
        if existing is not None:
            return existing
        active = BacktestRun.objects.filter(status__in=[BacktestStatus.QUEUED, BacktestStatus.RUNNING]).count()
        if active >= MAX_ACTIVE:
            raise BacktestBusy(f"{active} backtests are queued or running; start this one when one has finished")
        run = BacktestRun.objects.create(
            rule=rule, version=version, expression=version.expression, effects=version.effects,
            predicts=version.predicts, period_start=now - timedelta(days=days), period_end=now, started_by=user,
            created_at=now, queued_at=now)
        _event("rule.backtest_started", run, actor, days=days, definition=_definition(run),
               period=[run.period_start.isoformat(), run.period_end.isoformat()])
        transaction.on_commit(lambda: _send(run.pk, run.attempt))
        return run


def _send(run_id: Any, attempt: int) -> None:
    from .tasks import backtest_run_task

    try:
        backtest_run_task.delay(str(run_id), attempt)
    except Exception:  # the broker is down: the sweep marks the run failed after QUEUED_TIMEOUT
        log.exception("could not queue backtest %s", run_id)


def _lock_key(run_id: Any) -> int:
    """The advisory lock's second key: 31 bits of the run's random part."""
    return int(str(run_id).replace("-", "")[-8:], 16) & 0x7FFFFFFF


def _try_lock(run_id: Any) -> bool:
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, _lock_key(run_id)])
        return bool(cursor.fetchone()[0])


def _unlock(run_id: Any) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, _lock_key(run_id)])


class _Superseded(Exception):
    """The run is no longer this execution's (the sweep re-queued or failed it)."""


def backtest_run_execute(*, run_id: Any, attempt: int) -> str:
    """The job: runs the backtest of one run and stores its results. Returns
    what happened ("done", "failed", or "skipped" when the run is not this
    attempt's to run: already running elsewhere, finished, or re-queued).
    Must run outside a transaction: progress commits after every batch."""
    if not _try_lock(run_id):
        return "skipped"
    try:
        now = timezone.now()
        taken = BacktestRun.objects.filter(pk=run_id, status=BacktestStatus.QUEUED, attempt=attempt).update(
            status=BacktestStatus.RUNNING, started_at=now, heartbeat_at=now, processed=0)
        if not taken:
            return "skipped"
        run = BacktestRun.objects.select_related("rule", "version").get(pk=run_id)
        mine = BacktestRun.objects.filter(pk=run_id, status=BacktestStatus.RUNNING, attempt=attempt)
        try:
            total = cases_to_evaluate(start=run.period_start, end=run.period_end)
            mine.update(total=total)

            def progress(n: int) -> None:
                if not mine.update(processed=n, heartbeat_at=timezone.now()):
                    raise _Superseded

            result = backtest(expression=run.expression, effects=run.effects, predicts=run.predicts,
                              start=run.period_start, end=run.period_end, progress=progress)
        except _Superseded:
            return "skipped"
        except Exception as exc:  # any failure (SoftTimeLimitExceeded included) ends the run, with its reason
            log.exception("backtest %s failed", run_id)
            return _finish(run, attempt, status=BacktestStatus.FAILED, error=f"{exc.__class__.__name__}: {exc}"[:500])
        return _finish(run, attempt, status=BacktestStatus.DONE, results=result.as_json(),
                       processed=result.decided + result.open_cases)
    finally:
        _unlock(run_id)


def _finish(run: BacktestRun, attempt: int, *, status: str, results: dict | None = None, error: str = "",
            processed: int | None = None) -> str:
    with transaction.atomic():
        now = timezone.now()
        fields: dict[str, Any] = dict(status=status, results=results, error=error, finished_at=now, heartbeat_at=now)
        if processed is not None:
            fields["processed"] = processed
        if not BacktestRun.objects.filter(pk=run.pk, status=BacktestStatus.RUNNING, attempt=attempt).update(**fields):
            return "skipped"
        summary = ({"decided": results["decided"], "matched": results["matched"]} if results else {"error": error})
        _event("rule.backtest_finished", run, WORKER, status=status, **summary)
    return status


def backtest_runs_sweep(*, now: datetime | None = None) -> int:
    """Periodic: a run "running" whose worker is gone (its advisory lock is
    free; without PostgreSQL: no progress for STALE_AFTER) is re-queued with
    the next attempt, or marked failed after MAX_ATTEMPTS; a run queued for
    longer than QUEUED_TIMEOUT is marked failed. Returns how many runs it
    changed. Audited per run."""
    now = now or timezone.now()
    changed = 0
    for run in BacktestRun.objects.filter(status=BacktestStatus.RUNNING).select_related("rule", "version"):
        if connection.vendor != "postgresql" and run.heartbeat_at and run.heartbeat_at > now - STALE_AFTER:
            continue
        if not _try_lock(run.pk):
            continue  # its worker is alive
        try:
            next_attempt = _lost(run, now)
        finally:
            _unlock(run.pk)  # before the job is sent: its worker must be able to take the lock
        if next_attempt is not None:
            changed += 1
            if next_attempt:
                transaction.on_commit(lambda run_id=run.pk, attempt=next_attempt: _send(run_id, attempt))
    for run in BacktestRun.objects.filter(status=BacktestStatus.QUEUED, queued_at__lt=now - QUEUED_TIMEOUT
                                          ).select_related("rule", "version"):
        with transaction.atomic():
            if BacktestRun.objects.filter(pk=run.pk, status=BacktestStatus.QUEUED, attempt=run.attempt).update(
                    status=BacktestStatus.FAILED, error="no worker started it", finished_at=now):
                _event("rule.backtest_finished", run, SWEEPER, status=BacktestStatus.FAILED,
                       error="no worker started it")
                changed += 1
    return changed


def _lost(run: BacktestRun, now: datetime) -> int | None:
    """Re-queues (returns the next attempt) or fails (returns 0) a run whose
    worker is gone; None when the run was no longer this attempt's."""
    with transaction.atomic():
        still = BacktestRun.objects.filter(pk=run.pk, status=BacktestStatus.RUNNING, attempt=run.attempt)
        if run.attempt < MAX_ATTEMPTS:
            if not still.update(status=BacktestStatus.QUEUED, attempt=run.attempt + 1, queued_at=now, processed=0,
                                started_at=None):
                return None
            _event("rule.backtest_retried", run, SWEEPER, next_attempt=run.attempt + 1, reason="worker lost")
            return run.attempt + 1
        error = f"worker lost during attempt {run.attempt} of {MAX_ATTEMPTS}"
        if not still.update(status=BacktestStatus.FAILED, error=error, finished_at=now):
            return None
        _event("rule.backtest_finished", run, SWEEPER, status=BacktestStatus.FAILED, error=error)
        return 0
