"""API keys, scopes and the per-client rate limit (shared through Redis)."""

import ast
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from cases.models import Report
from integrations import auth, ratelimit
from integrations.services import api_client_revoke

from .conftest import BATCH_URL, CASES_URL, REPORTS_URL, assert_error, post_json

ENDPOINTS = [("post", REPORTS_URL), ("post", BATCH_URL), ("get", CASES_URL),
             ("get", f"{CASES_URL}/00000000-0000-0000-0000-000000000000")]


def _call(http, method, url, report_body):
    if method == "post":
        payload = {"reports": [report_body()]} if url == BATCH_URL else report_body()
        return post_json(http, url, payload)
    return http.get(url)


@pytest.mark.parametrize("method, url", ENDPOINTS)
@pytest.mark.parametrize("header", [
    None,
    "Bearer qrm_000000000000_wrongsecret",
    "Bearer not-even-a-key",
    "Bearer",
    "Bearer a b",
    "Basic dXNlcjpwYXNz",
    "Token qrm_000000000000_x",
    "Bearer qrm_\u00e9\u00e9\u00e9",
], ids=["no header", "unknown key", "malformed key", "bearer without key", "two tokens", "basic", "token scheme",
        "non-ascii"])
def test_requests_without_a_valid_key_are_401(policy_book, report_body, counts, method, url, header):
    http = APIClient()
    if header is not None:
        http.credentials(HTTP_AUTHORIZATION=header)
    before = counts()
    response = _call(http, method, url, report_body)
    assert_error(response, 401)
    assert response["WWW-Authenticate"] == 'Bearer realm="quorum"'
    assert counts() == before


def test_a_key_with_the_right_prefix_and_a_wrong_secret_is_401(api, report_body):
    prefix = api.key.rsplit("_", 1)[0]
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION=f"Bearer {prefix}_{'A' * 43}")
    assert_error(post_json(forged, REPORTS_URL, report_body()), 401)
    assert_error(forged.get(CASES_URL), 401)


def test_the_scheme_name_is_case_insensitive(api, report_body):
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"bearer {api.key}")
    assert post_json(http, REPORTS_URL, report_body()).status_code == 201


def test_a_revoked_key_is_401(api, report_body, system_actor):
    assert post_json(api, REPORTS_URL, report_body()).status_code == 201
    api_client_revoke(client_id=api.api_client.pk, actor=system_actor)
    auth.clear_cache()  # look-ups are cached for 2 seconds per process
    before = Report.objects.count()
    body = assert_error(post_json(api, REPORTS_URL, report_body("post-2")), 401)
    assert "revoked" in body["detail"]
    assert_error(api.get(CASES_URL), 401)
    assert Report.objects.count() == before


def test_a_revoked_key_stops_working_within_the_cache_time_without_clearing(api, report_body, system_actor, monkeypatch):
    assert api.get(CASES_URL).status_code == 200  # cached now
    api_client_revoke(client_id=api.api_client.pk, actor=system_actor)
    monkeypatch.setattr(auth, "_CACHE_SECONDS", 0.2)
    time.sleep(0.25)
    assert_error(api.get(CASES_URL), 401)


@pytest.mark.parametrize("method, url", ENDPOINTS[:2])
def test_filing_requires_reports_write(client_for, report_body, counts, method, url):
    reader = client_for(scopes=["cases:read"])
    before = counts()
    body = assert_error(_call(reader, method, url, report_body), 403, code="permission_denied")
    assert "reports:write" in body["detail"]
    assert counts() == before


@pytest.mark.parametrize("method, url", ENDPOINTS[2:])
def test_reading_requires_cases_read(client_for, report_body, method, url):
    writer = client_for(scopes=["reports:write"])
    body = assert_error(_call(writer, method, url, report_body), 403, code="permission_denied")
    assert "cases:read" in body["detail"]


def test_a_key_with_unrelated_scopes_can_do_nothing(client_for, report_body):
    other = client_for(scopes=["webhooks:manage", "appeals:write"])
    for method, url in ENDPOINTS:
        assert _call(other, method, url, report_body).status_code == 403


# ---- rate limit ------------------------------------------------------------------


