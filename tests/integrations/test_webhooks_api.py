"""/api/v1/webhooks: a platform manages its own endpoints (scope
webhooks:manage); URL safety at creation; the admin; the OpenAPI schema."""

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from audit.models import AuditEvent
from integrations.models import WEBHOOK_EVENT_TYPES, DeliveryState, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from integrations.webhooks import signing

from .conftest import assert_error, post_json
from .webhook_support import WEBHOOKS_URL, public_dns, webhook_settings  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def hooks(client_for, webhook_settings, public_dns):  # noqa: F811
    webhook_settings.WEBHOOK_ALLOWED_HOSTS = []  # these tests are about what an empty allow-list refuses
    public_dns["hooks.example.com"] = ["93.184.216.34"]
    return client_for(scopes=("webhooks:manage",), name="forum-hooks", source_name="forum")


def create(http, **body):
    body.setdefault("url", "https://hooks.example.com/quorum")
    response = post_json(http, WEBHOOKS_URL, body)
    assert response.status_code == 201, response.content
    return response.json()


def patch(http, endpoint_id, body):
    return http.generic("PATCH", f"{WEBHOOKS_URL}/{endpoint_id}", __import__("json").dumps(body),
                        content_type="application/json")


def test_create_shows_the_secret_once_and_records_an_audit_event(hooks):
    out = create(hooks, event_types=["decision.made", "decision.reversed"], description="moderation bot")
    assert out["secret"].startswith("whsec_") and len(out["secret"]) > 40
    assert out["event_types"] == ["decision.made", "decision.reversed"]
    assert out["active"] is True and out["paused"] is False and out["deliveries"] == {"pending": 0, "dead": 0}
    endpoint = WebhookEndpoint.objects.get(pk=out["id"])
    assert endpoint.secret == out["secret"] and endpoint.source.name == "forum"

    again = hooks.get(f"{WEBHOOKS_URL}/{out['id']}").json()
    assert "secret" not in again and again["url"] == "https://hooks.example.com/quorum"
    assert [e["id"] for e in hooks.get(WEBHOOKS_URL).json()["results"]] == [out["id"]]
    event = AuditEvent.objects.get(action="webhook_endpoint.changed")
    assert event.data["change"] == "created" and out["secret"] not in str(event.data)
    assert event.actor_type == "api_client"


def test_event_types_default_to_all_and_unknown_ones_are_400(hooks):
    assert create(hooks)["event_types"] == list(WEBHOOK_EVENT_TYPES)
    assert_error(post_json(hooks, WEBHOOKS_URL, {"url": "https://hooks.example.com/", "event_types": ["case.deleted"]}),
                 400, "event_types.0")
    assert_error(post_json(hooks, WEBHOOKS_URL, {"url": "https://hooks.example.com/", "event_types": []}), 400,
                 "event_types")
    assert_error(post_json(hooks, WEBHOOKS_URL, {"url": "https://hooks.example.com/", "secret": "mine"}), 400, "secret")


@pytest.mark.parametrize("url, reason", [
    ("http://hooks.example.com/quorum", "https"),
    ("https://internal.example.com/", "10.1.2.3, which is a private address"),
    ("https://127.0.0.1/", "loopback"),
    ("https://localhost.example.com/", "127.0.0.1, which is a loopback"),
    ("https://169.254.169.254/latest/meta-data/", "metadata"),
    ("https://metadata.example.com/", "metadata"),
    ("https://[::1]/", "loopback"),
    ("https://[::ffff:10.0.0.1]/", "embeds 10.0.0.1"),
    ("https://[fe80::1]/", "link-local"),
    ("https://224.0.0.251/", "multicast"),
    ("https://100.64.0.1/", "not a public address"),
    ("https://0.0.0.0/", "unspecified"),
    ("https://mixed.example.com/", "10.0.0.7"),  # one good address is not enough: every one must pass
    ("https://nowhere.example.com/", "does not resolve"),
    ("https://user:pw@hooks.example.com/", "credentials"),
    ("ftp://hooks.example.com/", "https"),
    ("https://hooks.example.com/a b", "spaces"),
    ("https://hooks.example.com:99999/", "not a valid URL"),
])
def test_unsafe_urls_are_refused(hooks, public_dns, url, reason):  # noqa: F811
    public_dns.update({"internal.example.com": ["10.1.2.3"], "localhost.example.com": ["127.0.0.1"],
                       "metadata.example.com": ["169.254.169.254"], "mixed.example.com": ["93.184.216.34", "10.0.0.7"]})
    body = assert_error(post_json(hooks, WEBHOOKS_URL, {"url": url}), 400, "url", contains=reason)
    assert body["errors"][0]["code"] in ("unsafe_url", "invalid")
    assert not WebhookEndpoint.objects.exists()


