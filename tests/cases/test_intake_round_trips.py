"""How many statements report intake sends to PostgreSQL, for the common
cases. The counts are fixed by the code, not by the load; a change that adds
a round trip to the hot path has to change this test and say why.

Counted with CaptureQueriesContext around one HTTP request in a transactional
test: every statement the application sends, BEGIN and COMMIT included. The
signals statement (G4, signals.intake: a server-side prepared statement sent
on the raw psycopg connection, which CaptureQueriesContext does not see) is
counted where it runs, one per intake call whatever the number of reports,
as "-- signals"."""

from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.verify import verify_audit
from cases.models import Case, Report
from signals import intake as signals_intake

pytestmark = pytest.mark.django_db(transaction=True)


def _statements(api, body, url="/api/v1/reports", **headers):
    signals = []
    real = signals_intake.reports_signals

    def counted(**kwargs):
        found = real(**kwargs)
        if found is not None:  # the statement ran (PostgreSQL)
            signals.append(len(captured.captured_queries))
        return found

    with mock.patch.object(signals_intake, "reports_signals", counted), \
            CaptureQueriesContext(connection) as captured:
        response = api.post(url, body, format="json", **headers)
    assert response.status_code in (200, 201), response.content
    sql = [q["sql"] for q in captured.captured_queries]
    for position in reversed(signals):
        sql.insert(position, "-- signals")
    return response, sql


def _warm(api, report_body):
    # first request of a process reads configuration (policies, routing) into its caches
    _statements(api, report_body("warm-up"))


@pytest.mark.parametrize("reporter", [None, {"kind": "user", "external_id": "someone"}],
                         ids=["anonymous", "identified"])
def test_a_report_about_a_new_subject_opens_a_case_in_few_round_trips(api, report_body, workflows, reporter):
    _warm(api, report_body)
    # an identified user could be suspended (trust): the check rides on the subject upsert, no round trip
    response, sql = _statements(api, report_body("new-subject", **({"reporter": reporter} if reporter else {})))
    assert response.status_code == 201
    print("new subject:", len(sql), *sql, sep="\n  ")
    assert len(sql) == NEW_CASE, sql
    assert Report.objects.filter(subject__external_id="new-subject").count() == 1
    assert verify_audit().ok


@pytest.mark.parametrize("metadata", [False, True], ids=["stored-metadata", "metadata-in-report"])
def test_a_report_joining_an_open_case_in_few_round_trips(api, report_body, workflows, metadata):
    _warm(api, report_body)
    extra = {"metadata": {"followers_count": 10}} if metadata else {}

    def body(reporter):
        b = report_body("hot-subject", reporter={"kind": "user", "external_id": reporter})
        b["subject"].update(extra)
        return b

    _statements(api, body("a"))
    response, sql = _statements(api, body("b"))
    assert response.status_code == 200
    print("join:", len(sql), *sql, sep="\n  ")
    assert len(sql) == (JOIN_WITH_METADATA if metadata else JOIN), sql
    case = Case.objects.get(subject__external_id="hot-subject")
    assert (case.report_count, case.reporter_count) == (2, 2)
    assert verify_audit().ok


def test_a_batch_runs_the_signals_statement_once_whatever_its_size(api, report_body, workflows):
    _warm(api, report_body)
    items = [report_body(f"batch-{n % 3}", reporter={"kind": "user", "external_id": f"r{n}"}) for n in range(8)]
    response, sql = _statements(api, {"reports": items}, url="/api/v1/reports/batch")
    assert response.json()["accepted"] == 8
    assert sql.count("-- signals") == 1, sql
    assert Report.objects.filter(subject__external_id__startswith="batch-").count() == 8


def test_an_idempotency_key_costs_one_look_up_and_a_replay_writes_nothing(api, report_body, workflows):
    _warm(api, report_body)
    body = report_body("keyed")
    first, sql = _statements(api, body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201
    assert len(sql) == NEW_CASE + 1, sql
    replay, sql = _statements(api, body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert [s.split()[0].upper() for s in sql] == ["BEGIN", "SELECT", "COMMIT"], sql


# Before G5 (one report = a batch of one, written together): 8, 11 and 11, plus a `SELECT 1` connection
# health check per request. G5 alone (without the G4 signals and the G3b trust screening): 4, 7 and 8.
#
# BEGIN, subject upsert (with the trust suspension check of an identified reporter), signals, case + review +
# report + audit event + stream head (one CTE: the subject is new, so its case is too and needs no statement of
# its own), COMMIT. Signals add one (the verdict sets the new
# case's priority, so it must come after the subject upsert and before the case is opened).
NEW_CASE = 5
# BEGIN, subject upsert (+ the trust suspension check of the identified reporter: it was a statement of its own
# before the transaction until G5's IntakeGuard, 10 → 9), signals, case upsert, reporters known?, review
# priority, audit head lock, case counters + report + event + head (one CTE), COMMIT. Signals add one; with
# signals the subject and case upsert can no longer share a statement (the verdict comes in between), so a
# report carrying metadata costs as much as one that does not.
JOIN_WITH_METADATA = 9
JOIN = 9
