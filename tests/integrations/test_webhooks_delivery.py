"""Sending webhooks to a real HTTP receiver on 127.0.0.1 that fails, drops
connections, times out and answers slowly: everything arrives, signed, in
order per case, duplicated only as at-least-once redelivery of the same
event id. Also: send-time SSRF checks, redirects, response caps, pausing,
dead-lettering and redelivery, and concurrent senders.

The dispatcher and senders run in the test process here (webhook_support.pump);
test_webhooks_workers.py runs them on real Celery workers."""

import threading
import time

import pytest
from django.db import connections
from django.utils import timezone

from audit.models import AuditEvent
from integrations.models import DeliveryState, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from integrations.webhooks import outbox, sender
from integrations.webhooks.services import webhook_endpoint_update, webhook_secret_rotate
from tests.webhook_receiver import Receiver, Reply

from .conftest import APPEALS_URL, post_json
from .webhook_support import (  # noqa: F401
    ADMIN,
    WEBHOOKS_URL,
    all_settled,
    assert_in_order_per_case,
    event_positions,
    healthy_receiver,
    make_endpoint,
    public_dns,
    pump,
    verify,
    webhook_settings,
)

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _settings(webhook_settings):  # noqa: F811
    return webhook_settings


@pytest.fixture
def source(api):
    return api.api_client.source


class Trouble:
    """Gives every event a kind of trouble before it is acknowledged: the kind is
    chosen by the order in which event ids first arrive, cycling through the four
    kinds, so every run exercises each of them (a hash of the random event id
    left one kind out in about one run in twenty)."""

    KINDS = 4

    def __init__(self):
        self.kinds = {}
        self._lock = threading.Lock()

    def kind(self, event_id):
        with self._lock:
            return self.kinds.setdefault(event_id, len(self.kinds) % self.KINDS)

    def __call__(self, request):
        kind, attempt = self.kind(request.event_id), request.attempt
        if kind == 0:
            return Reply(delay=0.15)  # slow but in time
        if kind == 1:
            return Reply(status=500, body=b"oops") if attempt <= 2 else Reply(status=204, body=b"")
        if kind == 2:
            if attempt == 1:
                return Reply(drop=True)  # connection closed without an answer
            if attempt == 2:
                return Reply(hang=1.0)  # longer than the read timeout
            return Reply()
        return Reply(status=503) if attempt == 1 else Reply(delay=0.05, status=202)


def test_every_event_arrives_through_failures_signed_in_order_and_only_duplicated_with_its_id(
        source, file_report, decide, appeals_api, verify):  # noqa: F811
    troubled = Trouble()
    with Receiver(troubled) as receiver:
        everything, everything_secret = make_endpoint(source, receiver.url("/all"))
        decisions, decisions_secret = make_endpoint(source, receiver.url("/decisions"),
                                                    ["decision.made", "decision.reversed", "appeal.decided"])
        cases = [file_report(f"post-{i}")["case"]["id"] for i in range(8)]
        for case_id in cases[:5]:
            decide(case_id)
        for case_id in cases[:2]:
            assert post_json(appeals_api, APPEALS_URL.format(case_id), {"appellant": "affected_user",
                                                                        "statement": "satire"}).status_code == 201
        pump(until=lambda: all_settled() and not outbox.dispatch(), timeout=180, what="every event to be acknowledged")

        requests = receiver.snapshot()
    positions = event_positions()
    expected = {
        "/all": {e.public_id for e in WebhookEvent.objects.all()},
        "/decisions": {e.public_id for e in WebhookEvent.objects.filter(type__in=["decision.made", "appeal.decided"])},
    }
    assert len(expected["/all"]) == 8 + 5 + 2 and len(expected["/decisions"]) == 5
    assert {troubled.kinds[e] for e in expected["/all"]} == {0, 1, 2, 3}, "the script should exercise every kind of trouble"
    bodies = {e.public_id: e.body.encode() for e in WebhookEvent.objects.all()}
    for path, secret in (("/all", everything_secret), ("/decisions", decisions_secret)):
        seen = [r for r in requests if r.path == path]
        acknowledged = {r.event_id for r in seen if r.acknowledged}
        assert acknowledged == expected[path], path  # every event, nothing else
        for r in seen:
            assert r.body == bodies[r.event_id]  # a retry carries the same bytes and id
            assert r.json["id"] == r.event_id == r.headers["Quorum-Event-Id"]
            assert r.headers["Quorum-Event-Type"] == r.json["type"]
            assert r.headers["Content-Type"] == "application/json"
            assert verify(r.headers["Quorum-Signature"], r.body, secret), r.headers["Quorum-Signature"]
            assert not verify(r.headers["Quorum-Signature"], r.body + b" ", secret)
            assert not verify(r.headers["Quorum-Signature"], r.body, secret, now=time.time() + 3600)  # too old
        # At least once: an event comes again only when its earlier attempt was not acknowledged.
        for event_id in expected[path]:
            attempts = [r for r in seen if r.event_id == event_id]
            assert [r.acknowledged for r in attempts][-1] and sum(r.acknowledged for r in attempts) == 1, attempts
        assert_in_order_per_case(seen, {k: v for k, v in positions.items() if k in expected[path]})
    log = WebhookAttempt.objects.filter(succeeded=False)
    errors = set(log.values_list("error", flat=True))
    assert {"HTTP 500", "HTTP 503", "timed out"} <= errors, errors
    assert any("without a response" in e or "dropped" in e for e in errors), errors
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {DeliveryState.SUCCEEDED}


