"""POST /api/v1/cases/{id}/appeals: a platform appeals a decision on behalf
of the affected user or the reporter."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from reviews.models import Appeal, Review

from .conftest import APPEALS_URL, CASES_URL, assert_error, post_json, post_raw


def body(**extra):
    return {"appellant": "affected_user", "statement": "it was satire", **extra}


@pytest.fixture
def decided_case(file_report, decide):
    case_id = file_report()["case"]["id"]
    return case_id, decide(case_id)


def test_an_appeal_is_filed(appeals_api, decided_case):
    case_id, decision = decided_case
    response = post_json(appeals_api, APPEALS_URL.format(case_id),
                         body(appellant_external_id="u-7", statement="It was satire. \N{GRINNING FACE}"))
    assert response.status_code == 201, response.content
    out = response.json()
    assert set(out) == {"id", "case_id", "decision_id", "state", "opened_at"}
    assert (out["case_id"], out["decision_id"], out["state"]) == (case_id, str(decision.pk), "open")

    appeal = Appeal.objects.get(pk=out["id"])
    assert (appeal.appellant_kind, appeal.appellant_external_id, appeal.statement) == (
        "affected_user", "u-7", "It was satire. \N{GRINNING FACE}")
    assert Review.objects.get(case_id=case_id, state="open").appeal_id == appeal.pk
    event = AuditEvent.objects.get(action="appeal.opened", target_id=str(appeal.pk))
    assert event.actor_type == "api_client" and event.actor_id == str(appeals_api.api_client.pk)

    case = appeals_api.get(f"{CASES_URL}/{case_id}").json()
    assert case["state"] == "in_review"
    assert case["decision"]["appeal"]["id"] == out["id"] and case["decision"]["appeal"]["state"] == "open"


def test_the_reporter_may_appeal_without_an_external_id(appeals_api, decided_case):
    case_id, _ = decided_case
    response = post_json(appeals_api, APPEALS_URL.format(case_id), {"appellant": "reporter", "statement": "keep it"})
    assert response.status_code == 201, response.content
    assert Appeal.objects.get().appellant_kind == "reporter" and Appeal.objects.get().appellant_external_id == ""


def test_a_second_appeal_while_one_is_open_is_409_so_a_retry_opens_nothing(appeals_api, decided_case):
    case_id, _ = decided_case
    url = APPEALS_URL.format(case_id)
    assert post_json(appeals_api, url, body()).status_code == 201
    before = AuditEvent.objects.count()
    response = assert_error(post_json(appeals_api, url, body()), 409, code="appeal_already_open")
    assert "already open" in response["detail"]
    assert Appeal.objects.count() == 1 and AuditEvent.objects.count() == before
    assert Review.objects.filter(case_id=case_id, state="open").count() == 1


def test_outside_the_window_is_409_window_closed(appeals_api, decided_case, settings):
    case_id, _ = decided_case
    settings.APPEAL_WINDOW_DAYS = 0
    error = assert_error(post_json(appeals_api, APPEALS_URL.format(case_id), body()), 409,
                         code="appeal_window_closed")
    assert "window closed" in error["detail"]
    assert not Appeal.objects.exists()
    assert appeals_api.get(f"{CASES_URL}/{case_id}").json()["state"] == "decided"


def test_a_decision_older_than_the_window_cannot_be_appealed(appeals_api, file_report, decide, settings):
    case_id = file_report()["case"]["id"]
    decide(case_id, now=timezone.now() - timedelta(days=settings.APPEAL_WINDOW_DAYS + 1))
    error = assert_error(post_json(appeals_api, APPEALS_URL.format(case_id), body()), 409,
                         code="appeal_window_closed")
    assert "window closed" in error["detail"]
    assert not Appeal.objects.exists()


def test_a_case_without_a_decision_cannot_be_appealed(appeals_api, file_report, workflows):
    case_id = file_report()["case"]["id"]
    error = assert_error(post_json(appeals_api, APPEALS_URL.format(case_id), body()), 409, code="appeal_refused")
    assert "no decision" in error["detail"]
    assert not Appeal.objects.exists()


def test_the_result_of_an_appeal_can_be_appealed_again(appeals_api, decided_case, decide, people):
    case_id, _ = decided_case
    url = APPEALS_URL.format(case_id)
    assert post_json(appeals_api, url, body()).status_code == 201
    upheld = decide(case_id, voters=people["moderators"][2:4])
    second = post_json(appeals_api, url, body(statement="still satire"))
    assert second.status_code == 201, second.content
    assert second.json()["decision_id"] == str(upheld.pk)


def test_another_sources_case_is_404(appeals_api, client_for, file_report, decide):
    stranger = client_for(source_name="other-platform", scopes=("reports:write", "appeals:write"))
    case_id = file_report("post-9", http=stranger)["case"]["id"]
    decide(case_id)
    assert_error(post_json(appeals_api, APPEALS_URL.format(case_id), body()), 404, code="not_found")
    assert not Appeal.objects.exists()
    assert post_json(stranger, APPEALS_URL.format(case_id), body()).status_code == 201


@pytest.mark.parametrize("case_id", [str(uuid.uuid4()), "not-a-uuid", "%00"])
def test_an_unknown_case_is_404(appeals_api, case_id, workflows):
    assert_error(post_json(appeals_api, APPEALS_URL.format(case_id), body()), 404)


def test_filing_needs_appeals_write(api, decided_case):
    case_id, _ = decided_case
    error = assert_error(post_json(api, APPEALS_URL.format(case_id), body()), 403, code="permission_denied")
    assert "appeals:write" in error["detail"]
    assert not Appeal.objects.exists()


def test_filing_needs_a_key(decided_case):
    from rest_framework.test import APIClient

    case_id, _ = decided_case
    assert_error(post_json(APIClient(), APPEALS_URL.format(case_id), body()), 401)


@pytest.mark.parametrize("payload, field, contains", [
    ({"appellant": "affected_user", "statement": "x", "decision_id": "y"}, "decision_id", "unknown field"),
    ({"appellant": "affected_user"}, "statement", "required"),
    ({"appellant": "affected_user", "statement": ""}, "statement", "blank"),
    ({"appellant": "affected_user", "statement": " \n\t "}, "statement", "blank"),
    ({"appellant": "affected_user", "statement": "x" * 10_001}, "statement", "10000"),
    ({"appellant": "affected_user", "statement": None}, "statement", "null"),
    ({"appellant": "affected_user", "statement": ["x"]}, "statement", None),
    ({"appellant": "affected_user", "statement": "a\x00b"}, "statement", None),
    ({"appellant": "affected_user", "statement": "\ud800"}, "statement", None),
    ({"statement": "x"}, "appellant", "required"),
    ({"appellant": "moderator", "statement": "x"}, "appellant", None),
    ({"appellant": "reporter", "statement": "x", "appellant_external_id": "u" * 256}, "appellant_external_id", "255"),
])
def test_bad_bodies_are_400_naming_the_field(appeals_api, decided_case, payload, field, contains):
    case_id, _ = decided_case
    assert_error(post_json(appeals_api, APPEALS_URL.format(case_id), payload), 400, field, contains=contains)
    assert not Appeal.objects.exists()


def test_a_statement_of_exactly_the_limit_is_accepted(appeals_api, decided_case):
    case_id, _ = decided_case
    assert post_json(appeals_api, APPEALS_URL.format(case_id), body(statement="x" * 10_000)).status_code == 201


@pytest.mark.parametrize("raw, content_type, status", [
    ("[]", "application/json", 400), ('"x"', "application/json", 400), ("{", "application/json", 400),
    ("appellant=reporter", "application/x-www-form-urlencoded", 415),
])
def test_malformed_bodies(appeals_api, decided_case, raw, content_type, status):
    case_id, _ = decided_case
    assert_error(post_raw(appeals_api, APPEALS_URL.format(case_id), raw, content_type=content_type), status)
    assert not Appeal.objects.exists()


def test_an_oversized_body_is_413(appeals_api, decided_case):
    case_id, _ = decided_case
    raw = '{"appellant": "reporter", "statement": "' + "x" * 300_000 + '"}'
    assert_error(post_raw(appeals_api, APPEALS_URL.format(case_id), raw), 413)


def test_only_post(appeals_api, decided_case):
    case_id, _ = decided_case
    assert_error(appeals_api.get(APPEALS_URL.format(case_id)), 405, code="method_not_allowed")


def test_a_closed_case_cannot_be_appealed_and_nothing_is_stored(appeals_api, decided_case, system_actor):
    from cases.services import case_close

    case_id, _ = decided_case
    case_close(case_id=case_id, actor=system_actor, reason="enforced")
    error = assert_error(post_json(appeals_api, APPEALS_URL.format(case_id), body()), 409, code="case_closed")
    assert "closed" in error["detail"]
    assert not Appeal.objects.exists()


# ---- appeals with an end (G1) ------------------------------------------------------------------------------------------

def test_appeals_end_after_the_final_tier_with_a_409_and_the_art_21_route(appeals_api, file_report, decide, people):
    """A third appeal of the same case is refused: the appeal of the appeal decision went to the final tier."""
    case_id = file_report()["case"]["id"]
    decide(case_id)
    url = APPEALS_URL.format(case_id)
    assert post_json(appeals_api, url, body(appellant_external_id="u-1")).status_code == 201
    mods = people["moderators"]
    first_appeal = decide(case_id, voters=mods[2:4])
    assert first_appeal.kind == "appeal_upheld"
    case = appeals_api.get(f"{CASES_URL}/{case_id}").json()
    assert case["decision"]["appeals_exhausted"] is False

    second = post_json(appeals_api, url, body(appellant_external_id="u-1", statement="still satire"))
    assert second.status_code == 201, second.content
    assert Review.objects.get(case_id=case_id, state="open").stage.key == "appeal-final"
    final = decide(case_id, "no_violation", voters=people["seniors"][1:2], rationale="satire after all")
    assert final.kind == "appeal_overturned" and final.appeals_exhausted

    case = appeals_api.get(f"{CASES_URL}/{case_id}").json()
    assert case["decision"]["appeals_exhausted"] is True
    assert "Art. 21" in case["decision"]["statement_of_reasons"]
    before = AuditEvent.objects.count()
    for who in (body(appellant_external_id="u-1"), {"appellant": "reporter", "statement": "bring it back"}):
        error = assert_error(post_json(appeals_api, url, who), 409, code="appeals_exhausted")
        assert "out-of-court dispute settlement" in error["detail"]
    assert Appeal.objects.filter(case_id=case_id).count() == 2 and AuditEvent.objects.count() == before
    assert appeals_api.get(f"{CASES_URL}/{case_id}").json()["state"] == "decided"


def test_the_window_does_not_restart_with_an_appeal_decision(appeals_api, file_report, decide, people, settings,
                                                            system_actor):
    from reviews.services import appeal_file

    case_id = file_report()["case"]["id"]
    decided_at = timezone.now() - timedelta(days=settings.APPEAL_WINDOW_DAYS + 10)
    decide(case_id, now=decided_at)
    appeal_file(case_id=case_id, appellant_kind="affected_user", appellant_external_id="u-1", statement="satire",
                actor=system_actor, now=decided_at + timedelta(days=1))
    # the appeal was decided yesterday: a window counted from it would still be open
    appeal_decision = decide(case_id, "label", voters=people["moderators"][2:4],
                             now=timezone.now() - timedelta(days=1))
    assert appeal_decision.kind == "appeal_modified"
    error = assert_error(post_json(appeals_api, APPEALS_URL.format(case_id), body(appellant_external_id="u-1")),
                         409, code="appeal_window_closed")
    assert "original decision" in error["detail"]
    assert Appeal.objects.filter(case_id=case_id).count() == 1


def test_a_reporters_successful_appeal_of_no_action_is_a_reversal(appeals_api, file_report, decide, people):
    case_id = file_report()["case"]["id"]
    decide(case_id, "no_violation", rationale="")
    url = APPEALS_URL.format(case_id)
    assert post_json(appeals_api, url, {"appellant": "reporter", "appellant_external_id": "r1",
                                        "statement": "it is a scam"}).status_code == 201
    decision = decide(case_id, "remove_content", voters=people["moderators"][2:4])
    assert decision.kind == "appeal_overturned"
    case = appeals_api.get(f"{CASES_URL}/{case_id}").json()
    assert case["decision"]["kind"] == "appeal_overturned" and case["decision"]["appeal"]["result"] == "overturned"
