"""Trusted flaggers (DSA Art. 22): only a registered, active flagger within its
areas of expertise gets trusted priority, SLAs and re-opening; every other
claim is an ordinary user report that keeps the claim visible."""

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEvent
from cases.models import Case, Report, Source
from reviews.models import Review, SlaPolicy
from trust.flaggers import flagger_set_status

from ..integrations.conftest import REPORTS_URL, post_json
from .conftest import ADMIN, decide

pytestmark = pytest.mark.django_db

FLAGGER = {"kind": "trusted_flagger", "external_id": "ngo-1"}


@pytest.fixture
def half_sla_for_flaggers(workflows):
    SlaPolicy.objects.create(name="trusted flaggers: half", position=1, reporter_kind="trusted_flagger", factor=0.5)


def _file(http, external_id, policy="harassment", reporter=FLAGGER):
    response = post_json(http, REPORTS_URL, {"subject": {"kind": "content", "external_id": external_id,
                                                         "text": "x"}, "policy": policy, "reporter": reporter})
    assert response.status_code in (200, 201), response.content
    return response.json()


def _review(case_id):
    return Review.objects.get(case_id=case_id, state="open")


def _case_api(http, case_id):
    response = http.get(f"/api/v1/cases/{case_id}")
    assert response.status_code == 200, response.content
    return response.json()


def test_an_unregistered_claim_is_an_ordinary_user_report_with_the_claim_visible(api, half_sla_for_flaggers):
    claimed = _file(api, "post-claim")
    honest = _file(api, "post-user", reporter={"kind": "user", "external_id": "ngo-1"})

    assert claimed["case"]["priority"] == honest["case"]["priority"]  # no trusted weight
    report = Report.objects.get(pk=claimed["report_id"])
    assert (report.reporter_kind, report.claimed_reporter_kind) == ("user", "trusted_flagger")
    review = _review(claimed["case"]["id"])
    assert review.sla_seconds == _review(honest["case"]["id"]).sla_seconds == 24 * 3600  # no trusted SLA
    reporter = _case_api(api, claimed["case"]["id"])["reports"][0]["reporter"]
    assert reporter == {"kind": "user", "external_id": "ngo-1", "claimed_kind": "trusted_flagger"}
    assert _case_api(api, honest["case"]["id"])["reports"][0]["reporter"]["claimed_kind"] is None


def test_a_flagger_recognised_by_its_own_api_client_gets_priority_and_sla(api, register_flagger,
                                                                          half_sla_for_flaggers):
    user_case = _file(api, "post-user", reporter={"kind": "user", "external_id": "ngo-1"})
    register_flagger(expertise=("harassment",), api_client_id=api.api_client.pk)
    trusted = _file(api, "post-trusted")

    assert trusted["case"]["priority"] > user_case["case"]["priority"]
    report = Report.objects.get(pk=trusted["report_id"])
    assert (report.reporter_kind, report.claimed_reporter_kind) == ("trusted_flagger", "")
    assert _review(trusted["case"]["id"]).sla_seconds == 12 * 3600
    assert _case_api(api, trusted["case"]["id"])["reports"][0]["reporter"]["kind"] == "trusted_flagger"


def test_a_vouched_identity_counts_only_for_its_own_source(api, client_for, register_flagger, half_sla_for_flaggers):
    register_flagger(expertise=("harassment",),
                     identities=[(Source.objects.get(pk=api.api_client.source_id), "ngo-1")])
    other_platform = client_for(source_name="other-platform")

    vouched = _file(api, "post-a")
    foreign = _file(other_platform, "post-b")

    assert Report.objects.get(pk=vouched["report_id"]).reporter_kind == "trusted_flagger"
    foreign_report = Report.objects.get(pk=foreign["report_id"])
    assert (foreign_report.reporter_kind, foreign_report.claimed_reporter_kind) == ("user", "trusted_flagger")
    assert vouched["case"]["priority"] > foreign["case"]["priority"]


