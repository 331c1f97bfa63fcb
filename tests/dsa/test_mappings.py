"""The admins' DSA configuration: Policy.dsa_category and the mappings are
validated against the vocabulary whenever they are saved (services and
admin), every change is audited, and invalid stored categories are blanked
by the data migration, never kept."""

import importlib

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.urls import reverse

from audit.context import Actor
from audit.models import AuditEvent
from cases.models import Policy
from cases.services import policy_save
from dsa import vocabulary as v
from dsa.models import OutcomeMapping, PolicyMapping, PublicReason
from dsa.services import dsa_config_save, public_reason_text
from reviews.models import Outcome

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("tests")


def test_an_invalid_policy_category_is_refused_by_the_service(policy_book):
    policy = policy_book["spam"]
    policy.dsa_category = "NOT_A_REAL_CATEGORY"
    with pytest.raises(ValidationError) as refused:
        policy_save(policy=policy, actor=ACTOR)
    assert "dsa_category" in refused.value.message_dict
    assert Policy.objects.get(code="spam").dsa_category == "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"
    policy.dsa_category = "STATEMENT_CATEGORY_SCAMS_AND_FRAUD"
    policy_save(policy=policy, actor=ACTOR)
    assert Policy.objects.get(code="spam").dsa_category == "STATEMENT_CATEGORY_SCAMS_AND_FRAUD"


def test_an_invalid_policy_category_is_refused_in_the_admin(admin_client, policy_book):
    policy = policy_book["spam"]
    response = admin_client.post(reverse("admin:cases_policy_change", args=[policy.pk]), {
        "code": "spam", "name": "Spam", "name_translations": "{}", "description": "", "severity": 2,
        "dsa_category": "NOT_A_REAL_CATEGORY", "active": "on"})
    assert response.status_code == 200 and "is not a category" in response.content.decode()
    assert Policy.objects.get(code="spam").dsa_category == "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"


def test_the_data_migration_blanks_invalid_categories(policy_book, capsys):
    Policy.objects.filter(code="spam").update(dsa_category="NOT_A_REAL_CATEGORY")
    migration = importlib.import_module("dsa.migrations.0002_blank_invalid_policy_categories")
    migration.blank_invalid_categories(apps, None)
    assert Policy.objects.get(code="spam").dsa_category == ""
    assert Policy.objects.get(code="hate").dsa_category == "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"
    assert "NOT_A_REAL_CATEGORY" in capsys.readouterr().out


@pytest.mark.parametrize("fields,field", [
    ({"decision_visibility": ["DECISION_VISIBILITY_NOPE"]}, "decision_visibility"),
    ({"decision_visibility": []}, "decision_visibility"),
    ({"decision_visibility": "DECISION_VISIBILITY_CONTENT_REMOVED"}, "decision_visibility"),
    ({"decision_visibility": ["DECISION_VISIBILITY_OTHER"]}, "decision_visibility_other"),
    ({"decision_monetary": "DECISION_MONETARY_OTHER"}, "decision_monetary_other"),
    ({"decision_account": "DECISION_ACCOUNT_FROZEN"}, "decision_account"),
    ({"no_restriction": True, "decision_account": "DECISION_ACCOUNT_SUSPENDED"}, "no_restriction"),
])
def test_invalid_outcome_mappings_are_refused(workflows, fields, field):
    with pytest.raises(ValidationError) as refused:
        dsa_config_save(obj=OutcomeMapping(outcome=Outcome.objects.get(code="label"), **fields), actor=ACTOR)
    assert field in refused.value.message_dict
    assert not OutcomeMapping.objects.exists()
    assert not AuditEvent.objects.filter(action="dsa_mapping.changed").exists()


