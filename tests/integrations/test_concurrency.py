"""Requests racing each other through the API, with real commits (threads,
each on its own database connection)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from rest_framework.test import APIClient

from cases.models import Case, Report

from .conftest import BATCH_URL, REPORTS_URL, post_json

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


def _race(key, requests):
    """Runs the callables at (nearly) the same moment; returns their results."""
    barrier = threading.Barrier(len(requests))

    def run(request):
        http = APIClient()
        http.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        try:
            barrier.wait(timeout=60)
            return request(http)
        finally:
            connection.close()

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(run, requests))


def test_racing_requests_with_one_idempotency_key_file_one_report(api, report_body):
    responses = _race(api.key, [
        lambda http: post_json(http, REPORTS_URL, report_body("p"), HTTP_IDEMPOTENCY_KEY="race") for _ in range(THREADS)
    ])
    assert [r.status_code for r in responses] == [201] * THREADS, [r.content[:300] for r in responses]
    assert len({r.json()["report_id"] for r in responses}) == 1
    assert Report.objects.count() == 1
    assert Case.objects.get().report_count == 1


def test_racing_reports_about_one_new_subject_open_one_case(api, report_body):
    responses = _race(api.key, [
        lambda http, n=n: post_json(http, REPORTS_URL, report_body("p", reporter={"kind": "user", "external_id": f"u{n}"}))
        for n in range(THREADS)
    ])
    assert sorted(r.status_code for r in responses) == [200] * (THREADS - 1) + [201], [r.content[:300] for r in responses]
    assert len({r.json()["case"]["id"] for r in responses}) == 1
    assert sorted(r.json()["case"]["report_count"] for r in responses) == list(range(1, THREADS + 1))
    case = Case.objects.get()
    assert (case.report_count, case.reporter_count) == (THREADS, THREADS)


def test_racing_batches_over_overlapping_subjects_keep_exact_counts(api, report_body):
    subjects = [f"s{n}" for n in range(10)]

    def send(http, offset):
        # Each batch names the subjects in another order: a deadlock-prone pattern.
        order = subjects[offset:] + subjects[:offset]
        return post_json(http, BATCH_URL, {"reports": [report_body(s) for s in order]})

    responses = _race(api.key, [lambda http, n=n: send(http, n) for n in range(THREADS)])
    assert [r.status_code for r in responses] == [200] * THREADS, [r.content[:300] for r in responses]
    assert all(r.json()["accepted"] == len(subjects) for r in responses)
    assert Case.objects.count() == len(subjects)
    assert set(Case.objects.values_list("report_count", flat=True)) == {THREADS}
    assert Report.objects.count() == THREADS * len(subjects)
