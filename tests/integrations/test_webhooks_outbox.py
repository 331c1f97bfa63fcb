"""The audit log as outbox: the tail never skips an event that commits late,
is not held back by other databases, turns each kind of audit event into
the documented webhook payload, and respects subscriptions, sources,
pauses and concurrent dispatchers."""

import json
import threading
from datetime import timedelta

import psycopg
import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from audit.context import Actor
from audit.models import AuditEvent
from cases.models import Case
from integrations.models import DeliveryState, WebhookDelivery, WebhookEndpoint, WebhookEvent
from integrations.webhooks import outbox
from integrations.webhooks.services import webhook_endpoint_update
from reviews.models import Outcome, Review
from reviews.services import appeal_file, case_escalate, seat_assign, vote_cast
from reviews.sweeps import sweep_breaches, sweep_warnings

from .webhook_support import ADMIN, make_endpoint, webhook_settings  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True)]

ALL = None  # every event type


@pytest.fixture(autouse=True)
def _settings(webhook_settings):  # noqa: F811
    return webhook_settings


@pytest.fixture
def source(api):
    return api.api_client.source


def deliveries(endpoint):
    return list(WebhookDelivery.objects.filter(endpoint=endpoint).select_related("event").order_by("id"))


def events_of(endpoint):
    """[(case id, type)] of the endpoint's deliveries, in the order they were created."""
    return [(str(d.event.case_id), d.event.type) for d in deliveries(endpoint)]


def test_an_event_that_commits_late_is_not_skipped(source, file_report):
    """T1 inserts its audit event first (lower id) and commits last; T2's event,
    with a higher id, is visible first. A tail by id would move past T1's id
    and never see it. The (xid, id) tail below the watermark waits for T1."""
    endpoint, _ = make_endpoint(source, "http://127.0.0.1:9/hook")
    inserted, release, failure = threading.Event(), threading.Event(), []

    def slow_writer():
        try:
            with transaction.atomic():
                file_report("late-writer")
                inserted.set()
                release.wait(60)
        except Exception as exc:  # pragma: no cover - reported below
            failure.append(exc)
            inserted.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert inserted.wait(60) and not failure, failure
    early = file_report("early-writer")["case"]["id"]
    late_event = AuditEvent.objects.raw(
        "SELECT id, xid FROM audit_auditevent WHERE action = 'case.opened' ORDER BY id")  # only T2's is visible
    visible = list(late_event)
    assert len(visible) == 1 and visible[0].stream == f"case:{early}"

    assert outbox.dispatch() == set()  # held back: T1 is still running with a smaller xid
    assert deliveries(endpoint) == []

    release.set()
    thread.join(60)
    assert not failure, failure
    opened = list(AuditEvent.objects.filter(action="case.opened").order_by("id"))
    assert len(opened) == 2
    late, early_event = opened  # T1's event has the lower id and the lower xid, but committed last
    assert late.id < early_event.id and late.xid < early_event.xid
    assert outbox.dispatch() == {endpoint.pk}
    assert [d.event.audit_event_id for d in deliveries(endpoint)] == [late.id, early_event.id]


def test_a_transaction_in_another_database_does_not_hold_back_the_tail(source, file_report):
    endpoint, _ = make_endpoint(source, "http://127.0.0.1:9/hook")
    settings_dict = connection.settings_dict
    other = psycopg.connect(host=settings_dict["HOST"] or "127.0.0.1", port=settings_dict["PORT"] or 5432,
                            user=settings_dict["USER"], dbname="postgres")
    try:
        other_xid = int(other.execute("SELECT pg_current_xact_id()::text").fetchone()[0])  # stays open
        case_id = file_report("while-another-db-writes")["case"]["id"]
        event = AuditEvent.objects.get(stream=f"case:{case_id}", action="case.opened")
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            xmin = cursor.fetchone()[0]
        assert xmin <= other_xid < event.xid  # plain xmin would wait for the other database
        assert outbox.dispatch() == {endpoint.pk}
        assert events_of(endpoint) == [(case_id, "case.opened")]
    finally:
        other.rollback()
        other.close()


def test_inside_a_transaction_block_the_watermark_is_the_snapshot_xmin(db):
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            xmin = cursor.fetchone()[0]
        assert outbox.watermark() == xmin
    assert outbox.watermark() >= xmin


