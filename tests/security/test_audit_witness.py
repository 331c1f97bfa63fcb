"""The witness anchor sink: every checkpoint reaches a real HTTP receiver on
127.0.0.1, signed, in order, retried through failures; what the witness kept
is enough for verify_audit to catch a key holder's rewrite. And
GET /api/v1/audit/head, which platforms poll to keep their own copies."""

import json

import pytest
from rest_framework.test import APIClient

from audit.anchors import WITNESS_SINK
from audit.models import AuditAnchorCursor, AuditCheckpoint
from audit.services import CONFIG_STREAM, audit_checkpoint_create
from audit.verify import verify_audit
from integrations.models import (
    DeliveryState,
    EndpointPurpose,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from integrations.tasks import audit_witness_task, webhook_send_task
from integrations.webhooks import outbox, sender
from integrations.witness import witness_send
from tests.audit.conftest import record
from tests.processes import wait_for
from tests.webhook_receiver import Receiver, Reply, load_verifier

from .test_audit_anchors import event_at, tamper

pytestmark = pytest.mark.django_db

SECRET = "witness-secret-for-the-tests-0123456789abcdef"


@pytest.fixture
def witness(settings, monkeypatch):
    """Short webhook timeouts and retries (the witness is delivered by the
    webhook sender); no kicks to a broker no worker reads."""
    from integrations import tasks

    monkeypatch.setattr(tasks, "kick_dispatch", lambda: None)

    def configure(receiver):
        settings.AUDIT_WITNESS_URL = receiver.url("/witness")
        settings.AUDIT_WITNESS_SECRET = SECRET
        settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
        settings.WEBHOOK_CONNECT_TIMEOUT = 1.0
        settings.WEBHOOK_READ_TIMEOUT = 0.6
        settings.WEBHOOK_LEASE_SECONDS = 5.0
        settings.WEBHOOK_RETRY_BASE_SECONDS = 0.01
        settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS = 0.05
    return configure


def two_checkpoints():
    record(CONFIG_STREAM)
    audit_checkpoint_create()
    record("case:w", action="case.opened", new_stream=True)
    record(CONFIG_STREAM)
    audit_checkpoint_create()
    return list(AuditCheckpoint.objects.order_by("number"))


def cursor_at():
    return AuditAnchorCursor.objects.filter(sink=WITNESS_SINK).values_list("number", flat=True).first()


def witness_deliveries():
    return list(WebhookDelivery.objects.filter(endpoint__purpose=EndpointPurpose.AUDIT_WITNESS).order_by("seq")
                .values_list("seq", "state", "attempts"))


def acknowledged_all(count):
    return (len(witness_deliveries()) == count
            and all(state == DeliveryState.SUCCEEDED for _seq, state, _n in witness_deliveries()))


def test_every_checkpoint_arrives_signed_in_order_and_is_retried_through_failures(witness):
    def flaky(request):  # the first two attempts of every checkpoint fail: 503, then a dropped connection
        if request.attempt == 1:
            return Reply(status=503)
        if request.attempt == 2:
            return Reply(drop=True)
        return Reply(status=200)

    with Receiver(flaky) as receiver:
        witness(receiver)
        checkpoints = two_checkpoints()
        wait_for(lambda: (witness_send(max_seconds=5), acknowledged_all(2))[1], timeout=60,
                 what="the witness to acknowledge both", interval=0.02)
        arrived = receiver.snapshot()
    verify_signature = load_verifier()  # the receiver code docs/webhooks.md shows
    assert [(r.event_id, r.attempt) for r in arrived] == [
        ("audit-checkpoint-1", 1), ("audit-checkpoint-1", 2), ("audit-checkpoint-1", 3),
        ("audit-checkpoint-2", 1), ("audit-checkpoint-2", 2), ("audit-checkpoint-2", 3)]
    for r in arrived:
        assert verify_signature(r.headers["Quorum-Signature"], r.body, SECRET)
        assert not verify_signature(r.headers["Quorum-Signature"], r.body, "another-secret-" + "x" * 30)
        assert r.headers["Quorum-Event-Type"] == "audit.checkpoint"
    bodies = [r.json for r in arrived if r.acknowledged]
    assert [b["checkpoint"]["number"] for b in bodies] == [1, 2]
    assert [b["checkpoint"]["hash"] for b in bodies] == [cp.hash for cp in checkpoints]
    assert {b["type"] for b in bodies} == {"audit.checkpoint"}
    assert cursor_at() == 2
    # The webhook delivery log holds every attempt, as for a platform's endpoint.
    assert list(WebhookAttempt.objects.filter(delivery__endpoint__purpose=EndpointPurpose.AUDIT_WITNESS)
                .order_by("delivery__seq", "number").values_list("delivery__seq", "number", "succeeded")) == [
        (1, 1, False), (1, 2, False), (1, 3, True), (2, 1, False), (2, 2, False), (2, 3, True)]
    assert witness_send() == 0  # nothing left: nothing sent again


def test_a_failing_witness_backs_off_keeps_its_place_and_is_never_given_up(witness, settings):
    with Receiver(lambda request: Reply(status=500)) as receiver:
        witness(receiver)
        settings.WEBHOOK_RETRY_BASE_SECONDS = 3600
        settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS = 3600
        # Rules that would dead-letter a webhook delivery at once and pause its endpoint.
        settings.WEBHOOK_MAX_RETRY_SECONDS = 0
        settings.WEBHOOK_PAUSE_AFTER_FAILURES = 1
        settings.WEBHOOK_PAUSE_AFTER_SECONDS = 0
        two_checkpoints()
        assert witness_send() == 1
        assert witness_send() == 0  # backing off: no second attempt yet, and checkpoint 2 waits behind 1
        assert len(receiver.snapshot()) == 1
    assert witness_deliveries() == [(1, DeliveryState.PENDING, 1), (2, DeliveryState.PENDING, 0)]
    endpoint = WebhookEndpoint.objects.get(purpose=EndpointPurpose.AUDIT_WITNESS)
    assert endpoint.paused_at is None and endpoint.consecutive_failures == 1
    assert WebhookDelivery.objects.get(seq=1, endpoint=endpoint).last_error == "HTTP 500"


def test_the_witness_url_and_secret_come_from_the_settings_not_the_database(witness):
    """Whoever can write the endpoint row cannot redirect the anchors or sign with a secret of their own."""
    with Receiver() as real, Receiver() as attacker:
        witness(real)
        two_checkpoints()
        from integrations.witness import witness_endpoint

        row = witness_endpoint()
        assert row.secret == ""  # never stored
        WebhookEndpoint.objects.filter(pk=row.pk).update(url=attacker.url("/steal"), secret="x" * 40)
        wait_for(lambda: (witness_send(max_seconds=5), acknowledged_all(2))[1], timeout=30, what="both checkpoints")
        assert not attacker.snapshot()
        assert len(real.acknowledged()) == 2
        verify_signature = load_verifier()
        assert all(verify_signature(r.headers["Quorum-Signature"], r.body, SECRET) for r in real.snapshot())


def test_the_celery_task_enqueues_and_nothing_happens_without_a_witness(witness, settings):
    settings.AUDIT_WITNESS_URL = ""
    two_checkpoints()
    assert audit_witness_task.apply().get() == 0
    assert cursor_at() is None and not witness_deliveries()  # the cursor waits for a witness
    with Receiver() as receiver:
        witness(receiver)
        assert audit_witness_task.apply().get() == 2
        assert audit_witness_task.apply().get() == 0  # enqueued once
        assert witness_deliveries() == [(1, DeliveryState.PENDING, 0), (2, DeliveryState.PENDING, 0)]
        # The webhook tick's sender takes them like any endpoint's deliveries.
        endpoint_id = WebhookEndpoint.objects.get(purpose=EndpointPurpose.AUDIT_WITNESS).pk
        assert endpoint_id in sender.endpoints_with_work()
        assert webhook_send_task.apply((str(endpoint_id),)).get() == 2
        assert len(receiver.acknowledged()) == 2
    settings.AUDIT_WITNESS_URL = ""
    from integrations.witness import witness_endpoint

    assert witness_endpoint().active is False  # turned off with the setting


def test_platform_webhooks_never_see_the_witness(witness, make_api_client):
    """The webhook tail ignores the witness endpoint, and a platform's endpoint list does not show it."""
    with Receiver() as receiver:
        witness(receiver)
        two_checkpoints()
        assert witness_send() == 2
        assert outbox.dispatch() == set()
    _client, key = make_api_client(scopes=["webhooks:manage"])
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert http.get("/api/v1/webhooks").json()["results"] == []


def test_what_the_witness_kept_catches_a_key_holders_rewrite(witness, tmp_path):
    with Receiver() as receiver:
        witness(receiver)
        two_checkpoints()
        wait_for(lambda: (witness_send(max_seconds=5), acknowledged_all(2))[1], timeout=30, what="both checkpoints")
        kept = tmp_path / "witness.jsonl"
        kept.write_text("".join(r.body.decode() + "\n" for r in receiver.snapshot()))
    from audit.anchors import read_anchors

    anchors = read_anchors(kept)
    assert [a.number for a in anchors] == [1, 2] and verify_audit(anchors=anchors).ok
    victim = event_at(CONFIG_STREAM, 1)
    tamper([("UPDATE audit_auditevent SET actor_name = 'someone else' WHERE id = %s", [victim.pk])])
    assert verify_audit().ok  # consistent rewrite: nothing in the database betrays it
    result = verify_audit(anchors=read_anchors(kept))
    assert not result.ok and "checkpoint 1 differs from its anchor" in str(result.problems[0])


def test_head_api_serves_the_latest_checkpoint_to_clients_with_the_audit_scope(make_api_client):
    _client, key = make_api_client(scopes=["audit:read"])
    _other, other_key = make_api_client(scopes=["cases:read"])
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert http.get("/api/v1/audit/head").json() == {"checkpoint": None}  # none taken yet
    checkpoints = two_checkpoints()
    response = http.get("/api/v1/audit/head")
    assert response.status_code == 200
    latest = AuditCheckpoint.objects.order_by("-number").first()
    assert latest.number >= checkpoints[-1].number
    assert response.json() == {"checkpoint": json.loads(json.dumps(latest.anchor_record()))}
    assert "heads" not in response.json()["checkpoint"]  # no case ids of anyone
    denied = APIClient()
    denied.credentials(HTTP_AUTHORIZATION=f"Bearer {other_key}")
    assert denied.get("/api/v1/audit/head").status_code == 403
    assert APIClient().get("/api/v1/audit/head").status_code == 401
    schema = APIClient().get("/api/schema/?format=json").json()
    assert set(schema["paths"]["/api/v1/audit/head"]) == {"get"}



def test_the_console_verification_shows_what_the_witness_acknowledged(witness, people):
    from django.test import Client
    from django.urls import reverse

    case_id = "01900000-0000-7000-8000-00000000a11d"
    record(f"case:{case_id}", action="case.opened", new_stream=True)
    checkpoint = audit_checkpoint_create()
    auditor = Client()
    auditor.force_login(people["auditor"])

    def verify():
        return auditor.post(reverse("console:audit-verify", args=[case_id]), HTTP_HX_REQUEST="true").content.decode()

    with Receiver(lambda request: Reply(status=503)) as down:
        witness(down)
        witness_send()
        assert "The witness has not acknowledged any of these checkpoints yet." in verify()
    with Receiver() as receiver:
        witness(receiver)
        wait_for(lambda: (witness_send(max_seconds=5), acknowledged_all(1))[1], timeout=30, what="the checkpoint")
        html = verify()
    assert f"The witness acknowledged checkpoint {checkpoint.number} on" in html
    assert "What the witness kept is not compared here" in html


def test_the_admin_shows_the_witness_but_does_not_edit_or_act_on_it(witness, admin_client):
    from django.urls import reverse

    with Receiver() as receiver:
        witness(receiver)
        two_checkpoints()
        assert witness_send() == 2
        endpoint = WebhookEndpoint.objects.get(purpose=EndpointPurpose.AUDIT_WITNESS)
        listing = admin_client.get(reverse("admin:integrations_webhookendpoint_changelist"))
        assert listing.status_code == 200 and receiver.url("/witness") in listing.content.decode()
        change_url = reverse("admin:integrations_webhookendpoint_change", args=[endpoint.pk])
        page = admin_client.get(change_url)
        assert page.status_code == 200 and 'name="_save"' not in page.content.decode()  # view only
        assert admin_client.post(change_url, {"url": "http://127.0.0.1:1/elsewhere"}).status_code == 403
        admin_client.post(reverse("admin:integrations_webhookendpoint_changelist"),
                          {"action": "deactivate", "_selected_action": [str(endpoint.pk)]})
        endpoint.refresh_from_db()
        assert endpoint.active and endpoint.url == receiver.url("/witness")
        log = admin_client.get(reverse("admin:integrations_webhookdelivery_changelist") +
                               f"?endpoint__id__exact={endpoint.pk}")
        assert log.status_code == 200 and "audit-checkpoint-2" in log.content.decode()


def test_api_writes_do_not_kick_the_webhook_tick_for_the_witness_alone(witness, api, report_body, monkeypatch):
    from integrations import tasks
    from integrations.webhooks import kick

    with Receiver() as receiver:
        witness(receiver)
        two_checkpoints()
        assert witness_send() == 2  # the witness endpoint exists and is active
    kicks = []
    monkeypatch.setattr(tasks, "kick_dispatch", lambda: kicks.append(1))
    monkeypatch.setitem(kick._cache, "at", -1e9)
    assert api.post("/api/v1/reports", report_body(), format="json").status_code == 201
    assert kicks == []


def test_the_witness_acknowledgements_outlive_the_webhook_log_retention(witness, settings):
    from datetime import timedelta

    from django.utils import timezone

    from integrations.tasks import webhook_cleanup_task
    from integrations.witness import witness_acknowledged

    with Receiver() as receiver:
        witness(receiver)
        two_checkpoints()
        wait_for(lambda: (witness_send(max_seconds=5), acknowledged_all(2))[1], timeout=30, what="both checkpoints")
    long_ago = timezone.now() - timedelta(days=settings.WEBHOOK_LOG_RETENTION_DAYS + 10)
    WebhookDelivery.objects.update(delivered_at=long_ago)
    webhook_cleanup_task.apply().get()
    assert [seq for seq, _state, _n in witness_deliveries()] == [1, 2]
    assert set(witness_acknowledged({1, 2})) == {1, 2}
