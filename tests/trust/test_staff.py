"""Staff reports count as staff (priority weight 2) only from an API client an
admin allowed to file them (scope `reports:staff`, audited); any other client
that says "staff" files an ordinary user report that keeps the claim."""

import pytest

from audit.models import AuditEvent
from cases.models import Report
from integrations.services import api_client_update
from trust.models import HeldNotice, ReporterSanction

from ..integrations.conftest import REPORTS_URL, post_json
from .conftest import ADMIN

pytestmark = pytest.mark.django_db

STAFF = {"kind": "staff", "external_id": "mod-7"}


def _file(http, external_id, reporter=STAFF):
    response = post_json(http, REPORTS_URL, {"subject": {"kind": "content", "external_id": external_id, "text": "x"},
                                             "policy": "spam", "reporter": reporter})
    return response


def _reporter(http, case_id):
    return http.get(f"/api/v1/cases/{case_id}").json()["reports"][0]["reporter"]


def test_a_client_without_the_scope_cannot_buy_staff_weight_by_saying_so(api):
    claimed = _file(api, "post-claim").json()
    honest = _file(api, "post-user", reporter={"kind": "user", "external_id": "mod-7"}).json()

    assert claimed["case"]["priority"] == honest["case"]["priority"]  # weight 1, not 2
    report = Report.objects.get(pk=claimed["report_id"])
    assert (report.reporter_kind, report.claimed_reporter_kind) == ("user", "staff")
    assert _reporter(api, claimed["case"]["id"]) == {"kind": "user", "external_id": "mod-7", "claimed_kind": "staff"}


def test_an_admin_grants_and_withdraws_staff_reports_and_both_are_audited(api, make_api_client):
    before = _file(api, "before").json()
    api_client_update(client_id=api.api_client.pk, actor=ADMIN, scopes=["reports:write", "cases:read", "reports:staff"])
    granted = _file(api, "granted").json()
    assert granted["case"]["priority"] > before["case"]["priority"]
    assert _reporter(api, granted["case"]["id"]) == {"kind": "staff", "external_id": "mod-7", "claimed_kind": None}

    # another client of the same platform does not inherit it
    other, key = make_api_client(source_name=api.api_client.source.name)
    from rest_framework.test import APIClient
    other_http = APIClient()
    other_http.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert Report.objects.get(pk=_file(other_http, "other").json()["report_id"]).reporter_kind == "user"

    api_client_update(client_id=api.api_client.pk, actor=ADMIN, scopes=["reports:write", "cases:read"])
    withdrawn = _file(api, "withdrawn").json()
    assert Report.objects.get(pk=withdrawn["report_id"]).claimed_reporter_kind == "staff"
    changes = [e.data["changes"]["scopes"] for e in
               AuditEvent.objects.filter(action="api_client.rescoped", target_id=str(api.api_client.pk)).order_by("id")]
    assert [("reports:staff" in c["from"], "reports:staff" in c["to"]) for c in changes] == [(False, True),
                                                                                             (True, False)]


def test_a_suspended_reporter_cannot_escape_the_hold_by_claiming_to_be_staff(api, settings):
    from datetime import timedelta

    from django.utils import timezone
    now = timezone.now()
    ReporterSanction.objects.create(source_id=api.api_client.source_id, reporter_external_id="mod-7",
                                    kind="suspension", reason="r", notices=5, unfounded=5, created_at=now,
                                    ends_at=now + timedelta(days=3), state="confirmed")
    held = _file(api, "escape")
    assert held.status_code == 202 and held.json()["effect"] == "held_reporter_suspended"
    assert HeldNotice.objects.get().reporter_kind == "user"


def test_in_a_batch_only_the_staff_claims_are_relabelled(api):
    response = post_json(api, "/api/v1/reports/batch", {"reports": [
        {"subject": {"kind": "content", "external_id": "b1"}, "policy": "spam", "reporter": STAFF},
        {"subject": {"kind": "content", "external_id": "b2"}, "policy": "spam", "reporter": {"kind": "automated"}},
    ]})
    assert response.status_code == 200, response.content
    ids = [r["report_id"] for r in response.json()["results"]]
    kinds = [Report.objects.filter(pk=i).values_list("reporter_kind", "claimed_reporter_kind").get() for i in ids]
    assert kinds == [("user", "staff"), ("automated", "")]
