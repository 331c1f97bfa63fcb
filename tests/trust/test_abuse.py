"""Repeat abusers of the notice system (DSA Art. 23(2)): frequent manifestly
unfounded notices lead to a warning, then a proposed suspension that a lead
confirms; while it runs notices are stored but not processed; after it,
processing resumes. (A lead's decisions: tests/console/test_trust_sanctions.py.)"""

from datetime import timedelta

import pytest

from audit.models import AuditEvent
from cases.models import Case, Report
from trust.abuse import suspension_confirm
from trust.models import HeldNotice, ReporterSanction

from ..integrations.conftest import REPORTS_URL, post_json
from .conftest import decide, run_together

pytestmark = pytest.mark.django_db

ABUSER = {"kind": "user", "external_id": "abuser"}


@pytest.fixture
def limits(settings):
    settings.TRUST_ABUSE_MIN_NOTICES = 3
    settings.TRUST_ABUSE_UNFOUNDED_SHARE = 0.75
    settings.TRUST_ABUSE_SUSPENSION_DAYS = 7
    settings.TRUST_ABUSE_WINDOW_DAYS = 90


def _report(api, external_id, reporter=ABUSER, key=None):
    extra = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return post_json(api, REPORTS_URL, {"subject": {"kind": "content", "external_id": external_id, "text": "x"},
                                        "policy": "spam", "reporter": reporter}, **extra)


def _confirmed(people):
    """A senior confirms the proposed suspension."""
    proposal = ReporterSanction.objects.get(kind="suspension", state="proposed")
    return suspension_confirm(sanction_id=proposal.pk, lead=people["seniors"][0])


def _reported_and_decided(api, people, policy_book, external_id, code="no_violation", reporter=ABUSER):
    response = _report(api, external_id, reporter=reporter)
    assert response.status_code == 201, response.content
    decide(response.json()["case"]["id"], people["moderators"][:2], code, policy_book["spam"])


def test_an_abusive_reporter_is_warned_then_suspended_and_notices_are_held(api, workflows, people, policy_book,
                                                                            limits):
    for n in range(2):
        _reported_and_decided(api, people, policy_book, f"p{n}")
    assert not ReporterSanction.objects.exists()  # 2 decided notices: below the minimum of 3
    _reported_and_decided(api, people, policy_book, "p2")
    warning = ReporterSanction.objects.get()
    assert (warning.kind, warning.notices, warning.unfounded, warning.ends_at) == ("warning", 3, 3, None)
    assert "3 of your 3 notices" in warning.reason and "warning" in warning.reason
    assert _report(api, "p-after-warning").status_code == 201  # a warning does not stop processing

    _reported_and_decided(api, people, policy_book, "p3")
    proposal = ReporterSanction.objects.get(kind="suspension")
    assert (proposal.state, proposal.ends_at, proposal.days) == ("proposed", None, 7)
    assert _report(api, "p-while-proposed").status_code == 201  # a proposal suspends nothing
    suspension = _confirmed(people)
    assert suspension.ends_at == suspension.decided_at + timedelta(days=7)
    assert suspension.ends_at.date().isoformat() in suspension.reason
    events = AuditEvent.objects.filter(action__startswith="reporter.").order_by("id")
    assert [(e.action, e.data["kind"] if "kind" in e.data else None) for e in events] == [
        ("reporter.sanctioned", "warning"), ("reporter.suspension_proposed", "suspension"),
        ("reporter.suspension_confirmed", None)]
    assert events[2].data["statement"] == suspension.reason and events[2].actor_id == str(people["seniors"][0].pk)

    cases, reports = Case.objects.count(), Report.objects.count()
    held = _report(api, "p-held", key="k-1")
    assert held.status_code == 202, held.content
    body = held.json()
    assert body["case"] is None and body["effect"] == "held_reporter_suspended"
    assert body["processing"]["suspended"] is True and "Art. 23(2)" in body["processing"]["reason"]
    assert (Case.objects.count(), Report.objects.count()) == (cases, reports)  # not processed into any case
    notice = HeldNotice.objects.get()
    assert (notice.subject_external_id, notice.sanction_id, notice.reporter_external_id) == ("p-held", suspension.pk,
                                                                                            "abuser")
    assert notice.snapshot["external_id"] == "p-held"  # stored as received: nothing lost
    # A retry with the same key replays; another body with it is refused, nothing stored twice.
    assert _report(api, "p-held", key="k-1").json() == body
    assert _report(api, "p-other", key="k-1").status_code == 409
    assert HeldNotice.objects.count() == 1

    # Other reporters are processed as usual, and so is the abuser once the period is over.
    assert _report(api, "p-held", reporter={"kind": "user", "external_id": "someone"}).status_code == 201
    ReporterSanction.objects.filter(pk=suspension.pk).update(created_at=suspension.created_at - timedelta(days=8),
                                                             ends_at=suspension.ends_at - timedelta(days=8))
    assert _report(api, "p-later").status_code == 201


def test_a_reporter_below_the_share_is_not_sanctioned(api, workflows, people, policy_book, limits):
    _reported_and_decided(api, people, policy_book, "p0", code="remove_content")
    _reported_and_decided(api, people, policy_book, "p1")
    _reported_and_decided(api, people, policy_book, "p2")
    assert not ReporterSanction.objects.exists()  # 2 of 3 unfounded: 0.67 < 0.75
    _reported_and_decided(api, people, policy_book, "p3")
    assert ReporterSanction.objects.get().kind == "warning"  # 3 of 4: 0.75 reaches the share