def test_the_allow_list_admits_http_and_private_addresses(hooks, settings, public_dns):  # noqa: F811
    public_dns["receiver.internal"] = ["10.0.0.5"]
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1", "receiver.internal", "192.168.0.0/16"]
    assert create(hooks, url="http://127.0.0.1:8080/hook")["url"] == "http://127.0.0.1:8080/hook"
    assert create(hooks, url="http://receiver.internal/hook")
    assert create(hooks, url="http://192.168.3.4/hook")
    assert_error(post_json(hooks, WEBHOOKS_URL, {"url": "http://10.9.9.9/hook"}), 400, "url", contains="https")


def test_scope_and_ownership(hooks, client_for):
    out = create(hooks)
    reader = client_for(scopes=("cases:read",), source_name="forum")
    assert_error(reader.get(WEBHOOKS_URL), 403, code="permission_denied")
    # Another client of the same source manages the same endpoints (key rotation); another source sees nothing.
    colleague = client_for(scopes=("webhooks:manage",), source_name="forum")
    assert colleague.get(f"{WEBHOOKS_URL}/{out['id']}").status_code == 200
    stranger = client_for(scopes=("webhooks:manage",), source_name="market")
    assert stranger.get(WEBHOOKS_URL).json()["results"] == []
    for response in (stranger.get(f"{WEBHOOKS_URL}/{out['id']}"), patch(stranger, out["id"], {"active": False}),
                     stranger.delete(f"{WEBHOOKS_URL}/{out['id']}"),
                     post_json(stranger, f"{WEBHOOKS_URL}/{out['id']}/rotate-secret", {}),
                     stranger.get(f"{WEBHOOKS_URL}/{out['id']}/deliveries"),
                     post_json(stranger, f"{WEBHOOKS_URL}/{out['id']}/redeliver-dead", {})):
        assert_error(response, 404)
    assert_error(hooks.get(f"{WEBHOOKS_URL}/not-a-uuid"), 404)
    assert WebhookEndpoint.objects.get().active


