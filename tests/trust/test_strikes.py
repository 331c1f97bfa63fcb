"""Repeat offenders (DSA Art. 23(1)): strikes from upheld decisions, weighted by
severity, expiring, removed on reversal, never twice for one decision; a
threshold crossed turns into a proposal reviewed like any case, never an action."""

from datetime import timedelta

import pytest
from django.db import transaction

from audit.models import AuditEvent
from audit.verify import verify_audit
from cases.models import Case, Report, Source, Subject
from cases.services import ReportInput, SubjectInput
from reviews.intake import report_intake
from reviews.models import Decision, Review
from reviews.services import appeal_file, claim_next, vote_cast
from trust.models import Strike, StrikeProposal, StrikeThreshold
from trust.strikes import TRUST_ACTOR, active_points, strikes_apply

from .conftest import decide, run_together

pytestmark = pytest.mark.django_db


@pytest.fixture
def source(db):
    return Source.objects.get_or_create(name="forum")[0]


@pytest.fixture
def file(workflows, source, system_actor, policy_book):
    def file(external_id, policy="spam", author="author-1", kind="content", reporter="r1"):
        item = ReportInput(
            subject=SubjectInput(kind=kind, external_id=external_id, fields={"latest_text": "t"},
                                 author_external_id=author if kind == "content" else None, as_received={}),
            policy=policy_book[policy], reporter_kind="user", reporter_external_id=reporter)
        return report_intake(source=source, api_client_id=None, actor=system_actor, item=item).case_id

    return file


def account(external_id="author-1"):
    return Subject.objects.get(kind="account", external_id=external_id)


def test_an_upheld_violation_strikes_the_author_with_the_policys_severity(file, people, policy_book):
    case_id = file("post-1", "harassment")
    decision = decide(case_id, people["moderators"][:2], "remove_content", policy_book["harassment"])

    strike = Strike.objects.get(decision=decision)
    assert strike.account == account() and strike.weight == policy_book["harassment"].severity == 3
    assert active_points(account_id=account().pk, now=decision.decided_at)[None] == 3
    event = AuditEvent.objects.get(action="strike.added", target_id=str(strike.pk))
    assert event.stream == f"case:{case_id}" and event.data["policy"] == "harassment"


def test_a_decision_about_an_account_strikes_the_account_itself(file, people, policy_book):
    case_id = file("acct-9", "spam", kind="account")
    decision = decide(case_id, people["moderators"][:2], "label", policy_book["spam"])
    assert Strike.objects.get(decision=decision).account == Subject.objects.get(kind="account", external_id="acct-9")


def test_no_violation_strikes_nobody(file, people, policy_book):
    case_id = file("post-1")
    decide(case_id, people["moderators"][:2], "no_violation", policy_book["spam"])
    assert not Strike.objects.exists()


def test_a_strike_reversed_on_appeal_is_removed(file, people, policy_book, system_actor):
    case_id = file("post-1", "harassment")
    original = decide(case_id, people["moderators"][:2], "remove_content", policy_book["harassment"])
    appeal_file(case_id=case_id, appellant_kind="affected_user", statement="satire", actor=system_actor)
    decide(case_id, people["moderators"][2:4], "no_violation", policy_book["harassment"])

    strike = Strike.objects.get(decision=original)
    assert strike.removed_reason == "reversed_on_appeal" and strike.removed_at is not None
    assert active_points(account_id=account().pk, now=strike.removed_at)[None] == 0
    assert AuditEvent.objects.filter(action="strike.removed", target_id=str(strike.pk)).count() == 1


def test_strikes_expire(file, people, policy_book, settings):
    settings.TRUST_STRIKE_EXPIRY_DAYS = 30
    StrikeThreshold.objects.create(points=4, action="warn")
    first = decide(file("post-1"), people["moderators"][:2], "remove_content", policy_book["spam"])
    strike = Strike.objects.get(decision=first)
    assert strike.expires_at == first.decided_at + timedelta(days=30)
    assert active_points(account_id=account().pk, now=strike.expires_at - timedelta(seconds=1))[None] == 2
    assert active_points(account_id=account().pk, now=strike.expires_at)[None] == 0
    # The first strike lies in the past beyond its expiry: a second spam strike (2 + 2 would reach 4) proposes nothing.
    Strike.objects.filter(pk=strike.pk).update(created_at=strike.created_at - timedelta(days=31),
                                               expires_at=strike.expires_at - timedelta(days=31))
    decide(file("post-2"), people["moderators"][:2], "remove_content", policy_book["spam"])
    assert not StrikeProposal.objects.exists()


