"""POST /api/v1/reports: opening and joining cases, idempotency, public ids."""

import uuid

from audit.models import AuditEvent
from cases.models import Case, Report, Subject

from .conftest import REPORTS_URL, assert_error, post_json


def _case_url(case_id):
    return f"http://testserver/api/v1/cases/{case_id}"


def test_first_report_opens_a_case_with_201_and_the_documented_body(api, report_body, counts):
    before = counts()
    response = post_json(api, REPORTS_URL, report_body("post-1"))

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"report_id", "case", "deduplicated", "effect"}
    assert body["effect"] == "opened_case"
    assert set(body["case"]) == {"id", "state", "priority", "report_count", "url"}
    assert body["deduplicated"] is False
    assert body["case"]["state"] == "open"
    assert body["case"]["report_count"] == 1
    assert isinstance(body["case"]["priority"], int) and 100 <= body["case"]["priority"] <= 850
    assert body["case"]["url"] == _case_url(body["case"]["id"])
    assert counts() == {k: v + 1 for k, v in before.items()}  # one report, case, subject, audit event

    report = Report.objects.get(pk=body["report_id"])
    assert str(report.case_id) == body["case"]["id"]
    assert report.source_id == api.api_client.source_id
    assert report.api_client_id == api.api_client.pk
    event = AuditEvent.objects.get(target_id=body["case"]["id"])
    assert event.action == "case.opened" and event.actor_type == "api_client"


def test_reports_about_the_same_subject_join_the_open_case_with_200(api, report_body):
    first = post_json(api, REPORTS_URL, report_body("post-1")).json()
    second = post_json(api, REPORTS_URL, report_body("post-1", policy="harassment"))
    third = post_json(api, REPORTS_URL, report_body("post-1", reporter={"kind": "user", "external_id": "u9"}))

    assert second.status_code == 200, second.content
    assert third.status_code == 200, third.content
    for n, response in ((2, second), (3, third)):
        body = response.json()
        assert body["deduplicated"] is True
        assert body["case"]["id"] == first["case"]["id"]
        assert body["case"]["report_count"] == n
        assert body["case"]["url"] == _case_url(first["case"]["id"])
    assert len({first["report_id"], second.json()["report_id"], third.json()["report_id"]}) == 3
    case = Case.objects.get(pk=first["case"]["id"])
    assert case.report_count == 3
    assert case.reporter_count == 2  # the anonymous user (twice) and u9
    assert Report.objects.filter(case=case).count() == 3
    assert list(AuditEvent.objects.filter(stream=f"case:{case.pk}").order_by("seq").values_list("action", flat=True)) == [
        "case.opened", "report.filed", "report.filed"]


def test_a_more_severe_policy_raises_the_priority_of_the_joined_case(api, report_body):
    first = post_json(api, REPORTS_URL, report_body("post-1", policy="spam")).json()
    second = post_json(api, REPORTS_URL, report_body("post-1", policy="child_safety")).json()
    assert second["case"]["priority"] > first["case"]["priority"]
    assert Case.objects.get(pk=first["case"]["id"]).priority == second["case"]["priority"]


def test_different_external_id_or_kind_is_a_different_subject(api, report_body):
    content = post_json(api, REPORTS_URL, report_body("42"))
    other_content = post_json(api, REPORTS_URL, report_body("43"))
    account = post_json(api, REPORTS_URL, {"subject": {"kind": "account", "external_id": "42"}, "policy": "spam"})

    assert [r.status_code for r in (content, other_content, account)] == [201, 201, 201]
    ids = {r.json()["case"]["id"] for r in (content, other_content, account)}
    assert len(ids) == 3
    assert set(Subject.objects.filter(external_id="42").values_list("kind", flat=True)) == {"content", "account"}


def test_the_same_external_id_at_another_source_is_another_subject(api, client_for, report_body):
    other = client_for(source_name="other-platform")
    mine = post_json(api, REPORTS_URL, report_body("post-1"))
    theirs = post_json(other, REPORTS_URL, report_body("post-1"))
    assert mine.status_code == 201 and theirs.status_code == 201
    assert mine.json()["case"]["id"] != theirs.json()["case"]["id"]