def test_patch_changes_only_what_is_sent_and_validates_the_url(hooks):
    out = create(hooks)
    response = patch(hooks, out["id"], {"event_types": ["case.opened"], "description": "intake only"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["event_types"] == ["case.opened"] and body["description"] == "intake only"
    assert body["url"] == out["url"]
    assert_error(patch(hooks, out["id"], {"url": "https://127.0.0.1/"}), 400, "url", contains="loopback")
    assert_error(patch(hooks, out["id"], {"paused": True}), 400, "paused")
    assert_error(patch(hooks, out["id"], {"nope": 1}), 400, "nope")
    assert WebhookEndpoint.objects.get().url == out["url"]


def test_reactivation_starts_from_the_present_and_resume_keeps_the_backlog(hooks):
    out = create(hooks)
    endpoint = WebhookEndpoint.objects.get()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(cursor_xid=1, cursor_event_id=1, paused_at=timezone.now(),
                                                          pause_reason="kept failing", consecutive_failures=7)
    response = patch(hooks, out["id"], {"paused": False})
    assert response.status_code == 200 and response.json()["paused"] is False
    endpoint.refresh_from_db()
    assert (endpoint.cursor_xid, endpoint.cursor_event_id) == (1, 1)  # the missed events follow
    assert endpoint.consecutive_failures == 0 and endpoint.pause_reason == ""
    assert AuditEvent.objects.filter(action="webhook_endpoint.changed", data__change="resumed").exists()

    assert patch(hooks, out["id"], {"active": False}).json()["active"] is False
    assert patch(hooks, out["id"], {"active": True}).json()["active"] is True
    endpoint.refresh_from_db()
    assert endpoint.cursor_xid > 1  # inactive time is skipped


def test_delete(hooks):
    out = create(hooks)
    assert hooks.delete(f"{WEBHOOKS_URL}/{out['id']}").status_code == 204
    assert not WebhookEndpoint.objects.exists()
    assert_error(hooks.delete(f"{WEBHOOKS_URL}/{out['id']}"), 404)
    assert AuditEvent.objects.filter(action="webhook_endpoint.changed", data__change="deleted").count() == 1


def test_rotation_returns_a_new_secret_and_keeps_the_old_one_signing_for_the_overlap(hooks):
    out = create(hooks)
    response = post_json(hooks, f"{WEBHOOKS_URL}/{out['id']}/rotate-secret", {"overlap_seconds": 3600})
    assert response.status_code == 200, response.content
    rotated = response.json()
    assert rotated["secret"] != out["secret"] and rotated["previous_secret_expires_at"]
    endpoint = WebhookEndpoint.objects.get()
    assert signing.signing_secrets(endpoint, timezone.now()) == [rotated["secret"], out["secret"]]
    header = signing.header_value(signing.signing_secrets(endpoint, timezone.now()), 1_700_000_000, b"{}")
    assert header.count("v1=") == 2 and header.startswith("t=1700000000,v1=")
    assert hooks.get(f"{WEBHOOKS_URL}/{out['id']}").json()["previous_secret_expires_at"]

    now_only = post_json(hooks, f"{WEBHOOKS_URL}/{out['id']}/rotate-secret", {"overlap_seconds": 0}).json()
    endpoint.refresh_from_db()
    assert signing.signing_secrets(endpoint, timezone.now()) == [now_only["secret"]]
    assert_error(post_json(hooks, f"{WEBHOOKS_URL}/{out['id']}/rotate-secret", {"overlap_seconds": -1}), 400,
                 "overlap_seconds")
    assert AuditEvent.objects.filter(data__change="secret_rotated").count() == 2
    assert not any(s in str(list(AuditEvent.objects.values_list("data", flat=True)))
                   for s in (out["secret"], rotated["secret"], now_only["secret"]))


def test_the_limit_of_endpoints_per_source(hooks, settings):
    settings.WEBHOOK_MAX_ENDPOINTS_PER_SOURCE = 2
    create(hooks)
    create(hooks)
    assert_error(post_json(hooks, WEBHOOKS_URL, {"url": "https://hooks.example.com/3"}), 409, code="webhook_limit_reached")


def _delivery_rows(endpoint, states):
    """Deliveries with attempts, made directly (the sender's behaviour is tested elsewhere)."""
    from django.db import transaction

    from audit.context import Actor
    from audit.services import audit_record
    from integrations.models import WebhookEvent

    rows = []
    for index, state in enumerate(states):
        with transaction.atomic():
            audit_event = audit_record(stream=f"case:00000000-0000-0000-0000-00000000000{index}", action="case.opened",
                                       actor=Actor.system("tests"), target_type="case", target_id=str(index))
        event = WebhookEvent.objects.create(public_id=f"evt_{index}", audit_event=audit_event, type="case.opened",
                                            case_id=f"00000000-0000-0000-0000-00000000000{index}",
                                            stream=audit_event.stream, seq=1, body="{}", created_at=timezone.now())
        now = timezone.now()
        delivery = WebhookDelivery.objects.create(endpoint=endpoint, event=event, stream=event.stream, seq=1, state=state,
                                                  attempts=2, next_attempt_at=now, created_at=now,
                                                  dead_at=now if state == DeliveryState.DEAD else None)
        for number, (status, error) in enumerate([(500, "HTTP 500"), (200 if state == "succeeded" else None, "")], 1):
            WebhookAttempt.objects.create(
                delivery=delivery, number=number, started_at=now, duration_ms=12 * number, status_code=status,
                succeeded=status == 200, error=error or ("" if status else "timed out"),
                response_excerpt="boom" if status == 500 else "")
        rows.append(delivery)
    return rows


def test_the_delivery_log_pages_and_filters(hooks):
    out = create(hooks)
    endpoint = WebhookEndpoint.objects.get()
    rows = _delivery_rows(endpoint, ["succeeded", "dead", "pending", "dead"])
    response = hooks.get(f"{WEBHOOKS_URL}/{out['id']}/deliveries?page_size=3")
    assert response.status_code == 200, response.content
    page = response.json()
    assert [d["id"] for d in page["results"]] == [rows[3].pk, rows[2].pk, rows[1].pk]
    first = page["results"][2]
    assert first["state"] == "dead" and first["event"] == {"id": "evt_1", "type": "case.opened",
                                                           "created_at": first["event"]["created_at"]}
    assert [(a["number"], a["status_code"], a["latency_ms"], a["error"], a["response_excerpt"]) for a in first["attempts"]] == [
        (1, 500, 12, "HTTP 500", "boom"), (2, None, 24, "timed out", "")]
    rest = hooks.get(page["next"]).json()
    assert [d["id"] for d in rest["results"]] == [rows[0].pk] and rest["next"] is None
    assert rest["results"][0]["attempts"][-1]["succeeded"] is True
    dead = hooks.get(f"{WEBHOOKS_URL}/{out['id']}/deliveries?state=dead").json()["results"]
    assert [d["id"] for d in dead] == [rows[3].pk, rows[1].pk]
    assert hooks.get(f"{WEBHOOKS_URL}/{out['id']}").json()["deliveries"] == {"pending": 1, "dead": 2}
    assert_error(hooks.get(f"{WEBHOOKS_URL}/{out['id']}/deliveries?state=lost"), 400, "state")
    assert_error(hooks.get(f"{WEBHOOKS_URL}/{out['id']}/deliveries?cursor=bogus"), 400, "cursor")


def test_redelivery_of_one_event_and_of_every_dead_one(hooks):
    out = create(hooks)
    endpoint = WebhookEndpoint.objects.get()
    done, dead1, pending, dead2 = _delivery_rows(endpoint, ["succeeded", "dead", "pending", "dead"])
    base = f"{WEBHOOKS_URL}/{out['id']}"
    response = post_json(hooks, f"{base}/deliveries/{done.pk}/redeliver", {})
    assert response.status_code == 202 and response.json() == {"redelivered": 1}
    assert post_json(hooks, f"{base}/deliveries/{pending.pk}/redeliver", {}).json() == {"redelivered": 0}
    done.refresh_from_db()
    assert done.state == "pending" and done.first_attempt_at is None and done.attempts == 2  # numbering goes on
    assert post_json(hooks, f"{base}/redeliver-dead", {}).json() == {"redelivered": 2}
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"pending"}
    assert post_json(hooks, f"{base}/redeliver-dead", {}).json() == {"redelivered": 0}
    assert_error(post_json(hooks, f"{base}/deliveries/999999/redeliver", {}), 404)
    assert_error(post_json(hooks, f"{base}/deliveries/abc/redeliver", {}), 404)
    assert AuditEvent.objects.filter(data__change="redelivery").count() == 2


# ---- admin ------------------------------------------------------------------------------------------------

@pytest.fixture
def admin_client(client, db, webhook_settings, public_dns):  # noqa: F811
    public_dns["hooks.example.com"] = ["93.184.216.34"]
    user = User.objects.create_superuser("root", "root@example.com", "pw-root-1234")
    client.force_login(user)
    return client


def test_admin_creates_an_endpoint_through_the_service_and_shows_the_secret_once(admin_client, policy_book):
    from cases.models import Source

    source = Source.objects.create(name="forum")
    response = admin_client.post("/admin/integrations/webhookendpoint/add/", {
        "source": source.pk, "url": "https://hooks.example.com/q", "event_types": ["decision.made", "case.opened"],
        "description": "", "active": "on"})
    assert response.status_code == 200, response.content[:3000]
    assert "errornote" not in response.content.decode(), response.content.decode()[-6000:]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret in response.content.decode()
    assert endpoint.event_types == ["decision.made", "case.opened"]
    assert AuditEvent.objects.filter(action="webhook_endpoint.changed", actor_type="user").exists()
    page = admin_client.get(f"/admin/integrations/webhookendpoint/{endpoint.pk}/change/").content.decode()
    assert endpoint.secret not in page

    refused = admin_client.post("/admin/integrations/webhookendpoint/add/", {
        "source": source.pk, "url": "https://169.254.169.254/", "event_types": ["case.opened"], "active": "on"})
    assert refused.status_code == 200 and "metadata" in refused.content.decode()
    assert WebhookEndpoint.objects.count() == 1

    changed = admin_client.post(f"/admin/integrations/webhookendpoint/{endpoint.pk}/change/", {
        "url": "https://hooks.example.com/other", "event_types": ["case.opened"], "description": "x", "active": "on"})
    assert changed.status_code == 302, changed.content[:3000]
    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.example.com/other" and endpoint.event_types == ["case.opened"]

    rotated = admin_client.post("/admin/integrations/webhookendpoint/", {
        "action": "rotate_secret", "_selected_action": [endpoint.pk]})
    old = endpoint.secret
    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.secret in rotated.content.decode()

    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(paused_at=timezone.now(), pause_reason="x")
    admin_client.post("/admin/integrations/webhookendpoint/", {"action": "resume", "_selected_action": [endpoint.pk]})
    assert WebhookEndpoint.objects.get().paused_at is None
    assert admin_client.get("/admin/integrations/webhookendpoint/").status_code == 200


def test_admin_delivery_log_and_redelivery(admin_client):
    from cases.models import Source

    endpoint = WebhookEndpoint.objects.create(source=Source.objects.create(name="forum"), url="https://hooks.example.com/",
                                              event_types=["case.opened"], secret="whsec_x", created_at=timezone.now(),
                                              updated_at=timezone.now())
    dead, done = _delivery_rows(endpoint, ["dead", "succeeded"])
    listing = admin_client.get("/admin/integrations/webhookdelivery/")
    assert listing.status_code == 200 and "evt_0" in listing.content.decode()
    detail = admin_client.get(f"/admin/integrations/webhookdelivery/{dead.pk}/change/")
    assert detail.status_code == 200 and "HTTP 500" in detail.content.decode()
    admin_client.post("/admin/integrations/webhookdelivery/", {"action": "redeliver", "_selected_action": [dead.pk, done.pk]})
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"pending"}
    WebhookDelivery.objects.filter(pk=dead.pk).update(state="dead")
    admin_client.post("/admin/integrations/webhookendpoint/", {"action": "redeliver_dead",
                                                               "_selected_action": [endpoint.pk]})
    assert WebhookDelivery.objects.get(pk=dead.pk).state == "pending"