@pytest.mark.parametrize("fields,field", [
    ({"decision_ground": "DECISION_GROUND_MAYBE"}, "decision_ground"),
    ({"decision_ground": v.GROUND_ILLEGAL, "illegal_content_explanation": "x"}, "illegal_content_legal_ground"),
    ({"decision_ground": v.GROUND_INCOMPATIBLE, "incompatible_content_explanation": "  "},
     "incompatible_content_explanation"),
    ({"territorial_scope": ["BR", "EU", "US"]}, "territorial_scope"),
    ({"territorial_scope": ["EL"]}, "territorial_scope"),
    ({"territorial_scope": []}, "territorial_scope"),
    ({"category_specification": ["KEYWORD_NONSENSE"]}, "category_specification"),
    ({"category_addition": ["NOT_A_REAL_CATEGORY"]}, "category_addition"),
])
def test_invalid_policy_mappings_are_refused(policy_book, fields, field):
    base = {"decision_ground": v.GROUND_INCOMPATIBLE, "incompatible_content_ground": "§1",
            "incompatible_content_explanation": "why", "territorial_scope": ["DE"]}
    with pytest.raises(ValidationError) as refused:
        dsa_config_save(obj=PolicyMapping(policy=policy_book["spam"], **{**base, **fields}), actor=ACTOR)
    assert field in refused.value.message_dict
    assert not PolicyMapping.objects.exists()


def test_mapping_changes_are_audited_with_a_diff(policy_book):
    mapping = dsa_config_save(obj=PolicyMapping(
        policy=policy_book["hate"], decision_ground=v.GROUND_ILLEGAL, illegal_content_legal_ground="StGB § 130",
        illegal_content_explanation="Incitement.", territorial_scope=["DE"]), actor=ACTOR)
    mapping.territorial_scope = ["DE", "AT"]
    dsa_config_save(obj=mapping, actor=ACTOR)
    events = list(AuditEvent.objects.filter(action="dsa_mapping.changed").order_by("id"))
    assert [e.data["created"] for e in events] == [True, False]
    assert events[1].data["changes"] == {"territorial_scope": [["DE"], ["DE", "AT"]]}


def test_the_admin_refuses_an_invalid_mapping_and_audits_a_valid_one(admin_client, policy_book):
    url = reverse("admin:dsa_policymapping_add")
    body = {"policy": policy_book["spam"].pk, "category_addition": "[]", "category_specification": "[]",
            "decision_ground": v.GROUND_INCOMPATIBLE, "incompatible_content_ground": "Terms § 2",
            "incompatible_content_explanation": "Ads.", "territorial_scope": '["US"]'}
    response = admin_client.post(url, body)
    assert response.status_code == 200 and not PolicyMapping.objects.exists()
    response = admin_client.post(url, {**body, "territorial_scope": '["DE", "FR"]'})
    assert response.status_code == 302 and PolicyMapping.objects.get().territorial_scope == ["DE", "FR"]
    assert AuditEvent.objects.filter(action="dsa_mapping.changed", actor_type="user").count() == 1


def test_public_reasons_per_policy_and_outcome_in_english_and_german(workflows, policy_book):
    remove = Outcome.objects.get(code="remove_content")
    dsa_config_save(obj=PublicReason(outcome=remove, text="Removed.", text_de="Entfernt."), actor=ACTOR)
    dsa_config_save(obj=PublicReason(outcome=remove, policy=policy_book["hate"], text="Hate removed.",
                                     text_de="Hass entfernt."), actor=ACTOR)
    assert public_reason_text(policy=policy_book["spam"], outcome=remove) == "Removed."
    assert public_reason_text(policy=policy_book["hate"], outcome=remove, language="de-AT") == "Hass entfernt."
    with pytest.raises(ValidationError):
        dsa_config_save(obj=PublicReason(outcome=remove, text="Again.", text_de="Nochmal."), actor=ACTOR)


@pytest.mark.parametrize("model", ["outcomemapping", "policymapping", "publicreason", "noticetemplate", "statement",
                                   "notice"])
def test_dsa_admin_pages_load(admin_client, workflows, model):
    from dsa.defaults import install_default_dsa_mappings

    install_default_dsa_mappings()
    assert admin_client.get(reverse(f"admin:dsa_{model}_changelist")).status_code == 200
    if model not in ("statement", "notice"):
        assert admin_client.get(reverse(f"admin:dsa_{model}_add")).status_code == 200
