"""The OpenAPI schema and the Swagger UI page (served without any CDN)."""

import re

import pytest
import yaml
from django.contrib.staticfiles import finders
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

PATHS = ["/api/v1/reports", "/api/v1/reports/batch", "/api/v1/cases", "/api/v1/cases/{case_id}",
         "/api/v1/cases/{case_id}/appeals", "/api/v1/decisions"]


@pytest.fixture
def schema(db):
    response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return response.json()


def test_schema_is_served_as_yaml_by_default_without_a_key(db):
    response = APIClient().get("/api/schema/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    document = yaml.safe_load(response.content)
    assert document["openapi"].startswith("3.")
    assert set(PATHS) <= set(document["paths"])


def test_schema_has_every_endpoint_with_its_methods(schema):
    assert set(PATHS) <= set(schema["paths"])
    assert set(schema["paths"]["/api/v1/reports"]) >= {"post"}
    assert set(schema["paths"]["/api/v1/reports/batch"]) >= {"post"}
    assert set(schema["paths"]["/api/v1/cases"]) >= {"get"}
    assert set(schema["paths"]["/api/v1/cases/{case_id}"]) >= {"get"}
    assert set(schema["paths"]["/api/v1/cases/{case_id}/appeals"]) == {"post"}
    assert set(schema["paths"]["/api/v1/decisions"]) == {"get"}


def _resolve(schema, ref):
    name = ref.rsplit("/", 1)[-1]
    return schema["components"]["schemas"][name]


def _response_schema(schema, path, method, status):
    content = schema["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    return _resolve(schema, content["$ref"])


def test_schema_documents_the_error_shape(schema):
    error = _response_schema(schema, "/api/v1/reports", "post", 400)
    assert set(error["properties"]) == {"detail", "code", "errors"}
    assert set(error["required"]) == {"detail", "code", "errors"}
    item = _resolve(schema, error["properties"]["errors"]["items"]["$ref"])
    assert set(item["properties"]) == {"field", "code", "message"}
    for status in (400, 401, 403, 409, 413, 415, 429):
        assert str(status) in schema["paths"]["/api/v1/reports"]["post"]["responses"], status
    assert "404" in schema["paths"]["/api/v1/cases/{case_id}"]["get"]["responses"]


def test_schema_documents_the_report_request_and_responses(schema):
    operation = schema["paths"]["/api/v1/reports"]["post"]
    for status in (200, 201):
        out = _response_schema(schema, "/api/v1/reports", "post", status)
        assert set(out["properties"]) == {"report_id", "case", "deduplicated", "effect"}
        effect = out["properties"]["effect"]
        effect = _resolve(schema, effect["$ref"]) if "$ref" in effect else _resolve(schema, effect["allOf"][0]["$ref"]) \
            if "allOf" in effect else effect
        assert set(effect["enum"]) == {"opened_case", "joined_case", "rerouted_case",
                                                            "reopened_review", "post_decision", "held_reporter_suspended"}
    held = _response_schema(schema, "/api/v1/reports", "post", 202)  # trust: a suspended reporter's notice
    assert set(held["properties"]) == {"held_notice_id", "case", "deduplicated", "effect", "processing"}
    request = _resolve(schema, operation["requestBody"]["content"]["application/json"]["schema"]["$ref"])
    assert {"subject", "policy"} <= set(request["required"])
    # G4: optional signals (identifiers kept only as keyed hashes, media hashes), refusing unknown fields.
    assert "signals" not in request["required"]
    signals = _resolve(schema, request["properties"]["signals"]["allOf"][0]["$ref"])
    assert set(signals["properties"]) == {"subject", "author", "media"} and signals["additionalProperties"] is False
    identifiers = _resolve(schema, signals["properties"]["subject"]["allOf"][0]["$ref"])
    assert set(identifiers["properties"]) == {"email", "phone", "device", "payment", "ip_prefix"}
    media = _resolve(schema, signals["properties"]["media"]["items"]["$ref"])
    assert media["properties"]["pdq"]["pattern"] == "[0-9a-fA-F]{64}"
    headers = [p for p in operation["parameters"] if p["in"] == "header"]
    assert [p["name"] for p in headers] == ["Idempotency-Key"]
    list_params = {p["name"] for p in schema["paths"]["/api/v1/cases"]["get"]["parameters"]}
    assert {"subject_external_id", "state", "policy", "cursor", "page_size"} <= list_params


def test_schema_documents_decisions_and_appeals(schema):
    case = _response_schema(schema, "/api/v1/cases/{case_id}", "get", 200)
    assert "decision" in case["properties"]
    feed = _response_schema(schema, "/api/v1/decisions", "get", 200)
    assert set(feed["properties"]) == {"results", "next_cursor", "has_more"}
    item = _resolve(schema, feed["properties"]["results"]["items"]["$ref"])
    assert {"id", "case_id", "event", "kind", "outcome", "policy", "statement_of_reasons", "sequence", "supersedes",
            "appeal"} <= set(item["properties"])
    assert not {"reviewers", "decided_by"} & set(item["properties"])
    params = {p["name"] for p in schema["paths"]["/api/v1/decisions"]["get"]["parameters"]}
    assert {"since", "page_size"} <= params

    operation = schema["paths"]["/api/v1/cases/{case_id}/appeals"]["post"]
    request = _resolve(schema, operation["requestBody"]["content"]["application/json"]["schema"]["$ref"])
    assert set(request["properties"]) == {"appellant", "appellant_external_id", "statement"}
    assert set(request["required"]) == {"appellant", "statement"}
    assert request["properties"]["statement"]["maxLength"] == 10_000
    created = _response_schema(schema, "/api/v1/cases/{case_id}/appeals", "post", 201)
    assert set(created["properties"]) == {"id", "case_id", "decision_id", "state", "opened_at"}
    for status in (400, 401, 403, 404, 409, 429):
        assert str(status) in operation["responses"], status
    assert "appeal_already_open" in operation["description"] and "retr" in operation["description"]
    assert "appeal_window_closed" in operation["responses"]["409"]["description"]


def test_schema_declares_the_bearer_key(schema):
    schemes = schema["components"]["securitySchemes"]
    assert any(s.get("type") == "http" and s.get("scheme") == "bearer" for s in schemes.values()), schemes
    for path in PATHS:
        for operation in schema["paths"][path].values():
            assert operation.get("security"), (path, operation.get("security"))


def test_schema_generates_without_warnings_and_validates(db):
    from drf_spectacular.drainage import GENERATOR_STATS

    GENERATOR_STATS.reset()
    document = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(document)
    assert not GENERATOR_STATS._warn_cache, list(GENERATOR_STATS._warn_cache)
    assert not GENERATOR_STATS._error_cache, list(GENERATOR_STATS._error_cache)


def test_docs_page_uses_only_local_assets(db):
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    for host in ("cdn.jsdelivr", "unpkg", "cdnjs", "googleapis"):
        assert host not in html, host
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, html[:500]
    for asset in assets:
        assert asset.startswith("/"), asset  # same origin, no scheme or host
        if asset.startswith("/static/"):
            assert finders.find(asset.removeprefix("/static/")), f"{asset} is not a static file"
    assert "/api/schema/" in html
