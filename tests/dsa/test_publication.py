"""A decision whose statement of reasons is held is not published — not in
the decision feed, not sent by webhook — until the statement validates;
then it is published once, after everything published before it, so a feed
reader that already paged past the decision's making still receives it."""

import threading

import pytest
from django.db import connections
from django.test import Client
from django.urls import reverse

from audit.context import Actor
from audit.models import AuditEvent
from dsa import vocabulary as v
from dsa.defaults import install_default_dsa_mappings
from dsa.models import PolicyMapping, Statement, StatementState
from dsa.services import statement_correct, statement_rebuild
from integrations.selectors import decisions_for_source_since
from integrations.webhooks import outbox
from reviews.errors import NotAllowed
from reviews.models import Decision, Outcome, Review
from reviews.services import appeal_file, seat_assign, vote_cast
from tests.integrations.conftest import post_json
from tests.integrations.webhook_support import make_endpoint, webhook_settings  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)

FEED = "/api/v1/decisions"
FIX = {"decision_ground": v.GROUND_INCOMPATIBLE, "incompatible_content_ground": "Terms § 3",
       "incompatible_content_explanation": "Harassment is not allowed.", "territorial_scope": ["DE", "AT"]}


@pytest.fixture
def held_policy(workflows, policy_book, settings):
    """The production default (the suite's settings switch the hold off); DSA mappings installed, except for
    harassment: its restricting decisions' statements are held."""
    settings.DSA_HOLD_DECISIONS = True
    install_default_dsa_mappings()
    PolicyMapping.objects.filter(policy__code="harassment").delete()


@pytest.fixture
def decide_via_api(api, people, policy_book):
    """Files a report through the API and has two moderators agree; returns (case id, decision)."""

    def run(external_id, *, policy="spam", outcome="remove_content"):
        response = post_json(api, "/api/v1/reports", {
            "subject": {"kind": "content", "external_id": external_id, "text": "x", "author": {"external_id": "a1"}},
            "policy": policy})
        assert response.status_code == 201, response.content
        case_id = response.json()["case"]["id"]
        review = Review.objects.get(case_id=case_id, state="open")
        for moderator in people["moderators"][:2]:
            seat_assign(review_id=review.pk, moderator=moderator, lead=people["seniors"][0])
            vote_cast(review_id=review.pk, reviewer=moderator, outcome=Outcome.objects.get(code=outcome),
                      policy=policy_book[policy], rationale="internal")
        return case_id, Decision.objects.get(case_id=case_id, is_current=True)

    return run


def _page(api, since=None):
    response = api.get(FEED, {"since": since} if since else {})
    assert response.status_code == 200, response.content
    body = response.json()
    return [item["id"] for item in body["results"]], body["next_cursor"]


def _webhooks(endpoint):
    from integrations.models import WebhookDelivery

    return [(str(d.event.case_id), d.event.type) for d in
            WebhookDelivery.objects.filter(endpoint=endpoint).select_related("event").order_by("id")]


def test_a_held_decision_waits_for_its_statement_then_goes_out_once(api, held_policy, decide_via_api, people,
                                                                    webhook_settings):  # noqa: F811
    endpoint, _ = make_endpoint(api.api_client.source, "http://127.0.0.1:9/hook", ["decision.made"])
    _, cursor = _page(api)  # a reader that started before anything was decided

    held_case, held = decide_via_api("post-held", policy="harassment")
    ok_case, ok = decide_via_api("post-ok")
    statement = Statement.objects.get(decision=held)
    assert statement.state == StatementState.HELD and held.sequence is None and ok.sequence is not None

    seen, cursor = _page(api, cursor)
    assert seen == [str(ok.pk)]  # the held decision is not in the feed ...
    outbox.dispatch()
    assert _webhooks(endpoint) == [(ok_case, "decision.made")]  # ... nor sent
    assert api.get(f"/api/v1/cases/{held_case}").json()["decision"] is None  # nor shown with the case
    assert not AuditEvent.objects.filter(action="decision.published", target_id=str(held.pk)).exists()
    lead = Client()
    lead.force_login(people["seniors"][0])
    waits = "The decision waits too"
    assert waits in lead.get(reverse("console:case", args=[held_case])).content.decode()  # leads see what holds it

    # A lead's correction that still does not validate keeps it held.
    still = statement_correct(statement_id=statement.pk, lead=people["seniors"][0], changes={"territorial_scope": ["US"]})
    assert still.state == StatementState.HELD
    assert _page(api, cursor)[0] == [] and Decision.objects.get(pk=held.pk).sequence is None

    statement_correct(statement_id=statement.pk, lead=people["seniors"][0], changes=FIX)
    held.refresh_from_db()
    assert held.sequence is not None and held.sequence > ok.sequence
    seen, cursor = _page(api, cursor)
    assert seen == [str(held.pk)]  # the reader that paged past it receives it now
    outbox.dispatch()
    assert _webhooks(endpoint) == [(ok_case, "decision.made"), (held_case, "decision.made")]
    assert waits not in lead.get(reverse("console:case", args=[held_case])).content.decode()
    published = AuditEvent.objects.get(action="decision.published", target_id=str(held.pk))
    assert published.data["held"] is True and published.data["sequence"] == held.sequence

    # Correcting the published statement makes a new statement, never a second publication of the decision.
    statement_correct(statement_id=statement.pk, lead=people["seniors"][0], changes={"territorial_scope": ["DE"]})
    assert _page(api, cursor)[0] == []
    outbox.dispatch()
    assert len(_webhooks(endpoint)) == 2
    assert AuditEvent.objects.filter(action="decision.published", target_id=str(held.pk)).count() == 1
    assert [i["id"] for i in api.get(FEED).json()["results"]] == [str(ok.pk), str(held.pk)]