def test_a_suspended_flagger_is_ordinary(api, register_flagger, half_sla_for_flaggers):
    flagger = register_flagger(expertise=("harassment",), api_client_id=api.api_client.pk)
    flagger_set_status(flagger_id=flagger.pk, status="suspended", actor=ADMIN)

    filed = _file(api, "post-1")

    report = Report.objects.get(pk=filed["report_id"])
    assert (report.reporter_kind, report.claimed_reporter_kind) == ("user", "trusted_flagger")
    assert _review(filed["case"]["id"]).sla_seconds == 24 * 3600


def test_a_flagger_outside_its_areas_of_expertise_is_ordinary(api, register_flagger, half_sla_for_flaggers):
    register_flagger(expertise=("child_safety",), api_client_id=api.api_client.pk)

    outside = _file(api, "post-1", policy="harassment")

    report = Report.objects.get(pk=outside["report_id"])
    assert (report.reporter_kind, report.claimed_reporter_kind) == ("user", "trusted_flagger")


def test_another_clients_key_cannot_borrow_a_flaggers_client_recognition(api, client_for, register_flagger,
                                                                         half_sla_for_flaggers):
    register_flagger(expertise=("harassment",), api_client_id=api.api_client.pk)
    same_platform_other_key = client_for(source_name=api.api_client.source.name)

    filed = _file(same_platform_other_key, "post-1")

    assert Report.objects.get(pk=filed["report_id"]).reporter_kind == "user"


def test_a_false_claim_does_not_reopen_a_decided_case(api, register_flagger, workflows, people, policy_book):
    first = _file(api, "post-1", reporter={"kind": "user", "external_id": "u1"})
    case_id = first["case"]["id"]
    decide(case_id, people["moderators"][:2], "no_violation", policy_book["harassment"])

    claimed = post_json(api, REPORTS_URL, {"subject": {"kind": "content", "external_id": "post-1"},
                                           "policy": "harassment", "reporter": FLAGGER}).json()
    assert claimed["effect"] == "post_decision"
    assert Case.objects.get(pk=case_id).state == "decided"

    register_flagger(expertise=("harassment",), api_client_id=api.api_client.pk)
    real = post_json(api, REPORTS_URL, {"subject": {"kind": "content", "external_id": "post-1"},
                                        "policy": "harassment", "reporter": FLAGGER}).json()
    assert real["effect"] == "reopened_review"  # the same claim from a registered flagger does re-open


def test_batch_applies_the_registry_per_item(api, register_flagger, workflows):
    register_flagger(expertise=("harassment",), identities=[(Source.objects.get(pk=api.api_client.source_id),
                                                             "ngo-1")])
    body = {"reports": [
        {"subject": {"kind": "content", "external_id": "b1"}, "policy": "harassment", "reporter": FLAGGER},
        {"subject": {"kind": "content", "external_id": "b2"}, "policy": "spam", "reporter": FLAGGER},
        {"subject": {"kind": "content", "external_id": "b3"}, "policy": "harassment",
         "reporter": {"kind": "trusted_flagger", "external_id": "stranger"}},
    ]}
    response = post_json(api, "/api/v1/reports/batch", body)
    assert response.status_code == 200, response.content
    ids = [r["report_id"] for r in response.json()["results"]]
    kinds = [Report.objects.filter(pk=i).values_list("reporter_kind", "claimed_reporter_kind").get() for i in ids]
    assert kinds == [("trusted_flagger", ""), ("user", "trusted_flagger"), ("user", "trusted_flagger")]


def test_registry_changes_are_audited(register_flagger):
    flagger = register_flagger(expertise=("harassment", "hate"))
    flagger_set_status(flagger_id=flagger.pk, status="suspended", actor=ADMIN)
    flagger_set_status(flagger_id=flagger.pk, status="suspended", actor=ADMIN)  # a repeat writes nothing

    events = list(AuditEvent.objects.filter(action="trusted_flagger.changed", target_id=str(flagger.pk))
                  .order_by("seq"))
    assert [e.data["created"] for e in events] == [True, False]
    assert events[0].data["changes"]["expertise"] == [None, ["harassment", "hate"]]
    assert events[1].data["changes"] == {"status": ["active", "suspended"]}


def test_unauthenticated_clients_get_nothing(policy_book):
    response = post_json(APIClient(), REPORTS_URL, {"subject": {"kind": "content", "external_id": "x"},
                                                    "policy": "spam", "reporter": FLAGGER})
    assert response.status_code == 401
