"""Adapters check the signature before spending the client's rate tokens, and
answer an unknown client exactly like a known one with a bad signature."""
import hashlib
import hmac
import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from integrations.adapters.services import adapter_config_create

SECRET = "mastodon-generated-secret-0123456789"
BODY = json.dumps({"event": "account.created", "created_at": "2026-01-01T00:00:00.000Z",
                   "object": {"id": "1"}}).encode()


def _post(url, signature=None, body=BODY):
    headers = {"HTTP_X_HUB_SIGNATURE": signature} if signature else {}
    return Client().generic("POST", url, body, content_type="application/json", **headers)


def _sign(body, secret=SECRET):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def platform(make_api_client, policy_book, system_actor):
    """A platform whose key may file reports and read cases, with a small bucket."""
    client, key = make_api_client(name="drain-target", scopes=("reports:write", "cases:read"), rate=1, burst=5)
    adapter_config_create(api_client=client, platform="mastodon", webhook_secret=SECRET, actor=system_actor)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client, api


def test_unsigned_posts_do_not_drain_the_platforms_bucket(platform):
    client, api = platform
    url = f"/api/v1/adapters/mastodon/{client.name}"
    for _ in range(30):
        assert _post(url).status_code == 401
        assert _post(url, signature=_sign(BODY, "wrong-secret-xxxxxxxxxxxx")).status_code == 401
    # The platform's own API calls still have their whole burst.
    assert api.get("/api/v1/cases").status_code == 200


def test_signed_deliveries_do_spend_tokens(platform):
    client, api = platform
    url = f"/api/v1/adapters/mastodon/{client.name}"
    codes = [_post(url, signature=_sign(BODY)).status_code for _ in range(20)]
    assert codes[0] == 202 and 429 in codes  # the limit is still enforced for real traffic


def test_unknown_and_known_but_unsigned_get_the_same_answer(platform, system_actor):
    client, _api = platform
    known = _post(f"/api/v1/adapters/mastodon/{client.name}")
    unknown = _post("/api/v1/adapters/mastodon/no-such-platform")
    signed_unknown = _post("/api/v1/adapters/mastodon/no-such-platform", signature=_sign(BODY))
    for response in (unknown, signed_unknown):
        assert response.status_code == known.status_code == 401
        assert response.json() == known.json()
        assert response.get("WWW-Authenticate") == known.get("WWW-Authenticate")
