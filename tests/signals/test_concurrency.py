"""Signals under real concurrency: threads with their own PostgreSQL connections file reports about the
same subjects at once, through the API (single and batch). Counters stay exact; pairs do not deadlock."""

import pytest
from rest_framework.test import APIClient

from cases.models import Case
from signals.models import CoReportPair, IdentifierLink, SubjectSignals
from tests.cases.test_intake_concurrency import run_concurrently

pytestmark = [pytest.mark.django_db(transaction=True)]


def _post(key):
    def call(item):
        path, body = item
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        response = client.post(path, body, format="json")
        return response.status_code

    return call


def test_concurrent_reports_keep_the_counters_exact(make_api_client, policy_book):
    _client, key = make_api_client()
    crew = [f"crew-{i}" for i in range(8)]
    requests = []
    for post in ("a", "b", "c"):
        for name in crew:
            requests.append(("/api/v1/reports", {
                "subject": {"kind": "account", "external_id": f"acct-{post}"}, "policy": "spam",
                "reporter": {"kind": "user", "external_id": name}, "description": "same words every time",
                "signals": {"subject": {"device": f"dev-{post}", "ip_prefix": "203.0.113.9"}}}))
    requests.append(("/api/v1/reports/batch", {"reports": [
        {"subject": {"kind": "account", "external_id": f"acct-{post}"}, "policy": "spam",
         "reporter": {"kind": "user", "external_id": "batcher"}, "description": "same words every time"}
        for post in ("c", "b", "a")]}))
    assert set(run_concurrently(requests, _post(key))) <= {200, 201}
    for post in ("a", "b", "c"):
        case = Case.objects.get(subject__external_id=f"acct-{post}")
        row = SubjectSignals.objects.get(subject_id=case.subject_id)
        assert row.reports == case.report_count == 9
        assert row.weak_reports == 9 and row.near_duplicate_reports == 8
        assert len(row.recent_reporters) == 9
    # Every pair of the 9 reporters met on each of the three subjects; each pair was counted once per subject.
    assert CoReportPair.objects.count() == 36 and set(CoReportPair.objects.values_list("count", flat=True)) == {3}
    assert IdentifierLink.objects.filter(kind="ip_prefix").count() == 3
    assert IdentifierLink.objects.filter(kind="ip_prefix").values("digest").distinct().count() == 1
