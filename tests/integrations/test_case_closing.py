"""The auto-close sweep: a decided case closes once its decision reached every
subscribed webhook endpoint (a real HTTP receiver on 127.0.0.1) and its
appeal window passed unused; idempotent when run twice or concurrently."""

import threading
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection

from audit.models import AuditEvent
from audit.verify import verify_audit
from cases.models import Case
from integrations.models import DeliveryState, WebhookDelivery, WebhookEvent
from reviews.closing import sweep_closures
from reviews.tasks import sweep_closures_task
from tests.webhook_receiver import Receiver, Reply

from .conftest import REPORTS_URL, post_json
from .webhook_support import make_endpoint, pump, webhook_settings  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _settings(webhook_settings):  # noqa: F811
    return webhook_settings


def _decided(api, report_body, decide, external_id):
    response = post_json(api, REPORTS_URL, report_body(external_id, "spam"))
    case_id = response.json()["case"]["id"]
    assert decide(case_id, "no_violation") is not None
    return case_id


def _past_window(case_id):
    return Case.objects.get(pk=case_id).decided_at + timedelta(days=django_settings.APPEAL_WINDOW_DAYS, minutes=1)


def test_a_decision_not_yet_acknowledged_keeps_the_case_decided_until_it_is(api, report_body, decide, workflows):
    source = api.api_client.source
    replies = {"status": 503}
    with Receiver(lambda request: Reply(status=replies["status"])) as receiver:
        endpoint, _secret = make_endpoint(source, receiver.url(), event_types=["decision.made"])
        case_id = _decided(api, report_body, decide, "acct-hook")
        later = _past_window(case_id)
        pump(until=lambda: WebhookDelivery.objects.filter(endpoint=endpoint, attempts__gte=1).exists(),
             what="a first failed attempt")
        assert sweep_closures(now=later) == 0  # failing endpoint: not delivered
        assert Case.objects.get(pk=case_id).state == "decided"
        replies["status"] = 200
        pump(until=lambda: WebhookDelivery.objects.filter(endpoint=endpoint, state=DeliveryState.SUCCEEDED,
                                                          event__type="decision.made").exists(),
             what="the decision's delivery")
    assert sweep_closures(now=later) == 1
    assert Case.objects.get(pk=case_id).state == "closed"
    assert WebhookEvent.objects.filter(case_id=case_id, type="decision.made").exists()


def test_concurrent_sweeps_close_each_case_once(api, report_body, decide, workflows):
    case_ids = [_decided(api, report_body, decide, f"acct-{i}") for i in range(6)]
    later = max(_past_window(c) for c in case_ids)
    counts, errors = [], []
    barrier = threading.Barrier(3)

    def sweep():
        try:
            barrier.wait(timeout=60)
            counts.append(sweep_closures(now=later, batch_size=2))
        except Exception as exc:  # asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not errors, errors
    assert sum(counts) == 6
    assert set(Case.objects.filter(pk__in=case_ids).values_list("state", flat=True)) == {"closed"}
    assert AuditEvent.objects.filter(action="case.state_changed", data__trigger="auto_close").count() == 6
    # the beat task finds nothing left to do
    assert sweep_closures_task() == 0
    assert verify_audit().ok
