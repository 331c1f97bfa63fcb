"""Schemathesis against the live OpenAPI schema (/api/schema/): every
operation, with a bounded number of generated requests each, through the
whole Django stack (middleware included), authenticated as a client holding
every scope. No response may be a 5xx or disagree with the schema (status
code, content type, headers, body).

QUORUM_SCHEMATHESIS_EXAMPLES raises the number of examples per operation for
a longer hunt (default 25); QUORUM_SCHEMATHESIS_SEED changes the seed (the
default is fixed so that `make test` is repeatable)."""

import hashlib
import hmac
import json
import os
from collections import Counter, defaultdict

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client

from config.wsgi import application
from integrations.adapters.services import adapter_config_create
from integrations.models import SCOPES

from .conftest import BATCH_URL, REPORTS_URL, assert_error, post_json

EXAMPLES = int(os.environ.get("QUORUM_SCHEMATHESIS_EXAMPLES", "25"))
SEED = int(os.environ.get("QUORUM_SCHEMATHESIS_SEED", "20261127"))


@pytest.fixture
def seeded(make_api_client, policy_book, workflows, decide, system_actor):
    """A client with every scope, some cases (one decided and appealed, so
    that case and decision bodies carry every nested shape) and a Mastodon
    configuration, so that the generated requests meet real data."""
    client, key = make_api_client(name="schemathesis", scopes=tuple(sorted(SCOPES)))
    http = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    case_ids = []
    for n, policy in enumerate(("spam", "hate", "harassment")):
        body = {"subject": {"kind": "content", "external_id": f"st-{n}", "text": "x", "author": {"external_id": "a1"},
                            "media": [{"url": "https://cdn.example/a.png", "mime_type": "image/png"}],
                            "metadata": {"followers_count": 10}},
                "policy": policy, "reporter": {"kind": "user", "external_id": f"u{n}"}, "jurisdiction": ["DE"]}
        response = http.post("/api/v1/reports", body, content_type="application/json")
        assert response.status_code == 201, response.content
        case_ids.append(response.json()["case"]["id"])
    decide(case_ids[0])
    response = http.post(f"/api/v1/cases/{case_ids[0]}/appeals",
                         {"appellant": "affected_user", "statement": "please look again"},
                         content_type="application/json")
    assert response.status_code == 201, response.content
    secret = "s" * 40
    adapter_config_create(api_client=client, platform="mastodon", webhook_secret=secret, actor=system_actor)
    return {"key": key, "case_ids": case_ids, "client": client, "webhook_secret": secret}


# Statuses seen per operation, across the run: the fuzzing must have reached
# the API's success paths, not only its refusals (a broken key would make
# every request a 401 and the test pass without testing anything).
_ANSWERED = defaultdict(Counter)
MUST_SUCCEED = {"GET /api/v1/cases": {200}, "GET /api/v1/cases/{case_id}": {200}, "GET /api/v1/decisions": {200},
                "POST /api/v1/reports": {200, 201}, "POST /api/v1/reports/batch": {200},
                "POST /api/v1/cases/{case_id}/appeals": {201, 409}, "POST /api/v1/adapters/mastodon/{client}": {200}}


@pytest.fixture
def answered():
    return _ANSWERED


@pytest.fixture
def api_schema(seeded):
    # In-process WSGI calls run on the test's own database connection (inside
    # its transaction); Django's handler would close it between requests, as
    # it does for a real server. The test client disconnects the same signals.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        config = schemathesis.Config.from_dict({
            "seed": SEED,
            # The schema's security scheme is `apiKey` (http bearer).
            "auth": {"openapi": {"apiKey": {"bearer": seeded["key"]}}},
            # No example database: what one machine stored never changes what the next run tries.
            "generation": {"max-examples": EXAMPLES, "database": "none"},
            "checks": {
                # A schema-valid request may still be refused with a 400: the API
                # checks meaning a schema cannot state (opaque cursors, an author
                # only on content, classifier_score only from automated reporters,
                # metadata depth and size). Responses must still match the schema.
                "positive_data_acceptance": {"enabled": False},
            },
            "operations": [
                # The batch endpoint answers 200 and reports invalid items one by
                # one (status 400 per item) by design.
                {"include-path": "/api/v1/reports/batch", "checks": {"negative_data_rejection": {"enabled": False}}},
            ],
        })
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, config=config)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    print({label: dict(statuses) for label, statuses in sorted(_ANSWERED.items())})
    missing = {label: sorted(_ANSWERED.get(label, {})) for label, ok in MUST_SUCCEED.items()
               if not ok & set(_ANSWERED.get(label, {}))}
    assert not missing, f"operations never answered with success (statuses seen): {missing}"


