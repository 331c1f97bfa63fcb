"""Statements of reasons: built for every restricting decision from the
admins' mappings, validated against the schema, held when they do not
validate, corrected by leads; never a reviewer's rationale or personal data."""

import itertools
import json
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from cases.models import Policy
from dsa import vocabulary as v
from dsa.models import OutcomeMapping, PolicyMapping, Statement, StatementState
from dsa.services import statement_correct, statement_rebuild
from dsa.statements import StatementFacts, build_payload, decisions_with_facts, facts_of
from dsa.validation import validate_statement
from reviews.errors import NotAllowed

pytestmark = pytest.mark.django_db

HOSTILE = ("call me at +49 170 1234567 or mail reviewer.bob@example.org — @bobmod says ban again; "
           "reporter r1 told us")


def _facts(*, outcome_mapping, policy_mapping, kind="content", media=(), text="hello", reporters=("user",),
           duration=None, automated=False):
    return StatementFacts(
        decision_id="d", is_violation=True, outcome_code="x", outcome_mapping=outcome_mapping, policy_code="p",
        policy_category="STATEMENT_CATEGORY_SCAMS_AND_FRAUD", policy_mapping=policy_mapping, duration_days=duration,
        decided_at=datetime(2026, 6, 1, tzinfo=UTC), decision_facts="Decision: Remove content.",
        automated_detection=automated, automated_decision=False, subject_kind=kind, subject_text=text,
        subject_media=list(media), subject_language="pt-BR", subject_metadata={},
        subject_created_at=datetime(2026, 5, 30, tzinfo=UTC), reporter_kinds=list(reporters))


OUTCOMES = [
    OutcomeMapping(decision_visibility=["DECISION_VISIBILITY_CONTENT_REMOVED"]),
    OutcomeMapping(decision_visibility=["DECISION_VISIBILITY_CONTENT_LABELLED", "DECISION_VISIBILITY_OTHER"],
                   decision_visibility_other="Shown behind a warning"),
    OutcomeMapping(decision_account="DECISION_ACCOUNT_SUSPENDED"),
    OutcomeMapping(decision_account="DECISION_ACCOUNT_TERMINATED"),
    OutcomeMapping(decision_provision="DECISION_PROVISION_PARTIAL_SUSPENSION"),
    OutcomeMapping(decision_monetary="DECISION_MONETARY_OTHER", decision_monetary_other="Payouts withheld"),
]
GROUNDS = [
    PolicyMapping(decision_ground=v.GROUND_ILLEGAL, illegal_content_legal_ground="StGB § 130",
                  illegal_content_explanation="Incitement to hatred.", territorial_scope=["DE", "AT"]),
    PolicyMapping(decision_ground=v.GROUND_INCOMPATIBLE, incompatible_content_ground="Terms § 4.2",
                  incompatible_content_explanation="Spam.", incompatible_content_illegal="No",
                  category_specification=["KEYWORD_OTHER"], territorial_scope=list(v.EEA_COUNTRIES)),
]


@pytest.mark.parametrize("outcome_mapping,policy_mapping,kind,duration,reporters",
                         list(itertools.product(OUTCOMES, GROUNDS, ["content", "account"], [None, 7],
                                                [("user",), ("trusted_flagger", "user"), ("automated",)])))
def test_every_outcome_and_ground_path_validates(outcome_mapping, policy_mapping, kind, duration, reporters):
    payload, errors = build_payload(_facts(outcome_mapping=outcome_mapping, policy_mapping=policy_mapping, kind=kind,
                                           duration=duration, reporters=reporters,
                                           automated="automated" in reporters), puid="quorum-1")
    assert errors == {} and validate_statement(payload) == {}
    assert payload["territorial_scope"] == list(policy_mapping.territorial_scope)
    assert payload["content_language"] == "PT" and payload["application_date"] == "2026-06-01"
    assert payload["automated_detection"] == ("Yes" if "automated" in reporters else "No")
    assert payload["automated_decision"] == v.NOT_AUTOMATED
    assert payload["source_type"] == {("user",): v.SOURCE_ARTICLE_16, ("automated",): v.SOURCE_VOLUNTARY}.get(
        reporters, v.SOURCE_TRUSTED_FLAGGER)
    end_dates = [payload[f] for f in v.END_DATE_FIELDS.values() if f in payload]
    assert end_dates and set(end_dates) == {"2026-06-08" if duration else None}


def test_content_types_follow_the_subject_and_its_media():
    mapping = dict(outcome_mapping=OUTCOMES[0], policy_mapping=GROUNDS[1])
    payload, _ = build_payload(_facts(**mapping, media=[{"url": "https://x/a.png"}, {"url": "https://x/b",
                                                                                    "mime_type": "video/mp4"}]),
                               puid="p")
    assert payload["content_type"] == ["CONTENT_TYPE_TEXT", "CONTENT_TYPE_IMAGE", "CONTENT_TYPE_VIDEO"]
    payload, _ = build_payload(_facts(**mapping, kind="account"), puid="p")
    assert payload["content_type"] == ["CONTENT_TYPE_OTHER"] and payload["content_type_other"] == "User account"


