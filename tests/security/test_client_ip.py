"""The client address comes from one function (config/client_ip.py) that trusts
X-Forwarded-For only from TRUSTED_PROXIES; the audit trail, the sign-in limiter,
the API's failed-key limiter and /metrics all use it."""
import ipaddress

import pytest
from django.test import Client, override_settings

from audit.models import AuditEvent
from config.client_ip import client_ip_from, parse_networks

PROXIES = parse_networks(["10.0.0.0/8", "fd00::/8"])


@pytest.mark.parametrize("remote, forwarded, expected", [
    # No trusted proxy configured or not from one: the header is ignored, whatever it says.
    ("203.0.113.5", "1.2.3.4", "203.0.113.5"),
    ("203.0.113.5", "10.0.0.1", "203.0.113.5"),
    # From the proxy: the right-most address the proxy did not vouch for.
    ("10.0.0.2", "198.51.100.9", "198.51.100.9"),
    # A client-written (spoofed) entry to the left of the real one buys nothing.
    ("10.0.0.2", "1.2.3.4, 198.51.100.9", "198.51.100.9"),
    ("10.0.0.2", "1.2.3.4, 198.51.100.9, 10.1.2.3", "198.51.100.9"),
    # Garbage in the chain stops the walk at the last trustworthy hop.
    ("10.0.0.2", "198.51.100.9, not-an-ip", "10.0.0.2"),
    ("10.0.0.2", "", "10.0.0.2"),
    ("10.0.0.2", "10.0.0.3, 10.0.0.4", "10.0.0.3"),
    # IPv6, ports and mapped IPv4.
    ("fd00::1", "2001:db8::7", "2001:db8::7"),
    ("::ffff:10.0.0.2", "198.51.100.10:4711", "198.51.100.10"),
    ("fd00::1", "[2001:db8::8]:443", "2001:db8::8"),
])
def test_the_address_is_believed_only_from_trusted_proxies(remote, forwarded, expected):
    assert client_ip_from(remote_addr=remote, forwarded_for=forwarded, trusted=PROXIES) == expected


def test_without_trusted_proxies_the_header_is_never_read():
    assert client_ip_from(remote_addr="10.0.0.2", forwarded_for="198.51.100.9", trusted=[]) == "10.0.0.2"


def test_bad_trusted_proxies_are_refused():
    with pytest.raises(ValueError, match="'10.0.0.300'"):
        parse_networks(["10.0.0.300"])


@override_settings(TRUSTED_PROXY_NETWORKS=PROXIES)
def test_audit_trail_records_the_real_client_address(people):
    Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.33").post(
        "/login/", {"username": "mod1", "password": "x-mod1"})
    event = AuditEvent.objects.filter(action="user.signed_in").latest("id")
    assert event.ip == "198.51.100.33"


def test_a_spoofed_header_without_proxies_is_recorded_as_the_peer(people):
    Client(REMOTE_ADDR="203.0.113.44", HTTP_X_FORWARDED_FOR="127.0.0.1").post(
        "/login/", {"username": "mod1", "password": "x-mod1"})
    assert AuditEvent.objects.filter(action="user.signed_in").latest("id").ip == "203.0.113.44"


def test_metrics_allow_list_cannot_be_spoofed(db, settings):
    settings.METRICS_TOKEN = ""
    assert Client(REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="127.0.0.1").get("/metrics").status_code == 403
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200


def test_metrics_require_the_token_whenever_proxies_are_configured(db, settings):
    """Behind a proxy every request comes from the proxy: an allow-list of
    loopback would admit anyone the proxy forwards."""
    settings.TRUSTED_PROXY_NETWORKS = [ipaddress.ip_network("127.0.0.1/32")]
    settings.METRICS_TOKEN = ""
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 403
    settings.METRICS_TOKEN = "s3cret-token"
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 403
    ok = Client(REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION="Bearer s3cret-token").get("/metrics")
    assert ok.status_code == 200 and b"quorum_degraded_operations_total" in ok.content


@override_settings(TRUSTED_PROXY_NETWORKS=PROXIES, API_FAILED_AUTH_RATE_PER_SECOND=1, API_FAILED_AUTH_BURST=3)
def test_api_key_guessing_is_limited_per_real_address_not_per_proxy(api):
    guesser = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.120",
                     HTTP_AUTHORIZATION="Bearer qrm_000000000000_guess")
    codes = [guesser.get("/api/v1/cases").status_code for _ in range(8)]
    assert codes[0] == 401 and 429 in codes
    # Another address behind the same proxy, with a bad key: its own bucket.
    other = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.121",
                   HTTP_AUTHORIZATION="Bearer qrm_000000000000_guess")
    assert other.get("/api/v1/cases").status_code == 401
    # A platform with a valid key from the guesser's address is not slowed.
    assert api.get("/api/v1/cases", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.120").status_code == 200
