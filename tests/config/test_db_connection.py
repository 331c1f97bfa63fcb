"""A persistent connection that the server drops between two requests
(pg_terminate_backend: what a restart or an idle timeout does) costs no
failed request, and no request pays a `SELECT 1` health check for it."""

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.models import Case, Report

pytestmark = pytest.mark.django_db(transaction=True)


def _terminate(pid):
    """Ends the backend with process id `pid` from a separate, superuser connection."""
    admin = settings.TEST_DB_ADMIN
    with psycopg.connect(host=admin["HOST"] or "127.0.0.1", port=admin["PORT"] or 5432, user=admin["USER"],
                         password=admin["PASSWORD"] or None, dbname=connection.settings_dict["NAME"],
                         autocommit=True) as admin_connection:
        terminated = admin_connection.execute("SELECT pg_terminate_backend(%s, 10000)", [pid]).fetchone()[0]
    assert terminated


def _backend_pid():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_health_checks_are_off():
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is False
    assert connection.settings_dict["CONN_MAX_AGE"] > 0


def test_a_report_after_the_backend_was_terminated_still_succeeds(api, report_body, workflows):
    assert api.post("/api/v1/reports", report_body("before"), format="json").status_code == 201
    old_pid = _backend_pid()
    _terminate(old_pid)
    # The test client does not run Django's request-boundary check, so this is the mid-request path: the
    # intake transaction fails on the dead connection and is retried on a new one.
    response = api.post("/api/v1/reports", report_body("after"), format="json")
    assert response.status_code == 201, response.content
    assert _backend_pid() != old_pid
    assert Report.objects.filter(subject__external_id__in=["before", "after"]).count() == 2


def test_the_request_boundary_replaces_a_dropped_connection_without_a_round_trip(db):
    old_pid = _backend_pid()
    _terminate(old_pid)
    with CaptureQueriesContext(connection) as captured:
        connection.close_if_unusable_or_obsolete()  # what Django runs when a request starts
    assert captured.captured_queries == []
    assert connection.connection is None
    assert _backend_pid() != old_pid


def test_the_request_boundary_keeps_a_live_connection(db):
    pid = _backend_pid()
    connection.close_if_unusable_or_obsolete()
    assert connection.connection is not None and _backend_pid() == pid


def test_a_connection_lost_in_the_middle_of_intake_retries_the_whole_transaction(api, report_body, workflows,
                                                                                monkeypatch):
    """The backend dies after the subject and case were written, before the report: nothing of the first
    attempt survives, the retry on a new connection stores the report exactly once."""
    from cases.services import intake

    real = intake.audit_record_many
    calls = []

    def dying(**kwargs):
        calls.append(_backend_pid())
        if len(calls) == 1:
            _terminate(calls[0])
        return real(**kwargs)

    monkeypatch.setattr(intake, "audit_record_many", dying)  # the step that writes reports and events
    response = api.post("/api/v1/reports", report_body("mid-transaction"), format="json")
    assert response.status_code == 201, response.content
    assert len(calls) == 2 and calls[0] != calls[1]
    assert Report.objects.filter(subject__external_id="mid-transaction").count() == 1
    assert Case.objects.filter(subject__external_id="mid-transaction").count() == 1