def test_during_a_rotation_both_secrets_sign(source, file_report, healthy_receiver, verify):  # noqa: F811
    receiver = healthy_receiver
    endpoint, old = make_endpoint(source, receiver.url(), ["case.opened"])
    file_report("before-rotation")
    pump(until=lambda: len(receiver.acknowledged()) == 1)
    _, new = webhook_secret_rotate(endpoint_id=endpoint.pk, actor=ADMIN, overlap_seconds=600)
    file_report("during-rotation")
    pump(until=lambda: len(receiver.acknowledged()) == 2)
    webhook_secret_rotate(endpoint_id=endpoint.pk, actor=ADMIN, overlap_seconds=0)
    newest = WebhookEndpoint.objects.get().secret
    file_report("after-rotation")
    pump(until=lambda: len(receiver.acknowledged()) == 3)

    first, during, after = receiver.snapshot()
    assert first.headers["Quorum-Signature"].count("v1=") == 1 and verify(first.headers["Quorum-Signature"], first.body, old)
    header = during.headers["Quorum-Signature"]
    assert header.count("v1=") == 2
    assert verify(header, during.body, new) and verify(header, during.body, old)  # receivers on either secret accept
    assert not verify(header, during.body, "whsec_someone-else")
    assert after.headers["Quorum-Signature"].count("v1=") == 1
    assert verify(after.headers["Quorum-Signature"], after.body, newest)
    assert not verify(after.headers["Quorum-Signature"], after.body, new)


def test_the_address_is_checked_again_at_send_time(source, file_report, healthy_receiver, settings,  # noqa: F811
                                                    public_dns):  # noqa: F811
    receiver = healthy_receiver
    endpoint, _ = make_endpoint(source, receiver.url(), ["case.opened"])
    settings.WEBHOOK_ALLOWED_HOSTS = []  # 127.0.0.1 was allowed when the endpoint was saved, no more
    file_report("refused")
    pump(until=lambda: WebhookDelivery.objects.filter(attempts__gte=2).exists())
    assert receiver.snapshot() == []
    error = WebhookAttempt.objects.first().error
    assert error.startswith("refused: ") and "https" in error

    # DNS rebinding: a public name at creation time that later resolves to the metadata service.
    public_dns["hooks.example.com"] = ["93.184.216.34"]
    rebinding, _ = make_endpoint(source, f"https://hooks.example.com:{receiver.port}/hook", ["case.opened"])
    public_dns["hooks.example.com"] = ["169.254.169.254"]
    file_report("rebinding")
    pump(until=lambda: WebhookDelivery.objects.filter(endpoint=rebinding, attempts__gte=1).exists())
    assert "metadata" in WebhookAttempt.objects.filter(delivery__endpoint=rebinding).first().error
    assert receiver.snapshot() == []