schema = schemathesis.pytest.from_fixture("api_schema")


ADAPTER = "POST /api/v1/adapters/mastodon/{client}"
REPORTS = ("POST /api/v1/reports", "POST /api/v1/reports/batch")


def _positive(case):
    return case.meta is not None and case.meta.generation.mode == schemathesis.GenerationMode.POSITIVE


def _meaningful(report):
    """Drops what a schema cannot forbid (an author on an account, a
    classifier score from a person) so that generated reports get filed and
    the intake path meets generated text, not only the validators."""
    if not isinstance(report, dict):
        return
    subject, reporter = report.get("subject"), report.get("reporter")
    if isinstance(subject, dict) and subject.get("kind") != "content":
        subject.pop("author", None)
    if not (isinstance(reporter, dict) and reporter.get("kind") == "automated"):
        report.pop("classifier_score", None)


@schema.parametrize()
def test_every_operation_answers_within_its_schema_and_never_5xx(case, answered, seeded):
    kwargs = {}
    if _positive(case) and case.operation.label in REPORTS and isinstance(case.body, dict):
        for report in case.body.get("reports", [case.body]):
            _meaningful(report)
        key = (case.headers or {}).get("Idempotency-Key")
        if isinstance(key, str):
            # Generated keys repeat ("0", "00" ...) with other bodies: a 409 that files nothing.
            case.headers["Idempotency-Key"] = f"{key[:200]}-{answered[case.operation.label].total()}"
    if _positive(case) and case.operation.label == ADAPTER and isinstance(case.body, dict):
        # Valid webhooks go to the configured client, signed, so that generated
        # Mastodon payloads reach the adapter's parsing and the intake (the
        # negative cases keep their unknown clients and missing signatures).
        case.path_parameters["client"] = seeded["client"].name
        if isinstance(case.body.get("event"), str) and len(case.body["event"]) % 2:
            case.body["event"] = "report.created"
        raw = json.dumps(case.body).encode()
        signature = hmac.new(seeded["webhook_secret"].encode(), raw, hashlib.sha256).hexdigest()
        case.headers = {**(case.headers or {}), "X-Hub-Signature": f"sha256={signature}"}
        kwargs["data"] = raw
    if _positive(case) and "case_id" in (case.path_parameters or {}) and answered[case.operation.label].total() % 2:
        # Every other valid request names a real case (the others, unknown ones).
        ids = seeded["case_ids"]
        case.path_parameters["case_id"] = ids[answered[case.operation.label].total() % len(ids)]
    response = case.call_and_validate(**kwargs)
    if case.method.upper() == case.operation.method.upper():
        answered[case.operation.label][response.status_code] += 1


# ---- what the fuzzing found, pinned down -----------------------------------

@pytest.mark.parametrize("field, value", [
    ("subject.author.display_name", 7), ("subject.display_name", 1.5), ("subject.text", 12), ("description", 3),
    ("subject.url", 12345678901), ("subject.language", 12), ("policy", 1), ("reporter.external_id", 1.5),
    ("subject.external_id", True),
])
def test_numbers_where_the_schema_says_string_are_refused(api, field, value):
    """DRF's CharField turned 7 into "7": schemathesis sent a number as
    author.display_name and the report was filed (ST201)."""
    body = {"subject": {"kind": "content", "external_id": "p1", "author": {"external_id": "a1"}}, "policy": "spam",
            "reporter": {"kind": "user", "external_id": "u1"}}
    target = body
    *parents, last = field.split(".")
    for key in parents:
        target = target[key]
    target[last] = value
    assert_error(post_json(api, REPORTS_URL, body), 400, field)


