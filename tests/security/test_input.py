"""Hostile input at the edge: duplicate JSON keys, chunked bodies (through a
real gunicorn), a short SECRET_KEY in production, HSTS flags opt-in."""
import http.client
import json
import os
import subprocess
import sys

import pytest
from django.test import Client

from cases.models import Report
from tests.processes import ROOT

from .gunicorn import running_gunicorn


def test_duplicate_keys_are_refused_naming_the_key(api):
    raw = b'{"subject": {"kind": "content", "external_id": "dup-1"}, "policy": "spam", "policy": "hate"}'
    response = api.generic("POST", "/api/v1/reports", raw, content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert body["errors"] == [{"field": "policy", "code": "duplicate_key",
                               "message": "the key 'policy' appears more than once in one JSON object"}]
    nested = b'{"subject": {"kind": "content", "kind": "account", "external_id": "dup-2"}, "policy": "spam"}'
    response = api.generic("POST", "/api/v1/reports", nested, content_type="application/json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "kind"
    assert not Report.objects.exists()
    # The same keys in different objects are fine.
    ok = b'{"subject": {"kind": "content", "external_id": "dup-3"}, "policy": "spam", "reporter": {"kind": "user"}}'
    assert api.generic("POST", "/api/v1/reports", ok, content_type="application/json").status_code == 201


def test_hsts_preload_and_subdomains_are_opt_in(db):
    response = Client().get("/healthz", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000"


def _settings_process(tmp_path, **env):
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    base.update({"QUORUM_VAR_DIR": str(tmp_path), "ALLOWED_HOSTS": "example.org",
                 "AUDIT_HMAC_KEYS": "k1:" + "a" * 64, **env})
    code = ("import config.settings as s; print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, "
            "s.SECURE_HSTS_PRELOAD)")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=base, capture_output=True, text=True,
                          timeout=120)


def test_production_refuses_a_short_secret_key(tmp_path):
    short = _settings_process(tmp_path, SECRET_KEY="abcde")
    assert short.returncode == 2
    assert "SECRET_KEY is 5 characters long" in short.stderr and "abcde" not in short.stderr
    good = _settings_process(tmp_path, SECRET_KEY="k" * 50)
    assert good.returncode == 0, good.stderr
    assert good.stdout.split() == ["31536000", "False", "False"]
    opted = _settings_process(tmp_path, SECRET_KEY="k" * 50, SECURE_HSTS_INCLUDE_SUBDOMAINS="true",
                              SECURE_HSTS_PRELOAD="true")
    assert opted.stdout.split() == ["31536000", "True", "True"]
    # DEBUG keeps working without a key (the embedded `make run` defaults).
    assert _settings_process(tmp_path, DEBUG="true").returncode == 0


@pytest.fixture
def gunicorn(db, tmp_path):
    """A real gunicorn on a free port, on this test's database."""
    with running_gunicorn(tmp_path) as port:
        yield port


def _chunked_post(port, path, chunks, headers):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("POST", path, body=iter(chunks), headers={"Content-Type": "application/json", **headers},
                     encode_chunked=True)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.django_db(transaction=True)
def test_chunked_bodies_are_read_with_the_same_limits(gunicorn, make_api_client, policy_book):
    _client, key = make_api_client()
    auth = {"Authorization": f"Bearer {key}", "Host": "127.0.0.1"}
    body = json.dumps({"subject": {"kind": "content", "external_id": "chunked-1", "text": "spam spam"},
                       "policy": "spam"}).encode()
    status, content = _chunked_post(gunicorn, "/api/v1/reports", [body[:10], body[10:40], body[40:]], auth)
    assert status == 201, content
    assert Report.objects.filter(subject__external_id="chunked-1").count() == 1

    # 3 MB to an endpoint that takes 1 MB: 413, as with Content-Length.
    big = b'{"subject": {"kind": "content", "external_id": "big", "text": "' + b"x" * 3_000_000 + b'"}}'
    status, content = _chunked_post(gunicorn, "/api/v1/reports", [big[i:i + 65536] for i in range(0, len(big), 65536)],
                                    auth)
    assert status == 413, content
    assert json.loads(content)["code"] == "payload_too_large"

    # Duplicate keys arrive chunked too.
    dup = b'{"subject": {"kind": "content", "external_id": "d"}, "policy": "spam", "policy": "hate"}'
    status, content = _chunked_post(gunicorn, "/api/v1/reports", [dup[:5], dup[5:]], auth)
    assert status == 400 and json.loads(content)["errors"][0]["field"] == "policy"
    assert not Report.objects.filter(subject__external_id__in=["big", "d"]).exists()


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_over_the_largest_limit_is_cut_off(gunicorn, make_api_client, policy_book):
    _client, key = make_api_client()
    chunk = b"x" * 1_048_576
    status, content = _chunked_post(gunicorn, "/api/v1/reports/batch", [b'{"reports": ["'] + [chunk] * 17,
                                    {"Authorization": f"Bearer {key}", "Host": "127.0.0.1"})
    assert status == 413, content
