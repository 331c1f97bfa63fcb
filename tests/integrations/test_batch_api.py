"""POST /api/v1/reports/batch: per-item results, partial acceptance,
idempotency per item, and the same counts as single requests."""

import json
import uuid

import pytest

from cases.models import Case, Report

from .conftest import BATCH_URL, REPORTS_URL, assert_error, post_json, post_raw


def item(external_id="post-1", policy="spam", **extra):
    body = {"subject": {"kind": "content", "external_id": external_id, "text": "buy now"}, "policy": policy}
    body.update(extra)
    return body


def batch(api, reports, **extra):
    response = post_json(api, BATCH_URL, {"reports": reports}, **extra)
    assert response.status_code == 200, response.content[:2000]
    body = response.json()
    assert set(body) == {"results", "accepted", "rejected"}
    assert [r["index"] for r in body["results"]] == list(range(len(reports)))
    return body


def test_valid_items_are_filed_and_invalid_ones_reported_in_order(api, counts):
    before = counts()
    body = batch(api, [
        item("a"),
        item("b", policy="nope"),
        "not an object",
        item("c", extra_field=1),
        {"subject": {"kind": "content", "external_id": "d", "text": "\u0000"}, "policy": "spam"},
        item("e"),
        {"subject": {"kind": "content", "external_id": "f", "metadata": {"\ud800": 1}}, "policy": "spam"},
        {"subject": {"kind": "\ud800", "external_id": "g"}, "policy": "spam"},
    ])
    results = body["results"]
    assert [r["status"] for r in results] == [201, 400, 400, 400, 400, 201, 400, 400]
    assert (body["accepted"], body["rejected"]) == (2, 6)

    def fields(i):
        return {e["field"] for e in results[i]["errors"]}

    assert fields(1) == {"reports.1.policy"}
    assert "valid codes" in results[1]["errors"][0]["message"]
    assert fields(2) == {"reports.2"}
    assert fields(3) == {"reports.3.extra_field"}
    assert fields(4) == {"reports.4.subject.text"}
    assert fields(6) == {"reports.6.subject.metadata.\\ud800"}
    assert fields(7) == {"reports.7.subject.kind"}
    for r in results:
        if r["status"] == 400:
            assert set(r) == {"index", "status", "errors"}
            assert all(set(e) == {"field", "code", "message"} for e in r["errors"])
        else:
            assert set(r) == {"index", "status", "report_id", "case", "deduplicated", "effect"}
            assert r["case"]["url"] == f"http://testserver/api/v1/cases/{r['case']['id']}"
    after = counts()
    assert after["reports"] == before["reports"] + 2
    assert after["cases"] == before["cases"] + 2
    assert after["audit"] == before["audit"] + 2
    assert set(Report.objects.values_list("subject__external_id", flat=True)) == {"a", "e"}


def test_items_about_one_subject_make_one_case_with_the_right_counts(api):
    body = batch(api, [item("p"), item("q"), item("p", reporter={"kind": "user", "external_id": "u1"}), item("p")])
    results = body["results"]
    assert [r["status"] for r in results] == [201, 201, 200, 200]
    assert [r["deduplicated"] for r in results] == [False, False, True, True]
    p_case = results[0]["case"]["id"]
    assert results[2]["case"]["id"] == p_case == results[3]["case"]["id"]
    assert results[1]["case"]["id"] != p_case
    assert [results[i]["case"]["report_count"] for i in (0, 2, 3)] == [1, 2, 3]
    case = Case.objects.get(pk=p_case)
    assert (case.report_count, case.reporter_count) == (3, 2)
    assert api.get(f"/api/v1/cases/{p_case}").json()["report_count"] == 3
    assert len({r["report_id"] for r in results}) == 4


def test_a_batch_joins_cases_opened_by_earlier_requests(api):
    opened = post_json(api, REPORTS_URL, item("p")).json()
    body = batch(api, [item("p"), item("p")])
    assert [r["status"] for r in body["results"]] == [200, 200]
    assert {r["case"]["id"] for r in body["results"]} == {opened["case"]["id"]}
    assert [r["case"]["report_count"] for r in body["results"]] == [2, 3]
    assert Case.objects.get(pk=opened["case"]["id"]).report_count == 3