def test_redirects_are_not_followed_responses_are_capped_and_slow_answers_time_out(source, file_report):
    def script(request):
        if request.path == "/redirect":
            return Reply(status=302, headers={"Location": "/elsewhere"}, body=b"")
        if request.path == "/huge":
            return Reply(body=b"x" * 1_000_000)
        if request.path == "/trickle":
            return Reply(trickle=0.05, body=b"y" * 600)  # 30 s to say everything
        return Reply()

    with Receiver(script) as receiver:
        redirect, _ = make_endpoint(source, receiver.url("/redirect"), ["case.opened"])
        huge, _ = make_endpoint(source, receiver.url("/huge"), ["case.opened"])
        trickle, _ = make_endpoint(source, receiver.url("/trickle"), ["case.opened"])
        file_report("one")
        pump(until=lambda: WebhookAttempt.objects.filter(delivery__endpoint=trickle).exists()
             and WebhookAttempt.objects.filter(delivery__endpoint=redirect).exists()
             and WebhookDelivery.objects.filter(endpoint=huge, state="succeeded").exists())
        paths = [r.path for r in receiver.snapshot()]
    assert "/elsewhere" not in paths
    first_redirect = WebhookAttempt.objects.filter(delivery__endpoint=redirect).order_by("id").first()
    assert first_redirect.status_code == 302 and not first_redirect.succeeded
    assert first_redirect.error == "redirect to '/elsewhere' not followed"
    capped = WebhookAttempt.objects.get(delivery__endpoint=huge)
    assert capped.succeeded and len(capped.response_excerpt) == 1024
    slow = WebhookAttempt.objects.filter(delivery__endpoint=trickle).order_by("id").first()
    assert not slow.succeeded and slow.error == "timed out"
    # The read deadline is for the whole answer (connect 1 s + read 0.6 s), not 0.6 s per byte: the
    # trickle would take 30 s. The bound is far from both, so a loaded machine cannot tip it.
    assert slow.duration_ms < 10_000


def test_an_endpoint_that_keeps_failing_is_paused_and_gets_its_backlog_in_order_when_resumed(
        source, file_report, decide, settings):
    settings.WEBHOOK_PAUSE_AFTER_FAILURES = 3
    broken = {"on": True}
    with Receiver(lambda r: Reply(status=500) if broken["on"] else Reply()) as receiver:
        endpoint, _ = make_endpoint(source, receiver.url())
        first = file_report("first")["case"]["id"]
        pump(until=lambda: WebhookEndpoint.objects.get().paused_at is not None, what="the pause")
        paused = WebhookEndpoint.objects.get()
        assert paused.consecutive_failures == 3 and "3 consecutive failed attempts" in paused.pause_reason
        assert "HTTP 500" in paused.pause_reason
        event = AuditEvent.objects.get(action="webhook_endpoint.paused")
        assert event.target_id == str(endpoint.pk) and event.data["consecutive_failures"] == 3
        assert event.actor_type == "system"

        attempts = WebhookAttempt.objects.count()
        decide(first)
        second = file_report("second")["case"]["id"]
        for _ in range(5):  # nothing is attempted while paused, nothing dispatched
            outbox.dispatch()
            for endpoint_id in sender.endpoints_with_work():
                sender.send_endpoint(endpoint_id, max_seconds=1)
        assert WebhookAttempt.objects.count() == attempts
        assert WebhookDelivery.objects.count() == 1

        broken["on"] = False
        webhook_endpoint_update(endpoint_id=endpoint.pk, actor=ADMIN, resume=True)
        pump(until=lambda: len(receiver.acknowledged()) == 3 and all_settled())
        requests = receiver.snapshot()
    assert AuditEvent.objects.filter(action="webhook_endpoint.paused").count() == 1
    got = [(r.json["data"]["case"]["id"], r.json["type"]) for r in requests if r.acknowledged]
    assert [t for c, t in got if c == first] == ["case.opened", "decision.made"]
    assert [t for c, t in got if c == second] == ["case.opened"]
    assert_in_order_per_case(requests, event_positions())
    assert WebhookEndpoint.objects.get().consecutive_failures == 0