def test_two_clients_of_one_source_share_its_cases(api, client_for, report_body):
    sibling = client_for(source_name=api.api_client.source.name)
    first = post_json(api, REPORTS_URL, report_body("post-1")).json()
    second = post_json(sibling, REPORTS_URL, report_body("post-1"))
    assert second.status_code == 200
    assert second.json()["case"]["id"] == first["case"]["id"]


def test_numeric_external_id_is_taken_as_its_decimal_string(api, report_body):
    """DRF's CharField coerces JSON numbers; the result must be the same subject
    as the string form, never a 500."""
    as_number = post_json(api, REPORTS_URL, {"subject": {"kind": "content", "external_id": 12345}, "policy": "spam"})
    as_string = post_json(api, REPORTS_URL, report_body("12345"))
    assert as_number.status_code == 201, as_number.content
    assert as_string.status_code == 200, as_string.content
    assert as_string.json()["case"]["id"] == as_number.json()["case"]["id"]
    assert Subject.objects.get(pk=Case.objects.get(pk=as_number.json()["case"]["id"]).subject_id).external_id == "12345"


def test_external_ids_are_opaque_not_normalised(api, report_body):
    """"é" precomposed and decomposed, or with a trailing space, are different ids at the platform."""
    ids = ["caf\u00e9", "cafe\u0301", "caf\u00e9 "]
    cases = {post_json(api, REPORTS_URL, report_body(external_id)).json()["case"]["id"] for external_id in ids}
    assert len(cases) == 3
    assert sorted(Subject.objects.values_list("external_id", flat=True)) == sorted(ids)


def test_a_report_after_the_case_closed_opens_a_new_linked_case(api, report_body, system_actor):
    from cases.services import case_close

    first = post_json(api, REPORTS_URL, report_body("post-1")).json()
    case_close(case_id=first["case"]["id"], actor=system_actor, reason="test")
    again = post_json(api, REPORTS_URL, report_body("post-1"))

    assert again.status_code == 201, again.content
    assert again.json()["deduplicated"] is False
    assert again.json()["case"]["id"] != first["case"]["id"]
    assert again.json()["case"]["report_count"] == 1
    detail = api.get(f"/api/v1/cases/{again.json()['case']['id']}").json()
    assert detail["previous_case_id"] == first["case"]["id"]


# ---- idempotency -----------------------------------------------------------


def test_same_idempotency_key_and_body_replays_the_original_response_and_stores_nothing(api, report_body, counts):
    body = report_body("post-1", description="first")
    first = post_json(api, REPORTS_URL, body, HTTP_IDEMPOTENCY_KEY="key-1")
    assert first.status_code == 201
    after_first = counts()

    # Key order in the body does not matter: the meaning is compared.
    reordered = {"policy": body["policy"], "description": "first", "subject": dict(reversed(list(body["subject"].items())))}
    replay = post_json(api, REPORTS_URL, reordered, HTTP_IDEMPOTENCY_KEY="key-1")

    assert replay.status_code == 201, replay.content
    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    assert counts() == after_first


def test_replay_returns_the_original_status_even_after_the_case_moved_on(api, report_body, counts):
    opened = post_json(api, REPORTS_URL, report_body("post-1"), HTTP_IDEMPOTENCY_KEY="open-key")
    joined = post_json(api, REPORTS_URL, report_body("post-1"), HTTP_IDEMPOTENCY_KEY="join-key")
    post_json(api, REPORTS_URL, report_body("post-1"))  # a third report changes the live count
    before = counts()

    replay_open = post_json(api, REPORTS_URL, report_body("post-1"), HTTP_IDEMPOTENCY_KEY="open-key")
    replay_join = post_json(api, REPORTS_URL, report_body("post-1"), HTTP_IDEMPOTENCY_KEY="join-key")

    assert (replay_open.status_code, replay_open.json()) == (201, opened.json())
    assert (replay_join.status_code, replay_join.json()) == (200, joined.json())
    assert replay_join.json()["case"]["report_count"] == 2
    assert counts() == before


