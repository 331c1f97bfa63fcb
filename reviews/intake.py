"""The intake use case: a validated report enters the system.

`cases` files the report into the open case for its subject or opens one (and
puts a new case in its queue); this layer owns what happens around it: retry
on the rare conflicts that concurrency produces. The workflow routing of F2
hooks in here, inside the same transaction.
"""

import logging
import time

from django.db import IntegrityError, OperationalError, connection, transaction

from cases.models import Report
from cases.services import FileResult, IntakeHooks, report_file, reports_file_batch
from signals import intake as signals_intake

from .services import route_new_case, route_new_cases, sync_priority
from .services.routing import case_reopen_round, case_reroute, route_plan

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 4


class _ReviewHooks(IntakeHooks):
    """One per intake attempt: it keeps what the signals layer said about
    each item, for the after-filing work (rules, signal flag changes)."""

    def __init__(self):
        self._found = {}  # id(item) -> signals.intake.IntakeSignals
        self.signals_by_result = {}  # id(FileResult) -> the same

    def case_opened(self, **kwargs):
        return route_new_case(**kwargs)

    def cases_opened(self, many):
        return route_new_cases(many)

    def cases_opening(self, many):
        return route_plan(many)

    def priority_changed(self, *, case_id, priority):
        sync_priority(case_id=case_id, priority=priority)

    def case_rerouted(self, **kwargs):
        return case_reroute(**kwargs)

    def case_reopened(self, **kwargs):
        return case_reopen_round(**kwargs)

    def reports_signals(self, *, entries, **kwargs):
        found = signals_intake.reports_signals(entries=entries, **kwargs)
        if found is None:
            return [None] * len(entries)
        for (_report_id, _subject_id, _author_id, item), one in zip(entries, found, strict=True):
            self._found[id(item)] = one
        return [f.verdict if f is not None else None for f in found]

    def reports_filed(self, *, source, filed):
        self.signals_by_result = {id(result): self._found.get(id(item)) for item, result in filed}


# Work a layer above (rules) does on each newly filed report, inside the intake transaction. Registered from
# that layer's AppConfig.ready, so reviews imports nothing above it. Each is called with report_id, case_id,
# replayed (an idempotent replay filed nothing new), opened (the report opened the case) and signals
# (signals.intake.IntakeSignals of the report, or None), and returns None or what it changed on the case
# ({"state", "priority", "decision_id"}): the response (and the stored response its replays return) says so.
_AFTER_FILING = []


def register_after_filing(fn):
    if fn not in _AFTER_FILING:
        _AFTER_FILING.append(fn)


def _after_filing(results, hooks):
    for result in results:
        if not isinstance(result, FileResult) or result.body.get("case") is None:
            continue  # an IdempotencyConflict in a batch, or a held notice: no case was filed
        changed = {}
        for fn in _AFTER_FILING:
            changed.update(fn(report_id=result.body["report_id"], case_id=result.case_id, replayed=result.replayed,
                              opened=result.status == 201, signals=hooks.signals_by_result.get(id(result))) or {})
        if changed and not result.replayed:
            result.body["case"].update(changed)
            Report.objects.filter(pk=result.body["report_id"], response__isnull=False).update(
                response={"status": result.status, "body": result.body})
    return results


def _is_retryable(exc):
    # Two requests racing for one idempotency key: the loser's insert violates
    # the unique key and its transaction rolls back; on the next attempt it
    # finds the winner's report and replays it. Deadlocks and serialization
    # failures (batches locking overlapping subjects) are retried too.
    if isinstance(exc, IntegrityError):
        return True
    cause = getattr(exc, "__cause__", None)
    sqlstate = getattr(cause, "sqlstate", None)
    # 55P03: re-routing found the case's review locked by a vote or claim (NOWAIT, reviews.services.routing).
    return sqlstate in ("40P01", "40001", "55P03")


# admin_shutdown (pg_terminate_backend, a restart), crash_shutdown, cannot_connect_now; class 08: connection exceptions
_CONNECTION_LOST = ("57P01", "57P02", "57P03")


def _connection_lost(exc, committing):
    """The transaction failed because its connection died (a restart,
    pg_terminate_backend) before COMMIT was sent: nothing of it was stored.
    The connection is closed so that the next attempt opens a new one. A
    connection lost during COMMIT is not retried (the transaction may have
    committed), nor one inside a caller's transaction."""
    if committing or not isinstance(exc, OperationalError) or connection.in_atomic_block:
        return False
    raw = connection.connection
    sqlstate = getattr(exc.__cause__, "sqlstate", None) or ""
    if raw is None or raw.closed or raw.broken or sqlstate in _CONNECTION_LOST or sqlstate.startswith("08"):
        connection.close()
        return True
    return False


def _with_retries(fn):
    for attempt in range(1, MAX_ATTEMPTS + 1):
        committing = False
        try:
            with transaction.atomic():
                result = fn()
                committing = True
            return result
        except (IntegrityError, OperationalError) as exc:
            if attempt == MAX_ATTEMPTS or not (_is_retryable(exc) or _connection_lost(exc, committing)):
                raise
            log.info("intake attempt %d conflicted (%s); retrying", attempt, exc.__class__.__name__)
            if getattr(getattr(exc, "__cause__", None), "sqlstate", None) == "55P03":
                time.sleep(0.05 * attempt)  # give the vote or claim holding the review time to commit


def report_intake(*, source, api_client_id, actor, item, guard=None):
    """Files one validated report. Returns cases.services.FileResult; raises
    IdempotencyConflict when the key was used with another body, and
    GuardTripped (nothing stored) when `guard` holds (cases.services.IntakeGuard)."""
    # RULES HOOK (single-report path): evaluated in the same transaction, after the report is filed.
    def attempt():
        hooks = _ReviewHooks()
        return _after_filing([report_file(source=source, api_client_id=api_client_id, actor=actor, item=item,
                                          hooks=hooks, guard=guard)], hooks)[0]

    return _with_retries(attempt)


def report_intake_batch(*, source, api_client_id, actor, items):
    """Files validated reports in one transaction; per-item results in order."""
    if not items:
        return []
    # RULES HOOK (batch path): evaluated in the same transaction, per filed report, in order.
    def attempt():
        hooks = _ReviewHooks()
        return _after_filing(reports_file_batch(source=source, api_client_id=api_client_id, actor=actor,
                                                items=items, hooks=hooks), hooks)

    return _with_retries(attempt)