def test_dead_letters_do_not_block_later_events_and_can_be_redelivered(source, file_report, decide, client_for,
                                                                       settings):
    settings.WEBHOOK_MAX_RETRY_SECONDS = 0.5
    state = {"fail_opened": True}

    def script(request):
        if request.json["type"] == "case.opened" and state["fail_opened"]:
            return Reply(status=500, body=b"not today")
        return Reply()

    hooks = client_for(scopes=("webhooks:manage",), source_name=source.name)
    with Receiver(script) as receiver:
        endpoint, _ = make_endpoint(source, receiver.url())
        case_id = file_report("doomed")["case"]["id"]
        decide(case_id)
        pump(until=lambda: WebhookDelivery.objects.filter(state="dead").exists() and all_settled(),
             what="a dead letter")
        dead = WebhookDelivery.objects.get(state="dead")
        assert dead.event.type == "case.opened" and dead.attempts >= 2
        # The decision was held back until the earlier event was dead-lettered, then delivered.
        acknowledged = receiver.acknowledged()
        assert [r.json["type"] for r in acknowledged.values()] == ["decision.made"]
        decision_arrival = next(iter(acknowledged.values())).at
        assert all(r.at < decision_arrival for r in receiver.snapshot() if r.event_id == dead.event.public_id)

        log = hooks.get(f"{WEBHOOKS_URL}/{endpoint.pk}/deliveries?state=dead").json()["results"]
        assert [d["id"] for d in log] == [dead.pk]
        assert log[0]["attempt_count"] == dead.attempts == len(log[0]["attempts"])
        assert {a["status_code"] for a in log[0]["attempts"]} == {500}
        assert log[0]["attempts"][0]["response_excerpt"] == "not today"
        assert hooks.get(f"{WEBHOOKS_URL}/{endpoint.pk}").json()["deliveries"] == {"pending": 0, "dead": 1}

        state["fail_opened"] = False
        response = post_json(hooks, f"{WEBHOOKS_URL}/{endpoint.pk}/redeliver-dead", {})
        assert response.json() == {"redelivered": 1}
        pump(until=lambda: all_settled() and dead.event.public_id in receiver.acknowledged())
        # and one succeeded event again, by hand
        done = WebhookDelivery.objects.get(event__type="decision.made")
        assert post_json(hooks, f"{WEBHOOKS_URL}/{endpoint.pk}/deliveries/{done.pk}/redeliver", {}).status_code == 202
        pump(until=lambda: all_settled() and len([r for r in receiver.snapshot() if r.event_id == done.event.public_id]) == 2)
        again = [r for r in receiver.snapshot() if r.event_id == done.event.public_id]
    assert again[0].body == again[1].body  # the same event, the same id
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"succeeded"}


def test_concurrent_senders_never_make_the_same_attempt_twice(source, file_report, settings):
    settings.WEBHOOK_ENDPOINT_CONCURRENCY = 2
    with Receiver() as receiver:
        endpoints = [make_endpoint(source, receiver.url(f"/{i}"), ["case.opened"])[0] for i in range(2)]
        cases = [file_report(f"many-{i}")["case"]["id"] for i in range(30)]
        outbox.dispatch()
        errors = []

        def run():
            try:
                for _ in range(40):
                    for endpoint in endpoints:
                        sender.send_endpoint(endpoint.pk, max_seconds=1)
                        # and the bare claim, racing the senders
                        for claimed in sender.claim(endpoint_id=endpoint.pk, now=timezone.now(), limit=2):
                            sender.attempt(WebhookEndpoint.objects.get(pk=endpoint.pk), claimed)
                    if all_settled():
                        return
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=run) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        requests = receiver.snapshot()
    assert all_settled()
    for index in range(len(endpoints)):
        got = [r.event_id for r in requests if r.path == f"/{index}"]
        assert len(got) == len(set(got)) == len(cases)  # a healthy receiver gets each event exactly once
    numbers = list(WebhookAttempt.objects.values_list("delivery_id", "number"))
    assert len(numbers) == len(set(numbers)) == 60
    assert set(WebhookDelivery.objects.values_list("attempts", flat=True)) == {1}


@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for hooks.test (and a key), made with the openssl command."""
    import shutil
    import subprocess

    if not shutil.which("openssl"):
        pytest.skip("needs the openssl command")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=hooks.test",
                    "-addext", "subjectAltName=DNS:hooks.test", "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    return str(cert), str(key)


def test_https_goes_to_the_checked_address_with_the_name_for_tls_and_host(certificate):
    import socket

    from integrations.webhooks import transport
    from integrations.webhooks.addresses import Target

    with Receiver(tls=certificate) as receiver:
        def target(host):
            return Target(scheme="https", host=host, port=receiver.port, path="/tls?x=1",
                          addresses=((socket.AF_INET, "127.0.0.1"),))

        trusted = transport.tls_context(cafile=certificate[0])
        limits = dict(connect_timeout=2, read_timeout=2, max_response_bytes=4096)
        ok = transport.post(target("hooks.test"), b'{"a":1}', {"Quorum-Event-Id": "evt_tls"}, tls_context=trusted, **limits)
        assert ok.ok and ok.status_code == 200, ok
        request = receiver.snapshot()[0]
        assert request.path == "/tls?x=1" and request.body == b'{"a":1}'
        assert request.headers["Host"] == f"hooks.test:{receiver.port}"
        wrong_name = transport.post(target("other.test"), b"{}", {}, tls_context=trusted, **limits)
        assert not wrong_name.ok and "TLS" in wrong_name.error and "other.test" in wrong_name.error
        untrusted = transport.post(target("hooks.test"), b"{}", {}, **limits)  # the system CAs do not know it
        assert not untrusted.ok and "certificate" in untrusted.error
    assert len(receiver.snapshot()) == 1
