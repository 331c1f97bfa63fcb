import json

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEvent
from cases.models import Case, Report, Subject

REPORTS_URL = "/api/v1/reports"
BATCH_URL = "/api/v1/reports/batch"
CASES_URL = "/api/v1/cases"


def post_json(http, url, payload, **extra):
    """POSTs `payload` as JSON text. json.dumps escapes non-ASCII (so a lone
    surrogate travels as the escape "\\ud800", as a real client would send it)."""
    return http.generic("POST", url, json.dumps(payload).encode("ascii"), content_type="application/json", **extra)


def post_raw(http, url, raw, content_type="application/json", **extra):
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    return http.generic("POST", url, raw, content_type=content_type, **extra)


def assert_error(response, status, field=None, *, code=None, contains=None):
    """Checks the one error shape of the API and returns the body. `field`
    must be named by an entry of `errors`; `contains` must occur in that
    entry's message (or in `detail` when no field is given)."""
    assert response.status_code == status, response.content[:2000]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"detail", "code", "errors"}, body
    assert isinstance(body["detail"], str) and body["detail"], body
    assert isinstance(body["code"], str) and body["code"], body
    assert isinstance(body["errors"], list), body
    for entry in body["errors"]:
        assert set(entry) == {"field", "code", "message"}, entry
        assert all(isinstance(entry[k], str) for k in entry), entry
        assert entry["message"], entry
    if field is not None:
        matching = [e for e in body["errors"] if e["field"] == field]
        assert matching, f"no error names {field!r}: {body['errors']}"
        if code is not None:
            assert any(e["code"] == code for e in matching), matching
        if contains is not None:
            assert any(contains in e["message"] for e in matching), matching
    else:
        if code is not None:
            assert body["code"] == code, body
        if contains is not None:
            assert contains in body["detail"], body
    return body


def table_counts():
    return {
        "reports": Report.objects.count(),
        "cases": Case.objects.count(),
        "subjects": Subject.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


@pytest.fixture
def counts():
    """Snapshot of the row counts that intake writes to; call it before and after."""
    return table_counts


@pytest.fixture
def client_for(make_api_client, policy_book):
    """Makes an authenticated DRF test client; the keywords go to make_api_client."""

    def make(**kwargs):
        client, key = make_api_client(**kwargs)
        http = APIClient()
        http.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        http.api_client = client
        http.key = key
        return http

    return make


@pytest.fixture
def file_report(api, report_body):
    """Files one report through the API (201 or 200 expected) and returns the JSON body."""

    def file(external_id="post-1", policy="spam", http=None, **extra):
        response = post_json(http or api, REPORTS_URL, report_body(external_id, policy, **extra))
        assert response.status_code in (200, 201), response.content
        return response.json()

    return file


APPEALS_URL = "/api/v1/cases/{}/appeals"
DECISIONS_URL = "/api/v1/decisions"


@pytest.fixture
def decide(workflows, people):
    """Decides the open review of a case through the review services: a lead
    seats each voter (default: two moderators) and they vote alike. Returns
    the case's current decision (None while the stage has no result)."""
    from cases.models import Policy
    from reviews.models import Decision, Outcome, Review
    from reviews.services import seat_assign, vote_cast

    def run(case_id, outcome="remove_content", *, policy="spam", voters=None, rationale="links to a scam shop",
            duration_days=None, now=None):
        review = Review.objects.get(case_id=case_id, state="open")
        for moderator in voters or people["moderators"][:2]:
            seat_assign(review_id=review.pk, moderator=moderator, lead=people["seniors"][0], now=now)
            vote_cast(review_id=review.pk, reviewer=moderator, outcome=Outcome.objects.get(code=outcome),
                      policy=Policy.objects.get(code=policy), rationale=rationale, duration_days=duration_days,
                      now=now)
        return Decision.objects.filter(case_id=case_id, is_current=True).first()

    return run


@pytest.fixture
def appeals_api(api, client_for):
    """A client of the same source as `api` that may file appeals (and read cases)."""
    return client_for(scopes=("appeals:write", "cases:read"), source_name=api.api_client.source.name)


@pytest.fixture
def steady_auth_cache(monkeypatch):
    """API keys stay cached for the whole test. Query-count tests compare two
    requests; with the 2-second cache a loaded machine can let it expire in
    between and count one more key look-up, which is not what they measure."""
    from integrations import auth

    monkeypatch.setattr(auth, "_CACHE_SECONDS", 3600.0)
