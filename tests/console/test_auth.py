"""Sign-in, sign-out, the failed sign-in limit and the security headers."""
import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent


@pytest.fixture(autouse=True)
def _clear_login_counters():
    cache.clear()
    yield
    cache.clear()


def test_sign_in_page_renders_with_strict_headers(db):
    response = Client().get(reverse("console:login"))
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert b'name="csrfmiddlewaretoken"' in response.content


def test_console_pages_need_sign_in(db):
    response = Client().get(reverse("console:my-work"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("console:login"))


def test_sign_in_and_out_are_audited(people):
    client = Client(enforce_csrf_checks=False)
    response = client.post(reverse("console:login"), {"username": "mod1", "password": "x-mod1"})
    assert response.status_code == 302 and response["Location"] == reverse("console:my-work")
    assert client.session.get("_auth_user_id") == str(people["moderators"][0].pk)
    response = client.post(reverse("console:logout"))
    assert response.status_code == 302 and "_auth_user_id" not in client.session
    actions = list(AuditEvent.objects.filter(stream="system", actor_name="mod1").values_list("action", flat=True))
    assert actions == ["user.signed_in", "user.signed_out"]


def test_sign_out_needs_post(people, sign_in):
    client = sign_in(people["moderators"][0])
    assert client.get(reverse("console:logout")).status_code == 405


def test_next_must_stay_on_this_site(people):
    response = Client().post(reverse("console:login") + "?next=https://evil.example/",
                             {"username": "mod1", "password": "x-mod1", "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == reverse("console:my-work")


# The sign-in limiter's tests are in tests/security/test_signin.py.


def test_csrf_is_enforced(people):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("console:login"), {"username": "mod1", "password": "x-mod1"})
    assert response.status_code == 403


def test_user_without_console_role_is_refused(people, sign_in):
    response = sign_in(people["outsider"]).get(reverse("console:my-work"))
    assert response.status_code == 403


def test_language_switch_to_german(people, sign_in):
    client = sign_in(people["moderators"][0])
    response = client.post(reverse("set_language"), {"language": "de", "next": reverse("console:login")})
    assert response.status_code == 302
    page = client.get(reverse("console:login"))
    assert page.status_code in (200, 302)
    page = Client(HTTP_ACCEPT_LANGUAGE="de").get(reverse("console:login"))
    assert '<html lang="de"' in page.content.decode()
