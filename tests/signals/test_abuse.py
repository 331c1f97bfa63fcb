"""Who gains by abusing the signals, and what stops them."""

import pytest
from rest_framework.test import APIClient

from cases.models import Case
from signals import features
from signals.models import IdentifierLink, ReporterReputation

pytestmark = pytest.mark.django_db


def _client(make_api_client, source_name):
    client, key = make_api_client(source_name=source_name)
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    http.api_client = client
    return http


def _account(http, external_id, device, path="/api/v1/reports"):
    body = {"subject": {"kind": "account", "external_id": external_id}, "policy": "spam",
            "signals": {"subject": {"device": device}}}
    if path.endswith("batch"):
        return http.post(path, {"reports": [body]}, format="json")
    return http.post(path, body, format="json")


def test_one_platform_cannot_link_or_flag_accounts_of_another(make_api_client, policy_book, workflows, decide):
    forum, market = _client(make_api_client, "forum"), _client(make_api_client, "market")
    banned = _account(forum, "acct-banned", "shared-device").json()["case"]["id"]
    decide(banned, "suspend_account", duration_days=7)
    other = _account(market, "acct-elsewhere", "shared-device").json()["case"]["id"]
    assert features.for_case(other)["ban_evasion_flagged"] is False
    # The same device hashes differently under each source's key.
    assert IdentifierLink.objects.filter(kind="device").values("digest").distinct().count() == 2
    # Within the forum, the returning account is flagged, also through the batch endpoint.
    response = _account(forum, "acct-returns", "shared-device", path="/api/v1/reports/batch")
    assert response.status_code == 200, response.content
    returned = response.json()["results"][0]["case"]["id"]
    assert features.for_case(returned)["ban_evasion_flagged"] is True


def test_media_hashes_per_report_are_capped(api):
    media = [{"pdq": f"{i:064x}"} for i in range(11)]
    response = api.post("/api/v1/reports", {"subject": {"kind": "content", "external_id": "c"}, "policy": "spam",
                                            "signals": {"media": media}}, format="json")
    assert response.status_code == 400 and "media" in response.content.decode()
    assert not Case.objects.exists()


def test_a_classifier_builds_its_record_per_api_client(api, workflows, decide):
    body = {"subject": {"kind": "content", "external_id": "auto-1"}, "policy": "spam",
            "reporter": {"kind": "automated", "external_id": "model-v1"}, "classifier_score": 0.9}
    case_id = api.post("/api/v1/reports", body, format="json").json()["case"]["id"]
    decide(case_id, "no_violation")
    record = ReporterReputation.objects.get(reporter_kind="automated")
    assert record.reporter_key == str(api.api_client.pk) and (record.upheld, record.rejected) == (0.0, 1.0)
