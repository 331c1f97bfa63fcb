"""The registry and the thresholds in the Django admin: validated, audited, one event per save."""

import pytest

from audit.models import AuditEvent
from cases.models import Source
from trust.models import StrikeThreshold, TrustedFlagger

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, people):
    people["admin"].is_superuser = True
    people["admin"].save()
    client.force_login(people["admin"])
    return client


def _post(admin_client, policy_book, **fields):
    data = {"name": "Hotline e.V.", "status": "active", "expertise": [policy_book["hate"].pk], "api_client_id": "",
            "notes": "", "identities": "", **fields}
    return admin_client.post("/admin/trust/trustedflagger/add/", data)


def test_an_admin_registers_a_flagger_with_vouched_identities(admin_client, policy_book):
    Source.objects.create(name="forum")
    response = _post(admin_client, policy_book, identities="forum:hotline-1\n\nforum:hotline-2")
    assert response.status_code == 302, response.content.decode()[:3000]
    flagger = TrustedFlagger.objects.get()
    assert sorted(i.reporter_external_id for i in flagger.identities.all()) == ["hotline-1", "hotline-2"]
    events = AuditEvent.objects.filter(action="trusted_flagger.changed")
    assert events.count() == 1
    assert events.get().data["changes"]["identities"] == [None, ["forum:hotline-1", "forum:hotline-2"]]


@pytest.mark.parametrize("fields, message", [
    ({"identities": "nosuchsource:x"}, "there is no source named"),
    ({"identities": "forum"}, "write source:external id"),
    ({"identities": "forum:a\nforum:a"}, "repeats an identity"),
    ({"api_client_id": "01a23c6a-3886-738e-865b-371151cc0bdd"}, "No API client has this id"),
    ({"api_client_id": "not-a-uuid"}, "valid UUID"),
])
def test_bad_registry_input_is_refused_and_nothing_is_written(admin_client, policy_book, fields, message):
    Source.objects.create(name="forum")
    response = _post(admin_client, policy_book, **fields)
    assert response.status_code == 200 and message in response.content.decode()
    assert not TrustedFlagger.objects.exists()
    assert not AuditEvent.objects.filter(action="trusted_flagger.changed").exists()


def test_thresholds_are_validated_and_audited(admin_client, policy_book):
    bad = admin_client.post("/admin/trust/strikethreshold/add/", {"points": "5", "action": "suspend",
                                                                  "suspend_days": "", "policy": ""})
    assert bad.status_code == 200 and not StrikeThreshold.objects.exists()
    good = admin_client.post("/admin/trust/strikethreshold/add/", {"points": "5", "action": "suspend",
                                                                   "suspend_days": "7", "policy": ""})
    assert good.status_code == 302
    threshold = StrikeThreshold.objects.get()
    event = AuditEvent.objects.get(action="strike_threshold.changed")
    assert event.data["changes"]["points"] == [None, 5]
    admin_client.post(f"/admin/trust/strikethreshold/{threshold.pk}/delete/", {"post": "yes"})
    assert not StrikeThreshold.objects.exists()
    assert AuditEvent.objects.filter(action="strike_threshold.changed").count() == 2