REPORT_SEQUENCE = [
    {"policy": "spam"},
    {"policy": "spam"},  # the anonymous user again: a second report, not a second reporter
    {"policy": "harassment", "reporter": {"kind": "user", "external_id": "u1"}},
    {"policy": "spam", "reporter": {"kind": "user", "external_id": "u1"}},
    {"policy": "hate", "reporter": {"kind": "trusted_flagger", "external_id": "tf-1"}},
    {"policy": "spam", "reporter": {"kind": "automated", "external_id": "clf"}, "classifier_score": 0.9},
    {"policy": "spam", "reporter": {"kind": "staff", "external_id": "u1"}},  # same id, other kind: another reporter
]


def _sequence(external_id):
    out = []
    for n, extra in enumerate(REPORT_SEQUENCE):
        body = item(external_id, **extra)
        body["subject"]["metadata"] = {"reach": 1000 * (n + 1)}
        out.append(body)
    return out


@pytest.mark.parametrize("opened_first", [False, True], ids=["batch opens", "batch joins"])
def test_batch_counts_equal_what_single_requests_produce(api, opened_first, system_actor):
    from integrations.services import api_client_update

    # the staff report counts as staff only from a client allowed to file them (trust.intake.staff_confirmed)
    api_client_update(client_id=api.api_client.pk, actor=system_actor,
                      scopes=["reports:write", "cases:read", "reports:staff"])
    singles = [post_json(api, REPORTS_URL, body) for body in _sequence("single")]
    reports = _sequence("batched")
    if opened_first:
        first = post_json(api, REPORTS_URL, reports.pop(0))
        assert first.status_code == 201
    batched = batch(api, reports)["results"]
    if opened_first:
        batched = [first.json() | {"status": 201}] + batched

    assert [r.status_code for r in singles] == [r["status"] for r in batched]
    for single, other in zip(singles, batched):
        assert single.json()["case"]["report_count"] == other["case"]["report_count"]
        assert single.json()["deduplicated"] == other["deduplicated"]
    single_case = Case.objects.get(pk=singles[0].json()["case"]["id"])
    batch_case = Case.objects.get(pk=batched[0]["case"]["id"])
    fields = ("report_count", "reporter_count", "reporter_weight", "max_severity", "max_classifier_score", "priority")
    assert [getattr(batch_case, f) for f in fields] == [getattr(single_case, f) for f in fields]
    assert (single_case.report_count, single_case.reporter_count) == (7, 5)


def test_batch_item_priorities_equal_single_requests_when_the_subject_does_not_change(api):
    singles = [post_json(api, REPORTS_URL, item("single", **extra)).json() for extra in REPORT_SEQUENCE]
    batched = batch(api, [item("batched", **extra) for extra in REPORT_SEQUENCE])["results"]
    assert [r["case"]["priority"] for r in batched] == [r["case"]["priority"] for r in singles]


def test_batch_item_priorities_follow_the_subject_snapshot_of_each_item(api):
    singles = [post_json(api, REPORTS_URL, body).json() for body in _sequence("single")]
    batched = batch(api, _sequence("batched"))["results"]
    assert [r["case"]["priority"] for r in batched] == [r["case"]["priority"] for r in singles]


def test_item_idempotency_key_replays_an_earlier_request(api, counts):
    single = post_json(api, REPORTS_URL, item("p"), HTTP_IDEMPOTENCY_KEY="from-single")
    earlier = batch(api, [item("q", idempotency_key="from-batch")])["results"][0]
    before = counts()

    results = batch(api, [item("p", idempotency_key="from-single"), item("q", idempotency_key="from-batch")])["results"]

    assert results[0]["status"] == 201
    assert {k: results[0][k] for k in ("report_id", "case", "deduplicated", "effect")} == single.json()
    assert {k: v for k, v in results[1].items() if k != "index"} == {k: v for k, v in earlier.items() if k != "index"}
    assert counts() == before


def test_item_idempotency_key_with_another_body_is_409_and_others_are_filed(api, counts):
    post_json(api, REPORTS_URL, item("p"), HTTP_IDEMPOTENCY_KEY="k1")
    before = counts()
    results = batch(api, [item("other", idempotency_key="k1"), item("fresh")])["results"]
    assert results[0]["status"] == 409
    assert results[0]["errors"][0]["field"] == "reports.0.idempotency_key"
    assert results[0]["errors"][0]["code"] == "idempotency_key_reused"
    assert results[1]["status"] == 201
    assert counts()["reports"] == before["reports"] + 1


