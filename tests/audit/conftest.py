"""Helpers for the audit tests: writing events, tampering with the tables
behind the trigger's back, running verify_audit, and threads with their own
database connections."""

import threading
import time
from contextlib import contextmanager
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from audit.context import Actor
from audit.services import audit_record
from tests.dbroles import as_owner

AUDIT_TABLES = ("audit_auditevent", "audit_auditcheckpoint")


def record(stream, *, action="case.state_changed", actor=None, data=None, new_stream=False, target_id="1"):
    """One audit_record() call in its own (inner) transaction."""
    with transaction.atomic():
        return audit_record(
            stream=stream, action=action, actor=actor or Actor.system("tests"), target_type="case",
            target_id=target_id, data={"n": 1} if data is None else data, new_stream=new_stream,
        )


@contextmanager
def tampering():
    """A cursor on the audit tables with their append-only triggers disabled,
    as someone with direct database access would have."""
    with as_owner() as cursor:
        for table in AUDIT_TABLES:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        try:
            yield cursor
        finally:
            for table in AUDIT_TABLES:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def run_verify(*args):
    """Runs `manage.py verify_audit`; returns (ok, stdout, stderr, error message)."""
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_audit", *args, stdout=out, stderr=err)
    except CommandError as exc:
        assert exc.returncode == 1
        return False, out.getvalue(), err.getvalue(), str(exc)
    return True, out.getvalue(), err.getvalue(), ""


def assert_broken(*, names_event=None, contains=()):
    """Asserts verify_audit fails, and that both stderr and the error name the
    event id (when given) and contain the given fragments."""
    ok, _out, err, message = run_verify()
    assert not ok, "verify_audit did not notice the tampering"
    for text in (err, message):
        if names_event is not None:
            assert f"event id={names_event} " in text, text
        for fragment in contains:
            assert fragment in text, text
    return err


class Worker(threading.Thread):
    """Runs `fn` on its own thread (hence its own database connection) and
    keeps its result or exception."""

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn, self.result, self.error, self.finished_at = fn, None, None, None

    def run(self):
        try:
            self.result = self.fn()
        except BaseException as exc:  # re-raised by value() in the test thread
            self.error = exc
        finally:
            self.finished_at = time.monotonic()
            connection.close()

    def value(self, timeout=60):
        self.join(timeout)
        assert not self.is_alive(), "worker hung"
        if self.error is not None:
            raise self.error
        return self.result


def wait_until_lock_waiters(count, timeout=60):
    """Waits until `count` sessions on the test database wait for a lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with as_owner() as cursor:  # the sessions' login role: what they wait for is visible to it
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0] >= count:
                return
        time.sleep(0.02)
    raise AssertionError(f"expected {count} session(s) waiting for a lock")


@pytest.fixture
def gate():
    """A pair of events: a worker signals `reached`, then waits for `release`.
    Releases on teardown so that no worker outlives a failed test."""
    reached, release = threading.Event(), threading.Event()
    yield reached, release
    release.set()