def test_a_threshold_crossed_files_a_proposal_for_review_and_does_nothing_to_the_account(
        file, people, policy_book, django_capture_on_commit_callbacks):
    StrikeThreshold.objects.create(points=4, action="ban")
    StrikeThreshold.objects.create(points=100, action="suspend", suspend_days=7)  # not reached
    decide(file("post-1"), people["moderators"][:2], "remove_content", policy_book["spam"])
    assert not StrikeProposal.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        second = decide(file("post-2"), people["moderators"][:2], "remove_content", policy_book["spam"])

    proposal = StrikeProposal.objects.get()
    assert (proposal.action, proposal.points, proposal.threshold_points, proposal.state) == ("ban", 4, 4, "filed")
    assert proposal.strike.decision == second
    # A case on the account, with the proposal as a staff report, in review: nothing was decided about the account.
    case = Case.objects.get(pk=proposal.case_id)
    assert case.subject == account() and case.state == "open"
    report = Report.objects.get(case=case)
    assert report.reporter_kind == "staff" and "ban the account" in report.description
    assert "nothing has been done to the account" in report.description
    assert not Decision.objects.filter(case=case).exists()
    assert Review.objects.filter(case=case, state="open").exists()
    assert AuditEvent.objects.filter(action="strike.proposal_made", stream=f"case:{case.pk}").count() == 1

    # Reviewers agreeing on the ban do not act either: ban_account needs four eyes (the approval stage).
    queue = case.queue
    for mod in people["moderators"][2:4]:
        seat = claim_next(moderator=mod, queue=queue)
        assert seat.review.case_id == case.pk
        vote_cast(review_id=seat.review_id, reviewer=mod, outcome=proposal_outcome("ban_account"),
                  policy=policy_book["spam"], rationale="repeat spam")
    case.refresh_from_db()
    assert case.state != "decided"
    assert Review.objects.get(case=case, state="open").stage.kind == "approval"
    # the decision on the proposal case is not itself a strike (it is the consequence of strikes)
    assert Strike.objects.filter(case=case).count() == 0


def proposal_outcome(code):
    from reviews.models import Outcome

    return Outcome.objects.get(code=code)


def test_a_threshold_under_one_policy_counts_only_that_policy(file, people, policy_book,
                                                              django_capture_on_commit_callbacks):
    StrikeThreshold.objects.create(points=6, action="suspend", suspend_days=7, policy=policy_book["harassment"])
    with django_capture_on_commit_callbacks(execute=True):
        decide(file("post-1", "harassment"), people["moderators"][:2], "remove_content", policy_book["harassment"])
        decide(file("post-2", "hate"), people["moderators"][:2], "remove_content", policy_book["hate"])
    assert not StrikeProposal.objects.exists()  # 3 + 4 points, but only 3 under harassment
    with django_capture_on_commit_callbacks(execute=True):
        decide(file("post-3", "harassment"), people["moderators"][:2], "remove_content", policy_book["harassment"])
    proposal = StrikeProposal.objects.get()
    assert (proposal.action, proposal.suspend_days, proposal.points) == ("suspend", 7, 6)
    assert "suspend the account for 7 days" in Report.objects.get(case_id=proposal.case_id).description


@pytest.mark.django_db(transaction=True)
def test_the_same_decision_never_strikes_twice_under_concurrent_threads(file, people, policy_book):
    decision = decide(file("post-1"), people["moderators"][:2], "remove_content", policy_book["spam"])
    Strike.objects.filter(decision=decision).delete()  # as if the hook had not run: now race to apply it
    def apply():
        with transaction.atomic():
            return strikes_apply(decision=Decision.objects.select_related("case", "outcome", "policy")
                                 .get(pk=decision.pk), actor=TRUST_ACTOR)

    results = run_together([apply] * 8)
    assert not [r for r in results if isinstance(r, Exception)]
    assert sum(1 for r in results if r is not None) == 1  # exactly one thread inserted the strike
    assert Strike.objects.filter(decision=decision).count() == 1
    assert AuditEvent.objects.filter(action="strike.added").count() == 2  # the hook's first one, and one of the eight
    assert verify_audit().ok


def test_a_proposal_whose_filing_did_not_run_is_filed_by_the_sweep_once(file, people, policy_book):
    from trust.strikes import proposals_file_pending

    StrikeThreshold.objects.create(points=2, action="warn")
    decide(file("post-1"), people["moderators"][:2], "remove_content", policy_book["spam"])  # no on-commit here
    assert StrikeProposal.objects.get().state == "pending"
    assert proposals_file_pending() == 1
    assert proposals_file_pending() == 0
    proposal = StrikeProposal.objects.get()
    assert proposal.state == "filed" and Report.objects.filter(case_id=proposal.case_id).count() == 1
