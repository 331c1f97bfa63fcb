"""The intake use case: a validated report enters the system.

`cases` files the report into the open case for its subject or opens one (and
puts a new case in its queue); this layer owns what happens around it: retry
on the rare conflicts that concurrency produces. The workflow routing of F2
hooks in here, inside the same transaction.
"""

import logging
import time

from django.db import IntegrityError, OperationalError, connection, transaction

from cases.services import FileResult, IntakeHooks, report_file, reports_file_batch
from signals import intake as signals_intake

from .services import route_new_case, route_new_cases, sync_priority
from .services.routing import case_reopen_round, case_reroute, route_plan

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 4


class _ReviewHooks(IntakeHooks):
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

    def report_signals(self, **kwargs):
        found = signals_intake.report_signals(**kwargs)
        return found.verdict if found is not None else None


HOOKS = _ReviewHooks()

# Work a layer above (rules) does on each newly filed report, inside the intake transaction. Registered from
# that layer's AppConfig.ready, so reviews imports nothing above it. Each is called with report_id, case_id and
# replayed (an idempotent replay filed nothing new).
_AFTER_FILING = []


def register_after_filing(fn):
    if fn not in _AFTER_FILING:
        _AFTER_FILING.append(fn)


def _after_filing(results):
    for result in results:
        if not isinstance(result, FileResult):
            continue  # an IdempotencyConflict in a batch: nothing was filed
        for fn in _AFTER_FILING:
            fn(report_id=result.body["report_id"], case_id=result.case_id, replayed=result.replayed)
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
    return _with_retries(lambda: _after_filing([
        report_file(source=source, api_client_id=api_client_id, actor=actor, item=item, hooks=HOOKS,
                    guard=guard)])[0])


def report_intake_batch(*, source, api_client_id, actor, items):
    """Files validated reports in one transaction; per-item results in order."""
    if not items:
        return []
    # RULES HOOK (batch path): evaluated in the same transaction, per filed report, in order.
    return _with_retries(lambda: _after_filing(
        reports_file_batch(source=source, api_client_id=api_client_id, actor=actor, items=items, hooks=HOOKS)))
