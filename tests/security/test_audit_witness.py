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
from integrations.tasks import audit_witness_task
from integrations.witness import witness_send
from tests.audit.conftest import record
from tests.processes import wait_for
from tests.webhook_receiver import Receiver, Reply, load_verifier

from .test_audit_anchors import event_at, tamper

pytestmark = pytest.mark.django_db

SECRET = "witness-secret-for-the-tests-0123456789abcdef"


@pytest.fixture
def witness(settings):
    def configure(receiver):
        settings.AUDIT_WITNESS_URL = receiver.url("/witness")
        settings.AUDIT_WITNESS_SECRET = SECRET
        settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
        settings.AUDIT_WITNESS_RETRY_BASE_SECONDS = 0.01
        settings.AUDIT_WITNESS_RETRY_MAX_SECONDS = 0.05
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
        wait_for(lambda: (witness_send(), cursor_at() == 2)[1], timeout=60, what="the witness to acknowledge both",
                 interval=0.02)
        arrived = receiver.snapshot()
    verify_signature = load_verifier()  # the receiver code docs/webhooks.md shows
    assert [(r.event_id, r.attempt) for r in arrived] == [
        ("audit-checkpoint-1", 1), ("audit-checkpoint-1", 2), ("audit-checkpoint-1", 3),
        ("audit-checkpoint-2", 1), ("audit-checkpoint-2", 2), ("audit-checkpoint-2", 3)]
    for r in arrived:
        assert verify_signature(r.headers["Quorum-Signature"], r.body, SECRET)
        assert not verify_signature(r.headers["Quorum-Signature"], r.body, "another-secret-" + "x" * 30)
    bodies = [r.json for r in arrived if r.acknowledged]
    assert [b["checkpoint"]["number"] for b in bodies] == [1, 2]
    assert [b["checkpoint"]["hash"] for b in bodies] == [cp.hash for cp in checkpoints]
    assert {b["type"] for b in bodies} == {"audit.checkpoint"}
    assert witness_send() == 0  # nothing left: nothing sent again


def test_a_failing_witness_backs_off_and_keeps_its_place(witness, settings):
    with Receiver(lambda request: Reply(status=500)) as receiver:
        witness(receiver)
        settings.AUDIT_WITNESS_RETRY_BASE_SECONDS = 3600
        two_checkpoints()
        assert witness_send() == 0
        assert witness_send() == 0  # backing off: no second attempt yet
        assert len(receiver.snapshot()) == 1
    cursor = AuditAnchorCursor.objects.get(sink=WITNESS_SINK)
    assert (cursor.number, cursor.failures) == (0, 1) and "HTTP 500" in cursor.last_error


def test_the_celery_task_sends_and_nothing_happens_without_a_witness(witness, settings):
    settings.AUDIT_WITNESS_URL = ""
    two_checkpoints()
    assert audit_witness_task.apply().get() == 0
    with Receiver() as receiver:
        witness(receiver)
        assert audit_witness_task.apply().get() == 2
        assert len(receiver.acknowledged()) == 2


def test_what_the_witness_kept_catches_a_key_holders_rewrite(witness, tmp_path):
    with Receiver() as receiver:
        witness(receiver)
        two_checkpoints()
        assert witness_send() == 2
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

