"""Notices (DSA Art. 16(5) and 17) through GET /api/v1/notices: a receipt to
each identified reporter, the outcome when decided, the statement of
reasons with redress to the affected user in their language; never a
reviewer's rationale; paged by cursor, scoped to the platform."""

import pytest

from dsa import notices
from dsa.defaults import install_default_dsa_mappings
from dsa.models import NoticeTemplate
from dsa.services import dsa_config_save

from .conftest import post_json
from .webhook_support import webhook_settings  # noqa: F401  (fixture)

NOTICES_URL = "/api/v1/notices"
pytestmark = pytest.mark.django_db(transaction=True)


def _body(external_id, *, reporter, language="", author="acct-9"):
    subject = {"kind": "content", "external_id": external_id, "text": "buy now", "author": {"external_id": author}}
    if language:
        subject["language"] = language
    return {"subject": subject, "policy": "spam", "reporter": reporter}


def _poll(api, since=None, page_size=None):
    params = {k: v for k, v in {"since": since, "page_size": page_size}.items() if v}
    response = api.get(NOTICES_URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def test_reporters_and_the_affected_user_get_their_notices(api, client_for, decide, workflows):
    install_default_dsa_mappings()
    for reporter in ({"kind": "user", "external_id": "r1"}, {"kind": "user"}, {"kind": "automated"},
                     {"kind": "trusted_flagger", "external_id": "tf-org"}):
        assert post_json(api, "/api/v1/reports", _body("post-1", reporter=reporter, language="de-AT")).status_code in (
            200, 201)
    notices.dispatch()
    receipts = _poll(api)["results"]
    assert [(n["kind"], n["recipient_external_id"]) for n in receipts] == [("receipt", "r1"), ("receipt", "tf-org")]
    assert receipts[0]["language"] == "en" and "We received your notice" in receipts[0]["subject"]
    cursor = _poll(api)["next_cursor"]

    case_id = api.get("/api/v1/cases").json()["results"][0]["id"]
    decide(case_id, rationale="call +49 170 1234567 – mod says ban again")
    notices.dispatch()
    page = _poll(api, since=cursor)
    kinds = sorted((n["kind"], n["recipient"], n["recipient_external_id"]) for n in page["results"])
    assert kinds == [("outcome", "reporter", "r1"), ("outcome", "reporter", "tf-org"),
                     ("statement", "affected_user", "acct-9")]
    statement = next(n for n in page["results"] if n["kind"] == "statement")
    assert statement["language"] == "de" and "Begründung" in statement["subject"]
    assert "interne Beschwerde" in statement["body"] and statement["redress"]["judicial_redress"] is True
    assert "Wir haben Ihren Inhalt entfernt" in statement["body"] and "Inhalt entfernen" in statement["body"]
    assert statement["redress"]["internal_appeal_until"] and statement["statement_puid"]
    outcome = next(n for n in page["results"] if n["kind"] == "outcome")
    assert outcome["language"] == "en" and "Remove content" in outcome["body"]
    everything = str(_poll(api)["results"])
    assert "ban again" not in everything and "1234567" not in everything
    # nothing is made twice, and another platform sees none of it
    assert notices.dispatch() == 0
    assert _poll(client_for(name="other-platform"))["results"] == []


def test_the_feed_pages_in_order_and_refuses_foreign_cursors(api, workflows):
    for i in range(5):
        post_json(api, "/api/v1/reports", _body(f"p-{i}", reporter={"kind": "user", "external_id": f"r{i}"}))
    notices.dispatch()
    first = _poll(api, page_size=2)
    assert first["has_more"] and len(first["results"]) == 2
    rest = _poll(api, since=first["next_cursor"], page_size=10)
    sequences = [n["sequence"] for n in first["results"] + rest["results"]]
    assert sequences == sorted(sequences) and len(set(sequences)) == 5 and not rest["has_more"]
    decision_cursor = api.get("/api/v1/decisions").json()["next_cursor"]
    response = api.get(NOTICES_URL, {"since": decision_cursor})
    assert response.status_code == 400 and "since" in response.content.decode()


def test_templates_refuse_unknown_placeholders(workflows):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        dsa_config_save(obj=NoticeTemplate(kind="receipt", language="fr", subject="Reçu {reference}",
                                           body="Bonjour {reporter_email}"), actor=notices_actor())
    assert "body" in refused.value.message_dict


def notices_actor():
    from audit.context import Actor

    return Actor.system("tests")


def test_notices_are_webhook_events_too(api, workflows, webhook_settings):  # noqa: F811
    import json

    from integrations.models import WebhookEvent
    from integrations.webhooks import outbox

    from .webhook_support import make_endpoint

    endpoint, _ = make_endpoint(api.api_client.source, "http://127.0.0.1:9/hook", event_types=["notice.created"])
    post_json(api, "/api/v1/reports", _body("w-1", reporter={"kind": "user", "external_id": "r-w"}))
    notices.dispatch()
    assert outbox.dispatch() == {endpoint.pk}
    event = WebhookEvent.objects.get(type="notice.created")
    body = json.loads(event.body)
    assert body["data"]["notice"] == _poll(api)["results"][0] and body["data"]["notice"]["kind"] == "receipt"


HOSTILE_RATIONALES = [
    "reviewer.bob@example.org says ban again",
    "call me: +49 (170) 123-4567",
    "@modbob: this is the third time – ban",
    '<script>alert("x")</script> private note',
]


def test_no_rationale_reaches_a_webhook_notice_or_the_feed(api, workflows, webhook_settings, decide):  # noqa: F811
    rationale = " | ".join(HOSTILE_RATIONALES)
    import json

    from integrations.models import WebhookEvent
    from integrations.webhooks import outbox

    from .webhook_support import make_endpoint

    install_default_dsa_mappings()
    make_endpoint(api.api_client.source, "http://127.0.0.1:9/hook", event_types=["decision.made", "notice.created"])
    post_json(api, "/api/v1/reports", _body("h-1", reporter={"kind": "user", "external_id": "r-h"}))
    case_id = api.get("/api/v1/cases").json()["results"][0]["id"]
    decide(case_id, rationale=rationale)
    notices.dispatch()
    outbox.dispatch()
    bodies = [json.loads(e.body) for e in WebhookEvent.objects.all()]
    assert {b["type"] for b in bodies} == {"decision.made", "notice.created"}
    decision = next(b for b in bodies if b["type"] == "decision.made")["data"]["decision"]
    assert decision["statement"]["state"] == "published"
    outgoing = json.dumps(bodies) + api.get("/api/v1/decisions").content.decode() + json.dumps(_poll(api))
    for fragment in ("example.org", "123-4567", "modbob", "private note", "ban"):
        assert fragment not in outgoing