def test_integer_ids_stay_accepted_and_are_documented(api, schema_document):
    response = post_json(api, REPORTS_URL, {"subject": {"kind": "content", "external_id": 42,
                                                        "author": {"external_id": 7}}, "policy": "spam",
                                            "reporter": {"kind": "user", "external_id": 9}})
    assert response.status_code == 201, response.content
    external_id = schema_document["components"]["schemas"]["SubjectRequest"]["properties"]["external_id"]
    assert {s["type"] for s in external_id["oneOf"]} == {"string", "integer"}


@pytest.mark.parametrize("field, value", [
    ("subject.language", " en"), ("subject.language", "en\n"),
    ("subject.media.0.sha256", "a" * 64 + " "), ("subject.media.0.mime_type", "image/png\n"),
])
def test_patterned_values_are_checked_as_sent_not_trimmed(api, field, value):
    body = {"subject": {"kind": "content", "external_id": "p1", "media": [{"url": "https://cdn.example/a.png"}]},
            "policy": "spam"}
    target = body
    *parents, last = field.split(".")
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    target[last] = value
    assert_error(post_json(api, REPORTS_URL, body), 400, field)


def test_a_batch_idempotency_key_with_a_trailing_newline_is_refused(api, report_body):
    """`^...$` matches before a final newline: "key\\n" passed as printable ASCII."""
    response = post_json(api, BATCH_URL, {"reports": [{**report_body("p1"), "idempotency_key": "key-1\n"}]})
    assert response.status_code == 200
    (result,) = response.json()["results"]
    assert result["status"] == 400 and result["errors"][0]["field"] == "reports.0.idempotency_key"


@pytest.fixture
def schema_document(db, policy_book):
    return Client().get("/api/schema/?format=json").json()


def _enum(document, schema):
    """The enum of a property schema, following drf-spectacular's extracted $refs."""
    for ref in [schema.get("$ref"), *[item.get("$ref") for item in schema.get("allOf", [])]]:
        if ref:
            return _enum(document, document["components"]["schemas"][ref.rsplit("/", 1)[-1]])
    return schema["enum"]


def test_the_schema_states_what_the_serializers_check(schema_document):
    components = schema_document["components"]["schemas"]
    paths = schema_document["paths"]
    for name in ("ReportInRequest", "SubjectRequest", "MediaRequest", "ReporterRequest", "AppealInRequest"):
        assert components[name]["additionalProperties"] is False, name
    subject = components["SubjectRequest"]["properties"]
    assert subject["url"]["pattern"] and subject["language"]["pattern"]
    assert components["MediaRequest"]["properties"]["sha256"]["pattern"]
    assert "DE" in _enum(schema_document, components["ReportInRequest"]["properties"]["jurisdiction"]["items"])
    policies = _enum(schema_document, components["ReportInRequest"]["properties"]["policy"])
    assert {"spam", "hate", "other", "misinformation"} <= set(policies)
    for path in ("/api/v1/cases", "/api/v1/decisions"):
        (page_size,) = [p for p in paths[path]["get"]["parameters"] if p["name"] == "page_size"]
        assert (page_size["schema"]["minimum"], page_size["schema"]["maximum"]) == (1, 200)
    (key,) = [p for p in paths["/api/v1/reports"]["post"]["parameters"] if p["name"] == "Idempotency-Key"]
    assert key["schema"]["pattern"] and key["schema"]["maxLength"] == 255
    batch = components["BatchInRequest"]["properties"]["reports"]
    assert (batch["minItems"], batch["maxItems"]) == (1, 500)


def test_an_inactive_policy_leaves_the_schema(schema_document, policy_book):
    from cases.models import Policy
    from cases.selectors import invalidate_configuration_cache

    Policy.objects.filter(code="misinformation").update(active=False)
    invalidate_configuration_cache()
    document = Client().get("/api/schema/?format=json").json()
    policies = _enum(document, document["components"]["schemas"]["ReportInRequest"]["properties"]["policy"])
    assert "misinformation" not in policies and "spam" in policies