def test_the_rate_limit_answers_429_with_retry_after_and_spares_other_clients(client_for, report_body):
    assert settings.REDIS_URL, "the rate limit is tested against Redis"
    rate, burst = 2, 3
    slow = client_for(rate=rate, burst=burst)
    other = client_for()

    # Posts until three are refused (bounded). How many get through depends on how fast this
    # machine is, so the bound on successes is computed from the time it took, not guessed.
    statuses, retry_after = [], []
    started = time.monotonic()
    for n in range(200):
        response = post_json(slow, REPORTS_URL, report_body(f"post-{n}"))
        statuses.append(response.status_code)
        if response.status_code == 429:
            body = assert_error(response, 429, code="throttled")
            assert body["detail"]
            retry_after.append(response["Retry-After"])
        assert other.get(CASES_URL).status_code == 200  # another client is not slowed down
        if len(retry_after) == 3:
            break
    elapsed = time.monotonic() - started

    assert statuses[:burst] == [201] * burst  # the burst
    assert len(retry_after) == 3, statuses
    assert set(statuses) <= {201, 429}
    assert statuses.count(201) <= burst + rate * elapsed + 1, (statuses, elapsed)
    for value in retry_after:
        assert value.isdigit() and int(value) >= 1, value
    # Refused requests stored nothing.
    assert Report.objects.filter(source=slow.api_client.source).count() == statuses.count(201)

    time.sleep(int(retry_after[-1]))
    assert post_json(slow, REPORTS_URL, report_body("after-waiting")).status_code == 201


def test_the_bucket_lives_in_redis_and_is_shared_across_processes(client_for):
    """A second Python process (as another web worker would) empties the
    client's bucket; this process must then be refused too. (The other order
    is timing-sensitive: starting a process can take longer than the bucket
    needs to refill one token.)"""
    assert settings.REDIS_URL
    # A bucket that refills one token in 100 s: however long the second process takes to exit,
    # nothing refills before this process looks.
    client = client_for(rate=1, burst=2).api_client
    bucket = types.SimpleNamespace(pk=client.pk, rate_per_second=0.01, burst=2)
    code = (
        "import django, types; django.setup();"
        "from integrations import ratelimit;"
        f"c = types.SimpleNamespace(pk='{client.pk}', rate_per_second=0.01, burst=2);"
        "print([ratelimit.hit(c)[0] for _ in range(3)])"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings", "REDIS_URL": settings.REDIS_URL}
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(settings.BASE_DIR), env=env, capture_output=True,
                         text=True, timeout=60)
    allowed_here, wait = ratelimit.hit(bucket)
    assert out.returncode == 0, out.stderr
    assert ast.literal_eval(out.stdout.strip().splitlines()[-1]) == [True, True, False]
    assert allowed_here is False  # a bucket local to this process would still be full
    assert wait >= 1


def test_unauthenticated_requests_do_not_drain_a_clients_bucket(client_for, report_body):
    slow = client_for(rate=1, burst=2)
    anonymous = APIClient()
    for _ in range(5):
        assert anonymous.get(CASES_URL).status_code == 401
    # The whole burst is still there...
    started = time.monotonic()
    assert slow.get(CASES_URL).status_code == 200
    assert slow.get(CASES_URL).status_code == 200
    # ...and it is a real bucket: it runs dry (at 1 token/s; how many more get through depends on
    # how fast this machine is, so the bound comes from the time taken).
    statuses = []
    while 429 not in statuses and len(statuses) < 100:
        statuses.append(slow.get(CASES_URL).status_code)
    elapsed = time.monotonic() - started
    assert statuses[-1] == 429 and set(statuses[:-1]) <= {200}, statuses
    assert len(statuses) - 1 <= elapsed * 1 + 1, (statuses, elapsed)


def test_csrf_protection_does_not_apply_to_key_authenticated_calls(api, report_body):
    http = APIClient(enforce_csrf_checks=True)
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {api.key}")
    assert post_json(http, REPORTS_URL, report_body()).status_code == 201
    assert post_json(http, BATCH_URL, {"reports": [report_body()]}).status_code == 200
    assert_error(post_json(http, "/api/v1/reports/", report_body()), 404)  # the catch-all, not a CSRF 403 page
