"""Submission to the transparency database through the audit-log outbox,
against a local HTTP server that implements the documented endpoints: every
published statement arrives exactly once and in order, whatever the server
answers (422, 429, 500) or however it drops connections; nothing with
personal data leaves."""

import threading

import pytest

from audit.models import AuditEvent
from dsa import submission
from dsa.models import Statement, StatementState, SubmissionState
from tests.processes import wait_for

from .tdb_server import FakeTransparencyDatabase

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tdb(settings):
    with FakeTransparencyDatabase() as server:
        settings.DSA_TDB_URL = server.url
        settings.DSA_TDB_TOKEN = server.token
        settings.DSA_TDB_BATCH = 3
        settings.DSA_TDB_RETRY_BASE_SECONDS = 0.001
        settings.DSA_TDB_TIMEOUT = 5.0
        yield server


def _settled():
    submission.tick()
    return not Statement.objects.filter(submission_state__in=[SubmissionState.PENDING, SubmissionState.UNSENT],
                                        state__in=[StatementState.PUBLISHED, StatementState.SUPERSEDED]).exists()


def test_submission_is_off_without_an_endpoint(file_report, dsa_defaults, decide):
    decide(file_report())
    assert submission.tick() == {}
    assert Statement.objects.get().submission_state == SubmissionState.UNSENT


def test_every_statement_arrives_exactly_once_in_order_through_trouble(tdb, file_report, dsa_defaults, decide):
    decisions = [decide(file_report(external_id=f"post-{i}")) for i in range(8)]
    statements = list(Statement.objects.filter(decision__in=decisions).order_by("id"))
    assert all(s.state == StatementState.PUBLISHED for s in statements)
    poisoned = statements[4].puid
    tdb.refuse.add(poisoned)
    # batches of 3: stored but the connection dropped; rate limited; stored but 500; dropped before storing; 500
    tdb.script = ["drop_after", "429", "500_after", "drop_before", "500"]
    wait_for(_settled, timeout=120, what="every statement submitted or refused")

    assert all(count == 1 for count in tdb.store_counts.values())
    expected = [s.puid for s in statements if s.puid != poisoned]
    assert tdb.arrival == expected  # exactly once each, in publication order
    states = dict(Statement.objects.values_list("puid", "submission_state"))
    assert states.pop(poisoned) == SubmissionState.DEAD
    assert set(states.values()) == {SubmissionState.SUBMITTED}
    assert AuditEvent.objects.filter(action="statement.submitted").count() == 7
    failed = AuditEvent.objects.get(action="statement.submission_failed")
    assert failed.data["puid"] == poisoned and "Refused by the test server" in failed.data["error"]
    assert any(fault == "drop_after" for _, fault in tdb.requests)
    # the batches whose answer was lost were recognised by their puids when sent again
    assert Statement.objects.filter(submission_error="already in the transparency database").count() >= 3
    # nothing is sent twice when the tick runs again
    before = len(tdb.requests)
    submission.tick()
    assert len(tdb.requests) == before


def test_two_senders_at_once_never_double_submit(tdb, file_report, dsa_defaults, decide):
    for i in range(5):
        decide(file_report(external_id=f"p-{i}"))
    submission.dispatch()
    errors = []

    def run():
        from django.db import connection
        try:
            submission.send_round()
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_for(_settled, timeout=60, what="all submitted")
    assert not errors and len(tdb.arrival) == 5 and set(tdb.store_counts.values()) == {1}


def test_a_payload_with_personal_data_never_leaves(tdb, file_report, dsa_defaults, decide):
    decide(file_report(external_id="a"))
    decide(file_report(external_id="b"))
    first, second = Statement.objects.order_by("id")
    tampered = {**first.payload, "decision_facts": "Write to victim@example.com"}
    Statement.objects.filter(pk=first.pk).update(payload=tampered)
    wait_for(_settled, timeout=60, what="both settled")
    assert list(tdb.stored) == [second.puid]
    first.refresh_from_db()
    assert first.submission_state == SubmissionState.DEAD and "personal data" in first.submission_error
    assert all("example.com" not in str(s) for s in tdb.stored.values())


def test_corrected_statements_are_new_statements_in_the_database(tdb, file_report, dsa_defaults, decide, people):
    from dsa.services import statement_correct

    decide(file_report())
    wait_for(_settled, timeout=60, what="submitted")
    original = Statement.objects.get()
    new = statement_correct(statement_id=original.pk, lead=people["seniors"][0], changes={"territorial_scope": ["DE"]})
    wait_for(_settled, timeout=60, what="correction submitted")
    assert tdb.arrival == [original.puid, new.puid] and tdb.stored[new.puid]["territorial_scope"] == ["DE"]