def _body(delivery):
    return json.loads(delivery.event.body)


def _decide_with(case_id, voters, outcome, policy_book, lead):
    review = Review.objects.get(case_id=case_id, state="open")
    for moderator in voters:
        seat_assign(review_id=review.pk, moderator=moderator, lead=lead)
        vote_cast(review_id=review.pk, reviewer=moderator, outcome=Outcome.objects.get(code=outcome),
                  policy=policy_book["spam"], rationale=f"{outcome}: see the links")


def test_every_event_type_with_its_documented_payload_and_no_reviewer_identities(source, file_report, api, people,
                                                                                policy_book, workflows):
    endpoint, _ = make_endpoint(source, "http://127.0.0.1:9/hook")
    mods, lead = people["moderators"], people["seniors"][0]

    decided = file_report("decided-then-overturned")["case"]["id"]
    _decide_with(decided, mods[:2], "remove_content", policy_book, lead)
    appeal = appeal_file(case_id=decided, appellant_kind="affected_user", appellant_external_id="u-1",
                         statement="satire", actor=Actor.system("tests"))
    _decide_with(decided, mods[2:4], "no_violation", policy_book, lead)

    manual = file_report("escalated-by-hand")["case"]["id"]
    case_escalate(case_id=manual, actor_user=lead, reason="needs legal input (internal note)")

    split = file_report("split")["case"]["id"]
    review = Review.objects.get(case_id=split, state="open")
    for moderator, code in zip(mods[:3], ["remove_content", "label", "no_violation"]):
        seat_assign(review_id=review.pk, moderator=moderator, lead=lead)
        vote_cast(review_id=review.pk, reviewer=moderator, outcome=Outcome.objects.get(code=code),
                  policy=policy_book["spam"], rationale="reasons")

    late = file_report("deadline")["case"]["id"]
    now = timezone.now()
    Review.objects.filter(case_id=late, state="open").update(warn_at=now - timedelta(seconds=2),
                                                             due_at=now - timedelta(seconds=1))
    sweep_warnings(now=now)
    sweep_breaches(now=now)

    assert outbox.dispatch() == {endpoint.pk}
    got = events_of(endpoint)
    assert [t for c, t in got if c == decided] == [
        "case.opened", "decision.made", "appeal.opened", "appeal.decided", "decision.reversed"]
    assert [t for c, t in got if c == manual] == ["case.opened", "case.escalated"]  # once, though two audit events
    assert [t for c, t in got if c == split] == ["case.opened", "case.escalated"]
    assert [t for c, t in got if c == late] == ["case.opened", "case.sla_warning", "case.sla_breached", "case.escalated"]

    by_type = {}
    for delivery in deliveries(endpoint):
        body = _body(delivery)
        assert set(body) == {"id", "type", "created_at", "api_version", "data"}
        assert body["id"] == delivery.event.public_id and body["id"].startswith("evt_")
        assert body["api_version"] == "1" and body["created_at"].endswith("Z")
        assert body["data"]["case"]["id"] == str(delivery.event.case_id)
        assert body["data"]["case"]["url"] == f"https://quorum.test/api/v1/cases/{delivery.event.case_id}"
        for person in [*mods, lead, *people["seniors"]]:
            assert person.username not in delivery.event.body, (person.username, body["type"])
        assert '"reviewers"' not in delivery.event.body and '"decided_by"' not in delivery.event.body
        by_type.setdefault((str(delivery.event.case_id), body["type"]), body)

    listed = {c["id"]: c for c in api.get("/api/v1/cases?page_size=200").json()["results"]}
    opened = by_type[(manual, "case.opened")]["data"]
    assert set(opened) == {"case"} and set(opened["case"]) == set(listed[manual])
    made = by_type[(decided, "decision.made")]["data"]
    assert made["decision"]["outcome"] == "remove_content" and made["decision"]["kind"] == "original"
    reversed_ = by_type[(decided, "decision.reversed")]["data"]
    assert reversed_["decision"]["kind"] == "appeal_overturned"
    assert reversed_["decision"]["supersedes"] == made["decision"]["id"]
    assert reversed_["case"]["decision"]["id"] == reversed_["decision"]["id"]
    appeal_opened = by_type[(decided, "appeal.opened")]["data"]["appeal"]
    assert appeal_opened["id"] == str(appeal.pk) and appeal_opened["decision_id"] == made["decision"]["id"]
    assert appeal_opened["appellant"] == "affected_user" and appeal_opened["appellant_external_id"] == "u-1"
    appeal_decided = by_type[(decided, "appeal.decided")]["data"]
    assert appeal_decided["appeal"]["result"] == "overturned"
    assert appeal_decided["decision"]["id"] == reversed_["decision"]["id"]
    assert by_type[(manual, "case.escalated")]["data"]["escalation"] == {"trigger": "manual"}
    assert "internal note" not in json.dumps(by_type[(manual, "case.escalated")])
    assert by_type[(split, "case.escalated")]["data"]["escalation"] == {"trigger": "split"}
    assert by_type[(late, "case.escalated")]["data"]["escalation"] == {"trigger": "sla_breached"}
    warning = by_type[(late, "case.sla_warning")]["data"]["sla"]
    assert set(warning) == {"warn_at", "due_at", "late"} and warning["late"] is False
    assert set(by_type[(late, "case.sla_breached")]["data"]["sla"]) == {"due_at"}

    # Rendered once: a second endpoint of the source shares the stored events (same ids, same bytes).
    assert WebhookEvent.objects.count() == len(got)


