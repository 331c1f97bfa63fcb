"""Intake under real concurrency: threads, each with its own PostgreSQL
connection, hitting the API at the same moment."""

import threading
from collections import Counter

import pytest
from django.db import connection
from rest_framework.test import APIClient

from audit.models import AuditEvent
from audit.verify import verify_audit
from cases.models import Case, Report, Subject

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

THREADS = 32


def run_concurrently(requests, make_call):
    """Runs len(requests) calls on THREADS threads released together by a barrier."""
    results = [None] * len(requests)
    barrier = threading.Barrier(min(THREADS, len(requests)))
    lock = threading.Lock()
    next_index = {"i": 0}

    def worker():
        try:
            barrier.wait(timeout=30)
            while True:
                with lock:
                    i = next_index["i"]
                    next_index["i"] += 1
                if i >= len(requests):
                    return
                try:
                    results[i] = make_call(requests[i])
                except Exception as exc:  # recorded and asserted on below
                    results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(min(THREADS, len(requests)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a request hung (deadlock?)"
    return results


def _poster(key, path="/api/v1/reports"):
    def call(item):
        body, headers = item
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}", **headers)
        response = client.post(path, body, format="json")
        return response.status_code, response.json()

    return call


def test_100_concurrent_reports_on_one_new_subject_make_one_case(make_api_client, policy_book):
    _client, key = make_api_client()
    requests = [
        ({"subject": {"kind": "content", "external_id": "viral-post", "text": "same post"},
          "policy": "spam", "reporter": {"kind": "user", "external_id": f"reporter-{i}"}}, {})
        for i in range(100)
    ]
    results = run_concurrently(requests, _poster(key))

    errors = [r for r in results if isinstance(r, Exception) or r[0] >= 300]
    assert errors == []
    statuses = sorted(status for status, _ in results)
    assert statuses.count(201) == 1 and statuses.count(200) == 99
    assert len({body["case"]["id"] for _, body in results}) == 1

    case = Case.objects.get()
    assert case.report_count == 100
    assert case.reporter_count == 100
    assert Report.objects.filter(case=case).count() == 100
    assert Subject.objects.count() == 1
    # Each response saw a distinct count: the increments were serialized.
    assert sorted(body["case"]["report_count"] for _, body in results) == list(range(1, 101))
    actions = Counter(AuditEvent.objects.filter(stream=f"case:{case.id}").values_list("action", flat=True))
    # 100 brand-new reporters within a second on one new subject is also what a brigade looks like: the
    # signals may flag it (once, audited); everything else is exactly one event per report.
    assert actions.pop("case.signal_flag_changed", 0) <= 1
    assert actions == {"case.opened": 1, "report.filed": 99}
    assert verify_audit().ok


def test_50_concurrent_requests_with_one_idempotency_key_store_one_report(make_api_client, policy_book):
    _client, key = make_api_client()
    body = {"subject": {"kind": "account", "external_id": "acct-7"}, "policy": "harassment"}
    requests = [(body, {"HTTP_IDEMPOTENCY_KEY": "retry-storm-1"}) for _ in range(50)]
    results = run_concurrently(requests, _poster(key))

    assert [r for r in results if isinstance(r, Exception)] == []
    assert {status for status, _ in results} == {201}
    assert len({body["report_id"] for _, body in results}) == 1
    assert Report.objects.count() == 1
    assert Case.objects.get().report_count == 1
    assert AuditEvent.objects.filter(action="case.opened").count() == 1


def test_concurrent_batches_over_overlapping_subjects_do_not_deadlock_or_lose_reports(make_api_client, policy_book):
    _client, key = make_api_client()
    subjects = [f"shared-{i}" for i in range(20)]
    batches = []
    for b in range(8):
        order = subjects if b % 2 == 0 else list(reversed(subjects))
        reports = [
            {"subject": {"kind": "content", "external_id": ext, "author": {"external_id": f"author-{i % 3}"}},
             "policy": "spam", "reporter": {"external_id": f"batch-{b}"}}
            for i, ext in enumerate(order)
        ]
        batches.append(({"reports": reports}, {}))
    results = run_concurrently(batches, _poster(key, "/api/v1/reports/batch"))

    assert [r for r in results if isinstance(r, Exception)] == []
    assert {status for status, _ in results} == {200}
    assert all(body["accepted"] == 20 for _, body in results)
    assert Case.objects.count() == 20
    assert Report.objects.count() == 160
    assert set(Case.objects.values_list("report_count", flat=True)) == {8}
    assert set(Case.objects.values_list("reporter_count", flat=True)) == {8}
    assert verify_audit().ok


def test_singles_and_batches_racing_on_hot_subjects_keep_exact_counts(make_api_client, policy_book):
    _client, key = make_api_client()
    hot = [f"hot-{i}" for i in range(5)]
    requests = []
    for i in range(40):
        requests.append(({"subject": {"kind": "content", "external_id": hot[i % 5]}, "policy": "hate"}, {}))
    single = _poster(key)
    batch = _poster(key, "/api/v1/reports/batch")
    batch_body = {"reports": [{"subject": {"kind": "content", "external_id": h}, "policy": "spam"} for h in hot]}
    mixed = requests + [(batch_body, {"batch": True})] * 6

    def call(item):
        body, headers = item
        if headers.get("batch"):
            return batch((body, {}))
        return single((body, {}))

    results = run_concurrently(mixed, call)
    assert [r for r in results if isinstance(r, Exception) or r[0] >= 300] == []
    assert Case.objects.count() == 5
    assert Report.objects.count() == 40 + 6 * 5
    for case in Case.objects.all():
        assert case.report_count == Report.objects.filter(case=case).count() == 14
    assert verify_audit().ok