def test_same_idempotency_key_with_a_different_body_is_409_and_stores_nothing(api, report_body, counts):
    assert post_json(api, REPORTS_URL, report_body("post-1"), HTTP_IDEMPOTENCY_KEY="key-1").status_code == 201
    before = counts()
    response = post_json(api, REPORTS_URL, report_body("post-2"), HTTP_IDEMPOTENCY_KEY="key-1")
    body = assert_error(response, 409, code="idempotency_key_reused")
    assert "Idempotency-Key" in body["detail"] and "different request body" in body["detail"]
    assert counts() == before


def test_a_rejected_request_does_not_use_up_its_idempotency_key(api, report_body):
    assert post_json(api, REPORTS_URL, report_body(policy="nope"), HTTP_IDEMPOTENCY_KEY="retry-me").status_code == 400
    fixed = post_json(api, REPORTS_URL, report_body(), HTTP_IDEMPOTENCY_KEY="retry-me")
    assert fixed.status_code == 201, fixed.content
    assert "Idempotent-Replayed" not in fixed
    conflict = post_json(api, REPORTS_URL, report_body("post-2"), HTTP_IDEMPOTENCY_KEY="retry-me")
    assert conflict.status_code == 409
    # The conflict did not spoil the key either: the original body still replays.
    replay = post_json(api, REPORTS_URL, report_body(), HTTP_IDEMPOTENCY_KEY="retry-me")
    assert (replay.status_code, replay.json()) == (201, fixed.json())


def test_idempotency_key_of_256_characters_is_400_naming_the_header(api, report_body, counts):
    before = counts()
    response = post_json(api, REPORTS_URL, report_body(), HTTP_IDEMPOTENCY_KEY="k" * 256)
    assert_error(response, 400, "Idempotency-Key")
    assert counts() == before
    assert post_json(api, REPORTS_URL, report_body(), HTTP_IDEMPOTENCY_KEY="k" * 255).status_code == 201


def test_idempotency_key_must_be_printable_ascii_without_spaces(api, report_body, counts):
    before = counts()
    for bad in ("", "has space", "tab\tkey", "caf\u00e9"):
        assert_error(post_json(api, REPORTS_URL, report_body(), HTTP_IDEMPOTENCY_KEY=bad), 400, "Idempotency-Key")
    assert counts() == before
    assert post_json(api, REPORTS_URL, report_body(), HTTP_IDEMPOTENCY_KEY="!~all-printable:ASCII/ok").status_code == 201


def test_the_same_idempotency_key_at_another_source_is_independent(api, client_for, report_body):
    other = client_for(source_name="other-platform")
    mine = post_json(api, REPORTS_URL, report_body("post-1"), HTTP_IDEMPOTENCY_KEY="shared-key")
    theirs = post_json(other, REPORTS_URL, report_body("post-9"), HTTP_IDEMPOTENCY_KEY="shared-key")
    assert mine.status_code == 201
    assert theirs.status_code == 201, theirs.content
    assert theirs.json()["report_id"] != mine.json()["report_id"]
    assert Report.objects.filter(idempotency_key="shared-key").count() == 2


def test_reports_without_a_key_are_never_deduplicated_as_requests(api, report_body):
    first = post_json(api, REPORTS_URL, report_body("post-1")).json()
    second = post_json(api, REPORTS_URL, report_body("post-1")).json()
    assert first["report_id"] != second["report_id"]
    assert Report.objects.count() == 2


# ---- public ids --------------------------------------------------------------


def test_public_ids_are_random_uuids_not_sequential_integers(api, report_body):
    bodies = [post_json(api, REPORTS_URL, report_body(f"post-{n}")).json() for n in range(3)]
    ids = [b["report_id"] for b in bodies] + [b["case"]["id"] for b in bodies]
    for value in ids:
        parsed = uuid.UUID(value)
        assert str(parsed) == value
        assert parsed.version == 7
    assert len(set(ids)) == len(ids)
    case_ints = [uuid.UUID(b["case"]["id"]).int for b in bodies]
    # Not a counter: neighbours differ in their random bits, not by one.
    assert all(abs(b - a) > 1 << 32 for a, b in zip(case_ints, case_ints[1:]))
    detail = api.get(f"/api/v1/cases/{bodies[0]['case']['id']}").json()
    assert uuid.UUID(detail["subject"]["id"]).version == 7
    assert uuid.UUID(detail["reports"][0]["id"]).version == 7
    assert api.get("/api/v1/cases/1").status_code == 404
