"""G1 scenarios: the life of a case after a decision (re-review rules,
post-decision reports, the auto-close sweep) and re-routing an open case to a
more severe workflow; through the REST API on PostgreSQL."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from audit.context import Actor
from audit.models import AuditEvent
from audit.verify import verify_audit
from cases.errors import DomainError
from cases.models import Case, Policy, Report, RereviewRule
from cases.selectors import invalidate_configuration_cache
from reviews.closing import sweep_closures
from reviews.models import Decision, Outcome, Review, Seat
from reviews.services import claim_next, seat_assign, vote_cast

from .conftest import CASES_URL, DECISIONS_URL, REPORTS_URL, post_json


def report(api, report_body, external_id="acct-1", policy="spam", reporter=None, text="buy now", status=None):
    body = report_body(external_id, policy)
    body["subject"]["text"] = text
    if reporter is not None:
        body["reporter"] = {"kind": reporter[0], "external_id": reporter[1]}
    response = post_json(api, REPORTS_URL, body)
    assert response.status_code in ((200, 201) if status is None else (status,)), response.content
    return response.json()


@pytest.fixture
def decided_spam(api, report_body, decide, workflows):
    """A spam case decided "no violation" by two moderators (Standard workflow)."""
    body = report(api, report_body, reporter=("user", "first"))
    case_id = body["case"]["id"]
    decision = decide(case_id, "no_violation")
    assert decision is not None and Case.objects.get(pk=case_id).state == "decided"
    return case_id, decision


@pytest.fixture
def flaggers(api, policy_book):
    """The trusted flaggers these scenarios use, registered (trust) as identities vouched for by the test platform:
    an unregistered claim is a user report."""
    from cases.models import Source
    from trust.flaggers import flagger_save
    from trust.models import TrustedFlagger

    source = Source.objects.get(pk=api.api_client.source_id)
    flagger_save(flagger=TrustedFlagger(name="test flaggers"), actor=Actor.system("tests"),
                 expertise=list(policy_book.values()),
                 identities=[(source, name) for name in ("hotline-1", "tf", "tf-2", "tf-9")])


def active_review(case_id):
    return Review.objects.select_related("stage__version__workflow").get(case_id=case_id, state__in=["open", "on_hold"])


def test_a_trusted_flaggers_child_safety_report_after_a_spam_clearance_reaches_a_reviewer(
        api, report_body, decided_spam, people, flaggers):
    case_id, cleared = decided_spam
    body = report(api, report_body, policy="child_safety", reporter=("trusted_flagger", "hotline-1"))
    assert body["effect"] == "reopened_review" and body["case"]["id"] == case_id
    assert body["case"]["state"] == "open"
    review = active_review(case_id)
    # routed by the rules as they are now: child_safety goes to the child-safety workflow, with a fresh SLA
    assert review.stage.version.workflow.slug == "child-safety"
    assert review.follows_decision_id == cleared.pk
    assert review.due_at > timezone.now() + timedelta(minutes=30)
    reopened = AuditEvent.objects.get(action="case.state_changed", stream=f"case:{case_id}", data__trigger="rereview")
    assert reopened.data["from"] == "decided" and reopened.data["to"] == "open"
    assert reopened.data["reasons"] == ["more_severe", "trusted_flagger"]
    assert reopened.data["follows_decision"] == str(cleared.pk)
    # a senior reviewer gets it
    seat = claim_next(moderator=people["seniors"][0], queue=Case.objects.get(pk=case_id).queue)
    assert seat is not None and seat.review_id == review.pk
    # the new decision supersedes the clearance; the platform sees it in the feed
    for senior in people["seniors"][:2]:
        if not Seat.objects.filter(review=review, moderator=senior).exists():
            seat_assign(review_id=review.pk, moderator=senior, lead=people["admin"])
        vote_cast(review_id=review.pk, reviewer=senior, outcome=Outcome.objects.get(code="remove_content"),
                  policy=Policy.objects.get(code="child_safety"), rationale="exploitative image")
    approval = active_review(case_id)  # the child-safety workflow's four-eyes stage
    approver = people["seniors"][2]
    seat_assign(review_id=approval.pk, moderator=approver, lead=people["admin"])
    vote_cast(review_id=approval.pk, reviewer=approver, approved=True, rationale="agreed")
    current = Decision.objects.get(case_id=case_id, is_current=True)
    assert current.kind == "rereview" and current.supersedes_id == cleared.pk
    feed = api.get(DECISIONS_URL).json()
    entries = {e["id"]: e for e in feed["results"]}
    assert entries[str(current.pk)]["supersedes"] == str(cleared.pk)
    assert entries[str(current.pk)]["kind"] == "rereview"
    assert verify_audit().ok


def test_five_new_distinct_reporters_reopen_but_four_do_not(api, report_body, decided_spam):
    from signals.models import ReporterReputation

    case_id, _ = decided_spam
    # G4: only reporters with a decided record count (fresh accounts are discounted; tests/signals).
    ReporterReputation.objects.bulk_create([
        ReporterReputation(source=api.api_client.source, reporter_kind="user", reporter_key=f"new-{i}", upheld=3,
                           rejected=1, updated_at=timezone.now()) for i in range(5)])
    # the reporter whose report was judged does not count again
    assert report(api, report_body, reporter=("user", "first"))["effect"] == "post_decision"
    for i in range(4):
        assert report(api, report_body, reporter=("user", f"new-{i}"))["effect"] == "post_decision"
        assert not Review.objects.filter(case_id=case_id, state="open").exists()
    # anonymous reports cannot be told apart and do not count
    for _ in range(3):
        assert report(api, report_body)["effect"] == "post_decision"
    case = Case.objects.get(pk=case_id)
    assert case.state == "decided" and case.post_decision_report_count == 8
    detail = api.get(f"{CASES_URL}/{case_id}").json()
    assert detail["state"] == "decided" and detail["post_decision_report_count"] == 8 and detail["reopen_count"] == 0
    body = report(api, report_body, reporter=("user", "new-4"))
    assert body["effect"] == "reopened_review"
    assert active_review(case_id).stage.version.workflow.slug == "standard"
    event = AuditEvent.objects.get(action="case.state_changed", stream=f"case:{case_id}", data__trigger="rereview")
    assert event.data["reasons"] == ["new_reporters"]


def test_the_same_reporter_reporting_twenty_times_never_reopens(api, report_body, decided_spam):
    case_id, _ = decided_spam
    for _ in range(20):
        assert report(api, report_body, reporter=("user", "persistent"))["effect"] == "post_decision"
    case = Case.objects.get(pk=case_id)
    assert case.state == "decided" and case.post_decision_report_count == 20 and case.reopen_count == 0
    assert not Review.objects.filter(case_id=case_id, state__in=["open", "on_hold"]).exists()
    assert AuditEvent.objects.filter(stream=f"case:{case_id}", action="report.filed",
                                     data__post_decision=True).count() == 20


def test_a_trusted_flagger_whose_report_was_judged_cannot_reopen_by_repeating_it(api, report_body, decide, workflows,
                                                                                 flaggers):
    case_id = report(api, report_body, "acct-2", reporter=("trusted_flagger", "tf"))["case"]["id"]
    decide(case_id, "no_violation")
    for _ in range(3):
        assert report(api, report_body, "acct-2", reporter=("trusted_flagger", "tf"))["effect"] == "post_decision"
    # another flagger, not yet heard, re-opens
    assert report(api, report_body, "acct-2", reporter=("trusted_flagger", "tf-2"))["effect"] == "reopened_review"


def test_changed_content_reopens_and_unchanged_content_does_not(api, report_body, decided_spam):
    case_id, _ = decided_spam
    assert report(api, report_body, reporter=("user", "x1"), text="buy now")["effect"] == "post_decision"
    body = report(api, report_body, reporter=("user", "x2"), text="buy now, new scam link")
    assert body["effect"] == "reopened_review"
    event = AuditEvent.objects.get(action="case.state_changed", stream=f"case:{case_id}", data__trigger="rereview")
    assert event.data["reasons"] == ["content_changed"]


def test_an_admins_rule_turns_conditions_off_per_policy(api, report_body, decided_spam, policy_book, flaggers):
    case_id, _ = decided_spam
    RereviewRule.objects.create(policy=policy_book["child_safety"], on_more_severe=False, on_trusted_flagger=False,
                                on_content_change=False, new_reporters=0)
    invalidate_configuration_cache()
    body = report(api, report_body, policy="child_safety", reporter=("trusted_flagger", "tf-9"))
    assert body["effect"] == "post_decision"
    assert Case.objects.get(pk=case_id).state == "decided"


def test_a_spam_case_on_standard_moves_to_child_safety_when_a_child_safety_report_arrives(
        api, report_body, workflows, people):
    body = report(api, report_body, reporter=("user", "u1"))
    case_id = body["case"]["id"]
    old = active_review(case_id)
    assert old.stage.version.workflow.slug == "standard"
    moderator = people["moderators"][0]
    seat = claim_next(moderator=moderator, queue=Case.objects.get(pk=case_id).queue)
    assert seat.review_id == old.pk
    vote_cast(review_id=old.pk, reviewer=moderator, outcome=Outcome.objects.get(code="no_violation"),
              policy=Policy.objects.get(code="spam"), rationale="looks fine")
    second = people["moderators"][1]
    seat_assign(review_id=old.pk, moderator=second, lead=people["seniors"][0])
    before = Case.objects.get(pk=case_id)

    body = report(api, report_body, policy="child_safety", reporter=("user", "u2"))
    assert body["effect"] == "rerouted_case"
    old.refresh_from_db()
    assert old.state == "cancelled" and "superseded" in old.close_reason
    new = active_review(case_id)
    assert new.stage.version.workflow.slug == "child-safety"
    assert new.due_at <= timezone.now() + timedelta(hours=1, minutes=1)
    case = Case.objects.get(pk=case_id)
    assert case.priority > before.priority and case.max_severity == 5 and case.state == "open"
    assert new.priority == case.priority
    # the holder of the open seat is told; the vote already cast stays in the audit trail
    notice = AuditEvent.objects.get(action="review.seat_released", stream=f"case:{case_id}", data__trigger="rerouted")
    assert notice.data["moderator_id"] == second.pk
    assert Seat.objects.get(review=old, moderator=second).state == "released"
    assert AuditEvent.objects.filter(action="vote.cast", stream=f"case:{case_id}", target_id=str(old.pk)).exists()
    routed = AuditEvent.objects.get(action="case.routed", stream=f"case:{case_id}")
    assert routed.data["from_workflow"] == "standard" and routed.data["to_workflow"] == "child-safety"
    # the released holder's vote on the superseded review is refused
    with pytest.raises(DomainError):
        vote_cast(review_id=old.pk, reviewer=second, outcome=Outcome.objects.get(code="no_violation"),
                  policy=Policy.objects.get(code="spam"), rationale="x")

    # never downgraded: a spam report leaves it on child-safety
    body = report(api, report_body, policy="spam", reporter=("user", "u3"))
    assert body["effect"] == "joined_case"
    assert active_review(case_id).pk == new.pk
    assert verify_audit().ok


def test_a_closed_case_never_absorbs_a_report_and_the_next_one_links_to_it(api, report_body, decided_spam):
    case_id, decision = decided_spam
    later = Case.objects.get(pk=case_id).decided_at + timedelta(days=settings.APPEAL_WINDOW_DAYS, seconds=1)
    assert sweep_closures(now=later) == 1
    case = Case.objects.get(pk=case_id)
    assert case.state == "closed" and case.closed_at is not None
    response = post_json(api, REPORTS_URL, report_body("acct-1", "spam"))
    assert response.status_code == 201
    new_case = response.json()["case"]["id"]
    assert new_case != case_id
    assert Case.objects.get(pk=new_case).previous_case_id == case.pk
    assert Report.objects.filter(case_id=case_id).count() == 1
    detail = api.get(f"{CASES_URL}/{new_case}").json()
    assert detail["previous_case_id"] == case_id


def test_auto_close_waits_for_the_appeal_window_and_is_idempotent(api, report_body, decided_spam):
    case_id, _ = decided_spam
    decided_at = Case.objects.get(pk=case_id).decided_at
    assert sweep_closures(now=decided_at + timedelta(days=settings.APPEAL_WINDOW_DAYS - 1)) == 0
    assert Case.objects.get(pk=case_id).state == "decided"
    after = decided_at + timedelta(days=settings.APPEAL_WINDOW_DAYS, minutes=1)
    assert sweep_closures(now=after) == 1
    assert sweep_closures(now=after) == 0
    events = AuditEvent.objects.filter(stream=f"case:{case_id}", action="case.state_changed", data__trigger="auto_close")
    assert events.count() == 1
    assert verify_audit().ok


def test_the_batch_endpoint_applies_the_same_rules(api, report_body, decided_spam):
    from .conftest import BATCH_URL

    case_id, cleared = decided_spam
    items = [report_body("acct-1", "spam"), report_body("acct-1", "spam"),
             {**report_body("acct-1", "child_safety"), "reporter": {"kind": "user", "external_id": "b-1"}},
             report_body("fresh", "spam"), report_body("fresh", "child_safety")]
    response = post_json(api, BATCH_URL, {"reports": items})
    assert response.status_code == 200, response.content
    effects = [r["effect"] for r in response.json()["results"]]
    assert effects == ["post_decision", "post_decision", "reopened_review", "opened_case", "joined_case"]
    review = active_review(case_id)
    assert review.stage.version.workflow.slug == "child-safety" and review.follows_decision_id == cleared.pk
    fresh = response.json()["results"][3]["case"]["id"]
    # a case the batch opens is routed by the most severe of its items
    assert active_review(fresh).stage.version.workflow.slug == "child-safety"
    assert verify_audit().ok


def test_a_report_about_a_decided_subject_costs_at_most_one_more_statement(api, report_body, decided_spam, workflows):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def statements(external_id, reporter):
        report(api, report_body, external_id, reporter=("user", "warm-" + reporter))  # warm caches for this id
        with CaptureQueriesContext(connection) as captured:
            body = report(api, report_body, external_id, reporter=("user", reporter))
        return len(captured), body["effect"]

    report(api, report_body, "open-one", reporter=("user", "opener"))
    joined, effect = statements("open-one", "j1")
    assert effect == "joined_case"
    post, effect = statements("acct-1", "p1")
    assert effect == "post_decision"
    assert post <= joined + 1, (post, joined)