# ---- schema -----------------------------------------------------------------------------------------------

def test_the_schema_documents_the_webhook_operations(db):
    from rest_framework.test import APIClient

    schema = APIClient().get("/api/schema/?format=json").json()
    paths = schema["paths"]
    assert set(paths[WEBHOOKS_URL]) == {"get", "post"}
    assert set(paths[WEBHOOKS_URL + "/{endpoint_id}"]) == {"get", "patch", "delete"}
    for suffix in ("/rotate-secret", "/redeliver-dead", "/deliveries/{delivery_id}/redeliver"):
        assert set(paths[WEBHOOKS_URL + "/{endpoint_id}" + suffix]) == {"post"}
    assert set(paths[WEBHOOKS_URL + "/{endpoint_id}/deliveries"]) == {"get"}
    created = paths[WEBHOOKS_URL]["post"]["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
    assert "secret" in schema["components"]["schemas"][created.rsplit("/", 1)[-1]]["properties"]
    for path, operations in paths.items():
        if path.startswith(WEBHOOKS_URL):
            for operation in operations.values():
                assert operation.get("security") and {"401", "403"} <= set(operation["responses"]), path


# ---- the kick ---------------------------------------------------------------------------------------------

def test_api_writes_kick_the_dispatcher_when_endpoints_exist(hooks, api, report_body, monkeypatch):
    from integrations import tasks
    from integrations.webhooks import kick

    kicks = []
    monkeypatch.setattr(tasks, "kick_dispatch", lambda: kicks.append(1))
    monkeypatch.setitem(kick._cache, "at", -1e9)
    assert post_json(api, "/api/v1/reports", report_body("no-endpoint-yet")).status_code == 201
    assert kicks == []  # nobody listens: no kick
    create(hooks)
    monkeypatch.setitem(kick._cache, "at", -1e9)
    assert post_json(api, "/api/v1/reports", report_body("with-endpoint")).status_code == 201
    assert api.get("/api/v1/cases").status_code == 200  # reads do not kick
    assert_error(post_json(api, "/api/v1/reports", {"subject": {}}), 400)  # nor failed writes
    assert kicks == [1]  # the report


def test_a_kick_is_debounced_and_never_blocks_or_fails_the_caller(monkeypatch):
    import threading

    from integrations import tasks

    published, release = [], threading.Event()

    def apply_async(**kwargs):
        published.append(kwargs)
        release.wait(5)
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.webhook_tick_task, "apply_async", apply_async)
    monkeypatch.setitem(tasks._kick, "last", 0.0)
    tasks.kick_dispatch()
    tasks.kick_dispatch()  # while the first is still being published: dropped
    release.set()
    for thread in [t for t in threading.enumerate() if t.name == "webhook-kick"]:
        thread.join(5)
    assert len(published) == 1 and published[0]["retry"] is False
    assert tasks._kick["busy"] is False


def test_the_cleanup_removes_old_finished_deliveries_and_keeps_the_rest(hooks, settings):
    from datetime import timedelta

    from integrations.models import WebhookEvent
    from integrations.tasks import webhook_cleanup_task

    create(hooks)
    endpoint = WebhookEndpoint.objects.get()
    old_done, old_dead, old_pending, new_done = _delivery_rows(endpoint, ["succeeded", "dead", "pending", "succeeded"])
    long_ago = timezone.now() - timedelta(days=settings.WEBHOOK_LOG_RETENTION_DAYS + 1)
    WebhookDelivery.objects.filter(pk__in=[old_done.pk, old_dead.pk, old_pending.pk]).update(
        delivered_at=long_ago, dead_at=long_ago, created_at=long_ago)
    WebhookDelivery.objects.filter(pk=new_done.pk).update(delivered_at=timezone.now())
    WebhookEvent.objects.update(created_at=long_ago)
    assert webhook_cleanup_task() == 2
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {old_pending.pk, new_done.pk}
    assert not WebhookAttempt.objects.filter(delivery_id__in=[old_done.pk, old_dead.pk]).exists()
    assert WebhookEvent.objects.count() == 2  # the events still referred to stay