def test_subscriptions_sources_new_paused_and_inactive_endpoints(source, file_report, client_for, decide):
    decisions_only, _ = make_endpoint(source, "http://127.0.0.1:9/a", ["decision.made"])
    paused, _ = make_endpoint(source, "http://127.0.0.1:9/b", ["case.opened"])
    inactive, _ = make_endpoint(source, "http://127.0.0.1:9/c", ["case.opened"])
    other_source = client_for(scopes=("reports:write", "cases:read"), source_name="market")
    foreign, _ = make_endpoint(other_source.api_client.source, "http://127.0.0.1:9/d", ALL)
    WebhookEndpoint.objects.filter(pk=paused.pk).update(paused_at="2026-01-01T00:00:00Z", pause_reason="test")
    webhook_endpoint_update(endpoint_id=inactive.pk, actor=ADMIN, active=False)

    first = file_report("one")["case"]["id"]
    decide(first)
    outbox.dispatch()
    late_comer, _ = make_endpoint(source, "http://127.0.0.1:9/e", ALL)
    second = file_report("two")["case"]["id"]
    outbox.dispatch()

    assert events_of(decisions_only) == [(first, "decision.made")]
    assert events_of(foreign) == []  # another source's cases
    assert events_of(late_comer) == [(second, "case.opened")]  # nothing from before it existed
    assert events_of(paused) == [] and events_of(inactive) == []

    webhook_endpoint_update(endpoint_id=paused.pk, actor=ADMIN, resume=True)
    webhook_endpoint_update(endpoint_id=inactive.pk, actor=ADMIN, active=True)
    third = file_report("three")["case"]["id"]
    outbox.dispatch()
    assert events_of(paused) == [(first, "case.opened"), (second, "case.opened"), (third, "case.opened")]  # the backlog
    assert events_of(inactive) == [(third, "case.opened")]  # inactive time is not made up for


def test_concurrent_dispatchers_create_every_delivery_exactly_once(source, file_report, settings):
    settings.WEBHOOK_DISPATCH_BATCH = 3  # many small steps, so the dispatchers interleave
    endpoints = [make_endpoint(source, f"http://127.0.0.1:9/{i}")[0] for i in range(3)]
    stop, errors = threading.Event(), []

    def dispatcher():
        try:
            while not stop.is_set():
                outbox.dispatch()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=dispatcher) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        cases = [file_report(f"busy-{i}")["case"]["id"] for i in range(25)]
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not errors, errors
    outbox.dispatch()
    for endpoint in endpoints:
        got = events_of(endpoint)
        assert sorted(got) == sorted((c, "case.opened") for c in cases)  # each once, none missing
    assert WebhookDelivery.objects.filter(state=DeliveryState.PENDING).count() == 75
    assert Case.objects.count() == 25