@pytest.mark.parametrize("change,field", [
    ({"decision_visibility": ["DECISION_VISIBILITY_BOGUS"]}, "decision_visibility"),
    ({"decision_visibility": []}, "decision_visibility"),
    ({"decision_visibility": ["DECISION_VISIBILITY_OTHER"]}, "decision_visibility_other"),
    ({"decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT"}, "illegal_content_legal_ground"),
    ({"territorial_scope": ["BR", "EU", "US"]}, "territorial_scope"),
    ({"territorial_scope": []}, "territorial_scope"),
    ({"category": "NOT_A_REAL_CATEGORY"}, "category"),
    ({"content_date": "1999-12-31"}, "content_date"),
    ({"decision_facts": "x" * 5001}, "decision_facts"),
    ({"puid": "has spaces"}, "puid"),
    ({"automated_detection": True}, "automated_detection"),
    ({"end_date_account_restriction": "2026-05-01"}, "end_date_account_restriction"),
    ({"reviewer_notes": "x"}, "reviewer_notes"),
])
def test_the_validator_names_each_broken_field(change, field):
    payload, errors = build_payload(_facts(outcome_mapping=OUTCOMES[0], policy_mapping=GROUNDS[1]), puid="p")
    assert errors == {}
    assert field in validate_statement({**payload, **change})


def test_a_decision_gets_a_published_statement_without_rationales(file_report, dsa_defaults, decide):
    case_id = file_report(jurisdiction=["BR", "US"])
    decision = decide(case_id, rationale=HOSTILE, public_explanation="Repeated advertising links.")
    statement = Statement.objects.get(decision=decision)
    assert statement.state == StatementState.PUBLISHED and statement.errors == {}
    body = json.dumps(statement.payload)
    assert "ban again" not in body and "example.org" not in body and "internal" not in body
    assert "ban again" not in decision.facts_and_reasons and "Repeated advertising links." in decision.facts_and_reasons
    assert "We removed your content" in statement.payload["decision_facts"]
    assert statement.payload["territorial_scope"] == list(v.EEA_COUNTRIES)  # by policy, never BR/US
    assert statement.payload["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert AuditEvent.objects.filter(action="statement.published", target_id=str(statement.pk)).exists()


def test_no_violation_and_referrals_get_no_statement(file_report, dsa_defaults, decide):
    decision = decide(file_report(), outcome="no_violation")
    assert not Statement.objects.filter(decision=decision).exists()


def test_building_a_statement_costs_one_query(file_report, dsa_defaults, decide):
    decisions = [decide(file_report(external_id=f"p{i}")) for i in range(3)]
    with CaptureQueriesContext(connection) as queries:
        rows = list(decisions_with_facts([d.pk for d in decisions]))
        built = [build_payload(facts_of(row), puid=f"p{i}") for i, row in enumerate(rows)]
    assert len(queries) == 1 and all(errors == {} for _, errors in built)


def test_personal_data_in_a_public_explanation_holds_the_statement(file_report, dsa_defaults, decide):
    decision = decide(file_report(), public_explanation="Contact bob@example.org or +44 20 7946 0958.")
    statement = Statement.objects.get(decision=decision)
    assert statement.state == StatementState.HELD
    assert any("personal data" in reason for reason in statement.errors["decision_facts"])
    assert AuditEvent.objects.filter(action="statement.held", target_id=str(statement.pk)).exists()


def test_a_missing_mapping_holds_the_statement_and_a_lead_corrects_it(file_report, dsa_defaults, decide, people):
    PolicyMapping.objects.filter(policy__code="spam").delete()
    decision = decide(file_report())
    statement = Statement.objects.get(decision=decision)
    assert statement.state == StatementState.HELD
    assert {"decision_ground", "territorial_scope"} <= set(statement.errors)
    with pytest.raises(NotAllowed):
        statement_correct(statement_id=statement.pk, lead=people["moderators"][0], changes={})
    fixed = statement_correct(statement_id=statement.pk, lead=people["seniors"][0], changes={
        "decision_ground": v.GROUND_INCOMPATIBLE, "incompatible_content_ground": "Terms § 3",
        "incompatible_content_explanation": "Advertising is not allowed.", "territorial_scope": ["DE"]})
    assert fixed.pk == statement.pk and fixed.state == StatementState.PUBLISHED and fixed.errors == {}
    assert AuditEvent.objects.filter(action="statement.corrected", target_id=str(statement.pk)).exists()


def test_a_correction_after_publication_is_a_new_linked_statement(file_report, dsa_defaults, decide, people):
    statement = Statement.objects.get(decision=decide(file_report()))
    lead = people["seniors"][0]
    new = statement_correct(statement_id=statement.pk, lead=lead, changes={"territorial_scope": ["DE", "AT"]})
    statement.refresh_from_db()
    assert statement.state == StatementState.SUPERSEDED and new.corrects_id == statement.pk
    assert new.state == StatementState.PUBLISHED and new.puid != statement.puid
    assert new.payload["puid"] == new.puid and new.payload["territorial_scope"] == ["DE", "AT"]
    with pytest.raises(NotAllowed):
        statement_correct(statement_id=statement.pk, lead=lead, changes={"territorial_scope": ["FR"]})
    bad = statement_correct(statement_id=new.pk, lead=lead, changes={"territorial_scope": ["US"]})
    assert bad.state == StatementState.HELD and "territorial_scope" in bad.errors


def test_a_held_statement_is_rebuilt_after_the_admin_fixes_the_mapping(file_report, dsa_defaults, decide, people):
    Policy.objects.filter(code="spam").update(dsa_category="")
    statement = Statement.objects.get(decision=decide(file_report()))
    assert statement.state == StatementState.HELD and "category" in statement.errors
    Policy.objects.filter(code="spam").update(dsa_category="STATEMENT_CATEGORY_SCAMS_AND_FRAUD")
    rebuilt = statement_rebuild(statement_id=statement.pk, lead=people["seniors"][0])
    assert rebuilt.state == StatementState.PUBLISHED and rebuilt.payload["category"].endswith("SCAMS_AND_FRAUD")
