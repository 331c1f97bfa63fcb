"""The suspension check of a single report rides on intake's first statement
(cases.services.IntakeGuard) instead of a query before the transaction: a
suspended reporter's notice must still be held with nothing of the intake
transaction kept (not even the subject it upserted), and an ordinary
reporter's report must not pay a round trip for the check."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from audit.verify import verify_audit
from cases.models import Case, Report, Subject
from trust.models import HeldNotice, ReporterSanction

from ..integrations.conftest import REPORTS_URL, post_json

pytestmark = pytest.mark.django_db


def _suspend(api, reporter, ends_in=timedelta(days=7)):
    now = timezone.now()
    return ReporterSanction.objects.create(source_id=api.api_client.source_id, reporter_external_id=reporter,
                                           kind="suspension", reason="r", notices=10, unfounded=10, created_at=now,
                                           ends_at=now + ends_in)


def _report(api, external_id, reporter, **headers):
    return post_json(api, REPORTS_URL, {
        "subject": {"kind": "content", "external_id": external_id, "text": "x",
                    "author": {"external_id": f"author-of-{external_id}"}},
        "policy": "spam", "reporter": {"kind": "user", "external_id": reporter}}, **headers)


def test_a_suspended_reporters_notice_is_held_and_the_rolled_back_intake_keeps_nothing(api, workflows):
    _suspend(api, "abuser")
    events = AuditEvent.objects.count()
    response = _report(api, "new-post", "abuser", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 202, response.content
    assert response.json()["effect"] == "held_reporter_suspended"
    # the guarded statement upserted the author and the post before the guard was read: both rolled back
    assert not Subject.objects.filter(external_id__in=["new-post", "author-of-new-post"]).exists()
    assert (Case.objects.count(), Report.objects.count()) == (0, 0)
    assert AuditEvent.objects.filter(action="notice.held").count() == 1
    assert AuditEvent.objects.count() == events + 1
    assert HeldNotice.objects.get().subject_external_id == "new-post"
    assert _report(api, "new-post", "abuser", HTTP_IDEMPOTENCY_KEY="k-1").json() == response.json()  # replay
    assert HeldNotice.objects.count() == 1
    assert verify_audit().ok


def test_an_ended_suspension_or_another_sources_does_not_hold(api, workflows, make_api_client):
    _suspend(api, "was-abuser", ends_in=timedelta(seconds=-1))
    other, _key = make_api_client()
    assert other.source_id != api.api_client.source_id
    now = timezone.now()
    ReporterSanction.objects.create(source_id=other.source_id, reporter_external_id="abuser-elsewhere",
                                    kind="suspension", reason="r", notices=10, unfounded=10, created_at=now,
                                    ends_at=now + timedelta(days=1))
    assert _report(api, "p1", "was-abuser").status_code == 201
    assert _report(api, "p2", "abuser-elsewhere").status_code == 201
    assert not HeldNotice.objects.exists()


def test_only_a_suspension_a_lead_confirmed_and_did_not_lift_holds(api, workflows):
    # Art. 23(2): a proposal holds nothing until a lead confirms it; a lifted one holds nothing any more.
    for reporter, state in (("proposed-only", "proposed"), ("lifted-early", "lifted"), ("rejected", "rejected")):
        sanction = _suspend(api, reporter)
        sanction.state = state
        sanction.save(update_fields=["state"])
        assert _report(api, f"post-by-{reporter}", reporter).status_code == 201, state
    assert not HeldNotice.objects.exists()
    _suspend(api, "confirmed")
    assert _report(api, "post-by-confirmed", "confirmed").status_code == 202


def test_an_ordinary_reporter_pays_no_separate_suspension_query(api, workflows):
    _suspend(api, "abuser")
    with CaptureQueriesContext(connection) as captured:
        assert _report(api, "p1", "someone").status_code == 201
    sanction_table = ReporterSanction._meta.db_table
    alone = [q["sql"] for q in captured.captured_queries
             if sanction_table in q["sql"] and not q["sql"].lstrip().upper().startswith("WITH")]
    assert alone == []
    assert any(sanction_table in q["sql"] for q in captured.captured_queries)  # asked in the subject upsert