def test_a_key_repeated_in_one_batch_files_once(api, counts):
    before = counts()
    results = batch(api, [
        item("p", idempotency_key="dup"),
        item("q"),
        item("p", idempotency_key="dup"),
        item("other-body", idempotency_key="dup"),
    ])["results"]
    assert [r["status"] for r in results] == [201, 201, 201, 409]
    assert results[2]["report_id"] == results[0]["report_id"]
    assert results[2]["case"] == results[0]["case"]
    assert results[3]["errors"][0]["field"] == "reports.3.idempotency_key"
    after = counts()
    assert after["reports"] == before["reports"] + 2
    assert Report.objects.filter(idempotency_key="dup").count() == 1
    assert Case.objects.get(pk=results[0]["case"]["id"]).report_count == 1


def test_the_idempotency_key_is_not_part_of_the_body_compared(api):
    single = post_json(api, REPORTS_URL, item("p"), HTTP_IDEMPOTENCY_KEY="k")
    # The same report sent in a batch with the key inside the item is the same request.
    replay = batch(api, [item("p", idempotency_key="k")])["results"][0]
    assert replay["report_id"] == single.json()["report_id"]


def test_bad_item_idempotency_keys_are_item_errors(api):
    results = batch(api, [item("a", idempotency_key="a" * 256), item("b", idempotency_key="has space"),
                          item("c", idempotency_key="")])["results"]
    for index, result in enumerate(results):
        assert result["status"] == 400
        assert [e["field"] for e in result["errors"]] == [f"reports.{index}.idempotency_key"]
    assert Report.objects.count() == 0


def test_500_items_are_accepted(api):
    body = batch(api, [item(f"p{n % 250}", idempotency_key=f"k{n}") for n in range(500)])
    assert body["accepted"] == 500
    assert Case.objects.count() == 250
    assert set(Case.objects.values_list("report_count", flat=True)) == {2}


@pytest.mark.parametrize("payload, field, contains", [
    ({"reports": [item(f"p{n}") for n in range(501)]}, "reports", "at most 500"),
    ({"reports": []}, "reports", "at least one"),
    ({}, "reports", "required"),
    ({"reports": "x"}, "reports", "list"),
    ({"reports": {"0": item()}}, "reports", "list"),
    ({"reports": [item()], "dry_run": True}, "dry_run", "unknown field"),
    ([item()], "", "JSON object"),
], ids=["501 items", "empty list", "missing reports", "reports is a string", "reports is an object", "unknown field",
        "array body"])
def test_malformed_batches_are_400_and_write_nothing(api, counts, payload, field, contains):
    before = counts()
    assert_error(post_json(api, BATCH_URL, payload), 400, field, contains=contains)
    assert counts() == before


def test_batch_body_limits(api, counts, settings):
    before = counts()
    assert_error(post_raw(api, BATCH_URL, b"{" * 20), 400, contains="malformed JSON")
    assert_error(post_raw(api, BATCH_URL, b"[" * 100_000), 400, contains="nested too deeply")
    assert_error(post_raw(api, BATCH_URL, json.dumps({"reports": [item()]}), content_type="text/plain"), 415)
    too_big = b'{"reports": [' + b" " * settings.INTAKE_BATCH_MAX_BODY_BYTES + b"]}"
    assert_error(post_raw(api, BATCH_URL, too_big), 413, code="payload_too_large")
    assert counts() == before


def test_batch_needs_reports_write(client_for):
    reader = client_for(scopes=["cases:read"])
    assert_error(post_json(reader, BATCH_URL, {"reports": [item()]}), 403)
    assert Report.objects.count() == 0


def test_batch_ids_are_uuids(api):
    result = batch(api, [item()])["results"][0]
    assert uuid.UUID(result["report_id"]).version == 7
    assert uuid.UUID(result["case"]["id"]).version == 7


def test_a_case_lists_batch_filed_reports_in_filing_order(api):
    results = batch(api, [item("p", description=str(n)) for n in range(30)])["results"]
    case = api.get(f"/api/v1/cases/{results[0]['case']['id']}").json()
    assert [r["description"] for r in case["reports"]] == [str(n) for n in range(30)]