def test_held_notices_in_a_batch_keep_their_place(api, workflows, people, policy_book, limits):
    for n in range(4):
        _reported_and_decided(api, people, policy_book, f"p{n}")
    _confirmed(people)
    response = post_json(api, "/api/v1/reports/batch", {"reports": [
        {"subject": {"kind": "content", "external_id": "b1"}, "policy": "spam", "reporter": {"kind": "user"}},
        {"subject": {"kind": "content", "external_id": "b2"}, "policy": "spam", "reporter": ABUSER},
        {"subject": {"kind": "content", "external_id": "b3"}, "policy": "spam"},
    ]})
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 202, 201]
    assert results[1]["effect"] == "held_reporter_suspended" and results[1]["case"] is None
    assert HeldNotice.objects.get().subject_external_id == "b2"


def test_an_anonymous_or_automated_reporter_is_never_held(api, workflows, people, policy_book, limits):
    from integrations.services import api_client_update

    from .conftest import ADMIN

    for n in range(4):
        _reported_and_decided(api, people, policy_book, f"p{n}")
    _confirmed(people)
    assert _report(api, "w", reporter={"kind": "user", "external_id": "abuser"}).status_code == 202
    api_client_update(client_id=api.api_client.pk, actor=ADMIN, scopes=["reports:write", "cases:read", "reports:staff"])
    assert _report(api, "x", reporter={"kind": "staff", "external_id": "abuser"}).status_code == 201
    assert _report(api, "y", reporter={"kind": "user"}).status_code == 201


@pytest.mark.django_db(transaction=True)
def test_two_decisions_judging_one_reporter_at_once_take_one_step_each(api, workflows, people, policy_book, limits):
    """Without the per-reporter lock both decisions would see "no sanction yet" and record two warnings."""

    from django.contrib.auth.models import User

    from reviews.models import Outcome, Review
    from reviews.services import seat_assign, vote_cast

    for n in range(2):
        _reported_and_decided(api, people, policy_book, f"p{n}")
    open_cases = [_report(api, f"q{n}").json()["case"]["id"] for n in range(2)]
    lead, (first, second) = User.objects.get(username="admin1"), people["moderators"][:2]
    no_violation = Outcome.objects.get(code="no_violation")
    reviews = [Review.objects.get(case_id=c, state="open").pk for c in open_cases]
    for review_id in reviews:
        seat_assign(review_id=review_id, moderator=first, lead=lead)
        seat_assign(review_id=review_id, moderator=second, lead=lead)
        vote_cast(review_id=review_id, reviewer=first, outcome=no_violation, policy=policy_book["spam"], rationale="")
    def final_vote(review_id):
        return lambda: vote_cast(review_id=review_id, reviewer=second, outcome=no_violation,
                                 policy=policy_book["spam"], rationale="")

    assert not [r for r in run_together([final_vote(r) for r in reviews]) if isinstance(r, Exception)]
    kinds = list(ReporterSanction.objects.order_by("created_at").values_list("kind", flat=True))
    assert kinds == ["warning", "suspension"]


def test_a_platform_adapter_holds_a_suspended_reporters_notices_too(mastodon, policy_book):
    from django.utils import timezone

    from ..integrations.test_mastodon import deliver, load

    now = timezone.now()
    ReporterSanction.objects.create(source_id=mastodon.client.source_id, reporter_external_id="109348237481738422",
                                    kind="suspension", reason="r", notices=10, unfounded=10, created_at=now,
                                    ends_at=now + timedelta(days=7))
    response = deliver(mastodon.url, load("report_created_two_statuses"))
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["status"] for r in results] == [202, 202]
    assert all(r["processing"]["suspended"] and r["held_notice_id"] for r in results)
    assert not Case.objects.exists() and HeldNotice.objects.count() == 2
    assert deliver(mastodon.url, load("report_created_two_statuses")).status_code == 200  # redelivery
    assert HeldNotice.objects.count() == 2  # replayed by idempotency key, nothing stored twice


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_of_a_held_notice_store_it_once(api, limits):

    from django.utils import timezone
    from rest_framework.test import APIClient

    now = timezone.now()
    ReporterSanction.objects.create(source_id=api.api_client.source_id, reporter_external_id="abuser",
                                    kind="suspension", reason="r", notices=10, unfounded=10, created_at=now,
                                    ends_at=now + timedelta(days=7))
    def post():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api.key}")
        response = _report(client, "p-held", key="same-key")
        return response.status_code, response.json().get("held_notice_id")

    results = run_together([post] * 8)
    assert len(results) == 8 and {status for status, _ in results} == {202}
    assert len({notice for _, notice in results}) == 1
    assert HeldNotice.objects.count() == 1


def test_reports_after_the_decision_are_not_counted_as_decided(api, workflows, people, policy_book, limits):
    _reported_and_decided(api, people, policy_book, "p0")
    for _ in range(3):  # about the cleared post again: joins the decided case, not decided by it
        assert _report(api, "p0").json()["effect"] == "post_decision"
    _reported_and_decided(api, people, policy_book, "p1")
    assert not ReporterSanction.objects.exists()  # 2 decided notices, not 5
