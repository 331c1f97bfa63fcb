"""One sign-in limiter (django-axes) for the console and the admin, keyed by the
normalised user name and the real client address; failed sign-ins audited."""
import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

from access.signin import normalise_username
from audit.models import AuditEvent

LOGIN = "/login/"
ADMIN_LOGIN = "/admin/login/"
PROXY = "10.0.0.2"


def _console(client, name, password):
    return client.post(LOGIN, {"username": name, "password": password})


def _admin(client, name, password):
    return client.post(ADMIN_LOGIN + "?next=/admin/", {"username": name, "password": password, "next": "/admin/"})


def test_names_normalise_as_django_auth_sees_them():
    assert normalise_username("ｍoderator3") == "moderator3"  # full-width m (NFKC)
    assert normalise_username(" Moderator3 ") == "moderator3"
    assert normalise_username("STRAßE") == "strasse"  # case folding, not lower()


@override_settings(AXES_FAILURE_LIMIT=3)
def test_look_alike_name_gets_no_fresh_tries(people):
    """The attack: 3 wrong passwords as mod1, then 3 more as ｍod1 (full-width m,
    which Django's form normalises to mod1), then the right password."""
    client = Client(REMOTE_ADDR="198.51.100.7")
    for _ in range(2):
        assert _console(client, "mod1", "wrong").status_code == 400
    assert _console(client, "ｍod1", "wrong").status_code in (400, 429)
    response = _console(client, "ｍod1", "x-mod1")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert _console(client, "MOD1", "x-mod1").status_code == 429
    assert _console(client, "mod1", "x-mod1").status_code == 429
    assert b"Too many failed sign-ins" in _console(client, "mod1", "x-mod1").content


@override_settings(AXES_FAILURE_LIMIT=3)
def test_wrong_passwords_for_one_name_never_lock_out_another_name(people):
    client = Client(REMOTE_ADDR="198.51.100.8")
    for name in ("ghost1", "ghost2", "ghost3", "mod1", "mod1", "mod1"):
        _console(client, name, "wrong")
    assert _console(client, "mod1", "x-mod1").status_code == 429
    # Same address, other names: unaffected.
    assert _console(Client(REMOTE_ADDR="198.51.100.8"), "mod2", "x-mod2").status_code == 302
    # Same name from another address: unaffected (a guesser cannot lock a colleague out).
    assert _console(Client(REMOTE_ADDR="198.51.100.9"), "mod1", "x-mod1").status_code == 302


@override_settings(AXES_FAILURE_LIMIT=3, TRUSTED_PROXY_NETWORKS=[__import__("ipaddress").ip_network(PROXY)])
def test_proxy_lockout_of_the_whole_team_fails(people):
    """Behind the TLS proxy every request comes from the proxy's address. An
    attacker guessing names that do not exist locks out only their own pairs;
    the team behind the same proxy signs in, and the audit names the real address."""
    attacker = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.66")
    for i in range(10):
        _console(attacker, f"nobody{i}", "wrong")
        _console(attacker, "mod1", "wrong")
    for i, name in enumerate(("mod1", "mod2", "mod3", "senior1")):
        colleague = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"192.0.2.{i + 10}")
        assert _console(colleague, name, "x-" + name).status_code == 302, name
    failed = AuditEvent.objects.filter(action="user.sign_in_failed", data__username="mod1")
    assert failed.count() == 10
    assert set(failed.values_list("ip", flat=True)) == {"203.0.113.66"}


@override_settings(AXES_FAILURE_LIMIT=3)
def test_admin_brute_force_is_limited_like_the_console(people):
    admin = people["admin"]
    admin.is_superuser = True
    admin.save()
    client = Client(REMOTE_ADDR="198.51.100.20")
    for _ in range(30):
        response = _admin(client, "admin1", "guess")
        assert response.status_code in (200, 429)
    response = _admin(client, "admin1", "x-admin1")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert Client(REMOTE_ADDR="198.51.100.20").get("/admin/").status_code == 302
    # The console shares the counter: the same pair is locked there too.
    assert _console(client, "admin1", "x-admin1").status_code == 429
    failed = AuditEvent.objects.filter(action="user.sign_in_failed", data__username="admin1")
    assert failed.filter(data__site="admin").count() == 31  # 30 guesses and the refused right password
    assert failed.filter(data__locked=True).exists()


@override_settings(AXES_FAILURE_LIMIT=3)
def test_success_resets_the_pair_and_is_audited_for_the_admin_site(people):
    admin = people["admin"]
    client = Client(REMOTE_ADDR="198.51.100.30")
    for _ in range(2):
        _admin(client, "admin1", "guess")
    response = _admin(client, "admin1", "x-admin1")
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(admin.pk)
    event = AuditEvent.objects.get(action="user.signed_in", target_id=str(admin.pk))
    assert event.data["site"] == "admin" and event.ip == "198.51.100.30"
    client.logout()
    for _ in range(2):
        _admin(client, "admin1", "guess")
    assert _admin(client, "admin1", "x-admin1").status_code == 302  # the earlier failures were forgotten


@override_settings(AXES_FAILURE_LIMIT=3)
def test_failed_sign_in_audit_never_holds_the_password(people):
    client = Client(REMOTE_ADDR="198.51.100.40")
    _console(client, "mod1", "hunter2-secret")
    _admin(client, "mod1", "hunter2-secret")
    events = AuditEvent.objects.filter(action="user.sign_in_failed")
    assert events.count() == 2
    for event in events:
        assert "hunter2" not in str(event.data) and event.actor_type == "system"
        assert event.data["username"] == "mod1"
    assert not User.objects.filter(password__contains="hunter2").exists()


@pytest.mark.django_db(transaction=True)
@override_settings(AXES_FAILURE_LIMIT=5)
def test_concurrent_guesses_cannot_outrun_the_limit(people):
    """Twenty threads guessing at once: at most the limit plus the number that
    raced past the check get a real password check; none signs in with a wrong one,
    and afterwards the pair is locked even for the right password."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def guess(_):
        try:
            return _console(Client(REMOTE_ADDR="198.51.100.50"), "mod2", "wrong").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(guess, range(20)))
    assert set(codes) <= {400, 429} and 429 in codes
    assert _console(Client(REMOTE_ADDR="198.51.100.50"), "mod2", "x-mod2").status_code == 429