def test_decisions_that_need_no_statement_or_validate_publish_at_once(held_policy, decide_via_api):
    _, none_needed = decide_via_api("post-fine", policy="harassment", outcome="no_violation")
    _, valid = decide_via_api("post-spam")
    assert none_needed.sequence is not None and valid.sequence > none_needed.sequence
    assert not Statement.objects.filter(decision=none_needed).exists()


def test_without_the_hold_the_decision_goes_out_and_only_the_statement_waits(api, held_policy, decide_via_api,
                                                                            settings):
    settings.DSA_HOLD_DECISIONS = False
    _, decision = decide_via_api("post-held", policy="harassment")
    assert Statement.objects.get(decision=decision).state == StatementState.HELD
    assert _page(api)[0] == [str(decision.pk)]


def test_concurrent_publishers_and_a_polling_reader_never_skip_one(api, held_policy, decide_via_api, people):
    """Leads release held decisions from several threads at once while a
    reader polls the feed from its last cursor: it sees each decision
    exactly once and the sequence only grows."""
    held = [decide_via_api(f"post-{i}", policy="harassment")[1] for i in range(4)]
    statements = list(Statement.objects.filter(decision__in=held).values_list("pk", flat=True))
    assert len(statements) == 4 and not decisions_for_source_since(source=api.api_client.source, since=0, limit=10)
    PolicyMapping.objects.create(policy=held[0].policy, decision_ground=v.GROUND_INCOMPATIBLE,
                                 incompatible_content_ground="Terms § 3",
                                 incompatible_content_explanation="Harassment is not allowed.",
                                 territorial_scope=["DE"])
    start, done, failures, seen = threading.Barrier(5), threading.Event(), [], []
    source = api.api_client.source

    def release(index, statement_id):
        try:
            start.wait(30)
            if index % 2:
                statement_rebuild(statement_id=statement_id, lead=people["seniors"][index % 4])
            else:
                statement_correct(statement_id=statement_id, lead=people["seniors"][index % 4], changes=FIX)
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            connections.close_all()

    def read():
        since = 0
        try:
            start.wait(30)
            while True:
                finished = done.is_set()
                page = decisions_for_source_since(source=source, since=since, limit=2)
                seen.extend((d.pk, d.sequence) for d in page)
                since = page[-1].sequence if page else since
                if finished and not page:
                    return
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=release, args=(i, s)) for i, s in enumerate(statements)]
    reader = threading.Thread(target=read)
    for t in [*threads, reader]:
        t.start()
    for t in threads:
        t.join(60)
    done.set()
    reader.join(60)
    assert not failures, failures
    assert sorted(pk for pk, _ in seen) == sorted(d.pk for d in held)  # each once
    sequences = [s for _, s in seen]
    assert sequences == sorted(sequences) and len(set(sequences)) == 4


def test_a_held_decision_replaced_before_publication_is_never_published(api, held_policy, decide_via_api, people):
    case_id, held = decide_via_api("post-held", policy="harassment")
    appeal_file(case_id=case_id, appellant_kind="affected_user", statement="no", actor=Actor.system("platform"))
    review = Review.objects.get(case_id=case_id, state="open")
    for moderator in people["moderators"][2:4]:
        seat_assign(review_id=review.pk, moderator=moderator, lead=people["seniors"][0])
        vote_cast(review_id=review.pk, reviewer=moderator, outcome=Outcome.objects.get(code="no_violation"),
                  policy=held.policy, rationale="fine")
    later = Decision.objects.get(case_id=case_id, is_current=True)
    statement = Statement.objects.get(decision=held)
    assert statement.state == StatementState.SUPERSEDED  # withdrawn: it never reaches the database or the user
    with pytest.raises(NotAllowed):
        statement_correct(statement_id=statement.pk, lead=people["seniors"][0], changes=FIX)
    held.refresh_from_db()
    assert held.sequence is None and _page(api)[0] == [str(later.pk)]
