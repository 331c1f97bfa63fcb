"""The review process through its services: routing, claiming, voting,
consensus, split, approval, escalation, hold, decisions."""

import pytest

from audit.models import AuditEvent
from audit.verify import verify_audit
from cases.models import Case, CaseState, Queue
from reviews.errors import InvalidVote, NotAllowed, NotEligible, NotSeated, ReviewClosed
from reviews.models import Decision, Outcome, Review, ReviewState, Seat, SeatState
from reviews.services import (
    case_escalate,
    case_hold,
    case_resume,
    claim_next,
    lease_renew,
    note_add,
    seat_assign,
    seat_release,
    vote_cast,
)

pytestmark = pytest.mark.django_db


def general():
    return Queue.objects.get(slug="general")


def active(case_id):
    return Review.objects.select_related("stage").get(case_id=case_id, state__in=["open", "on_hold"])


def outcome(code):
    return Outcome.objects.get(code=code)


def claim_and_vote(moderators, case_id, votes, policy):
    """Each moderator claims next in the general queue and votes."""
    results = []
    for mod, code in zip(moderators, votes):
        seat = claim_next(moderator=mod, queue=general())
        assert seat is not None and str(seat.review.case_id) == str(case_id)
        results.append(vote_cast(review_id=seat.review_id, reviewer=mod, outcome=outcome(code), policy=policy,
                                 rationale=f"{mod.username} says {code}", duration_days=7 if code == "suspend_account" else None))
    return results


def test_a_new_case_is_routed_to_the_standard_workflow(file_report):
    case_id = file_report()
    review = active(case_id)
    assert review.stage.key == "review" and review.stage.version.workflow.slug == "standard"
    assert review.free_seats == 3
    opened = AuditEvent.objects.get(action="case.opened", target_id=str(case_id))
    assert opened.data["workflow"] == "standard" and opened.data["stage"] == "review"


def test_child_safety_reports_are_routed_to_the_child_safety_workflow(file_report):
    review = active(file_report(policy="child_safety"))
    assert review.stage.version.workflow.slug == "child-safety" and review.stage.rule == "2 of 2, blind"


def test_claim_next_takes_the_highest_priority_then_oldest(file_report, people):
    low = file_report("a", policy="spam")
    high = file_report("b", policy="hate")
    older_high = file_report("c", policy="hate")
    mod = people["moderators"][0]
    first = claim_next(moderator=mod, queue=general())
    assert str(first.review.case_id) in {str(high), str(older_high)}
    assert str(first.review.case_id) == str(high)  # same priority: the older case first
    second = claim_next(moderator=mod, queue=general())
    assert str(second.review.case_id) == str(older_high)
    third = claim_next(moderator=mod, queue=general())
    assert str(third.review.case_id) == str(low)
    assert claim_next(moderator=mod, queue=general()) is None  # one seat per review per moderator
    assert Case.objects.get(pk=low).state == CaseState.IN_REVIEW


def test_seats_are_limited_to_n_and_outsiders_get_none(file_report, people):
    case_id = file_report()
    mods = people["moderators"]
    seats = [claim_next(moderator=m, queue=general()) for m in mods[:3]]
    assert all(s is not None for s in seats)
    assert claim_next(moderator=mods[3], queue=general()) is None
    assert claim_next(moderator=people["outsider"], queue=general()) is None
    assert claim_next(moderator=people["seniors"][0], queue=general()) is None  # not in the stage's group
    assert active(case_id).free_seats == 0


def test_two_of_three_consensus_decides_and_releases_the_third_seat(file_report, people, policy_book):
    case_id = file_report()
    mods = people["moderators"]
    third = None
    claim_and_vote(mods[:1], case_id, ["remove_content"], policy_book["spam"])
    third = claim_next(moderator=mods[2], queue=general())
    claim_and_vote(mods[1:2], case_id, ["remove_content"], policy_book["spam"])
    decision = Decision.objects.get(case_id=case_id)
    assert decision.outcome.code == "remove_content" and decision.policy.code == "spam"
    assert decision.is_current and decision.kind == "original"
    assert "mod1 says" not in decision.facts_and_reasons  # rationales stay internal (DSA statements are public)
    assert decision.reviewers[0]["rationale"] == "mod1 says remove_content"
    assert Case.objects.get(pk=case_id).state == CaseState.DECIDED
    assert Seat.objects.get(pk=third.pk).state == SeatState.RELEASED
    with pytest.raises(ReviewClosed):
        vote_cast(review_id=third.review_id, reviewer=mods[2], outcome=outcome("label"), policy=policy_book["spam"],
                  rationale="late")
    assert Decision.objects.filter(case_id=case_id).count() == 1
    assert verify_audit().ok


def test_a_split_escalates_to_a_senior_and_raises_priority(file_report, people, policy_book):
    case_id = file_report()
    before = Case.objects.get(pk=case_id).priority
    claim_and_vote(people["moderators"][:3], case_id, ["remove_content", "label", "no_violation"], policy_book["spam"])
    review = active(case_id)
    assert review.stage.key == "senior"
    case = Case.objects.get(pk=case_id)
    assert case.state == CaseState.ESCALATED and case.priority == before + 100 == review.priority
    assert Review.objects.filter(case_id=case_id, state=ReviewState.SPLIT).count() == 1
    senior = people["seniors"][0]
    seat = claim_next(moderator=senior, queue=general())
    vote_cast(review_id=seat.review_id, reviewer=senior, outcome=outcome("label"), policy=policy_book["spam"],
              rationale="borderline: label")
    assert Decision.objects.get(case_id=case_id).outcome.code == "label"


def test_an_outcome_requiring_approval_goes_through_four_eyes(file_report, people, policy_book):
    case_id = file_report(kind="account", external_id="acct")
    claim_and_vote(people["moderators"][:2], case_id, ["ban_account", "ban_account"], policy_book["spam"])
    review = active(case_id)
    assert review.stage.key == "approval" and review.proposed_outcome.code == "ban_account"
    assert not Decision.objects.filter(case_id=case_id).exists()
    approver = people["seniors"][0]
    seat = claim_next(moderator=approver, queue=general())
    vote_cast(review_id=seat.review_id, reviewer=approver, approved=True)
    decision = Decision.objects.get(case_id=case_id)
    assert decision.outcome.code == "ban_account"
    assert {r["username"] for r in decision.reviewers} == {"mod1", "mod2", "senior1"}


def test_a_rejected_approval_goes_to_its_target_with_the_reason(file_report, people, policy_book):
    case_id = file_report(kind="account", external_id="acct")
    claim_and_vote(people["moderators"][:2], case_id, ["ban_account", "ban_account"], policy_book["spam"])
    approver = people["seniors"][0]
    seat = claim_next(moderator=approver, queue=general())
    with pytest.raises(InvalidVote):
        vote_cast(review_id=seat.review_id, reviewer=approver, approved=False)  # no reason
    vote_cast(review_id=seat.review_id, reviewer=approver, approved=False, rationale="first offence: suspend instead")
    assert active(case_id).stage.key == "senior"
    event = AuditEvent.objects.get(action="review.approval_rejected")
    assert event.data["reason"] == "first offence: suspend instead"
    assert not Decision.objects.filter(case_id=case_id).exists()


def test_the_proposers_cannot_approve_their_own_result(file_report, people, policy_book):
    from django.contrib.auth.models import Group

    case_id = file_report(kind="account", external_id="acct")
    mods = people["moderators"]
    mods[0].groups.add(Group.objects.get(name="senior_moderator"))
    claim_and_vote(mods[:2], case_id, ["ban_account", "ban_account"], policy_book["spam"])
    review = active(case_id)
    with pytest.raises(NotEligible, match="four eyes"):
        seat_assign(review_id=review.pk, moderator=mods[0], lead=people["seniors"][1])
    # claim next skips it for the proposer
    assert claim_next(moderator=mods[0], queue=general()) is None


def test_votes_are_validated(file_report, people, policy_book):
    file_report()
    mod = people["moderators"][0]
    seat = claim_next(moderator=mod, queue=general())
    cases = [
        dict(outcome=outcome("remove_content"), policy=policy_book["spam"], rationale=""),  # rationale required
        dict(outcome=outcome("suspend_account"), policy=policy_book["spam"], rationale="x"),  # duration required
        dict(outcome=outcome("label"), policy=policy_book["spam"], rationale="x", duration_days=3),  # no duration
        dict(outcome=outcome("label"), policy=None, rationale="x"),  # policy required
        dict(outcome=outcome("label"), policy=policy_book["spam"], rationale="x", approved=True),
    ]
    for kwargs in cases:
        with pytest.raises(InvalidVote):
            vote_cast(review_id=seat.review_id, reviewer=mod, **kwargs)
    vote = vote_cast(review_id=seat.review_id, reviewer=mod, outcome=outcome("no_violation"),
                     policy=policy_book["spam"], rationale="")
    again = vote_cast(review_id=seat.review_id, reviewer=mod, outcome=outcome("no_violation"),
                      policy=policy_book["spam"], rationale="")
    assert again.pk == vote.pk  # a double submission is one vote
    with pytest.raises(InvalidVote, match="final"):
        vote_cast(review_id=seat.review_id, reviewer=mod, outcome=outcome("label"), policy=policy_book["spam"],
                  rationale="changed my mind")


def test_voting_needs_a_seat(file_report, people, policy_book):
    case_id = file_report()
    with pytest.raises(NotSeated):
        vote_cast(review_id=active(case_id).pk, reviewer=people["moderators"][0], outcome=outcome("label"),
                  policy=policy_book["spam"], rationale="x")


def test_release_renew_and_assign(file_report, people):
    case_id = file_report()
    mods, lead = people["moderators"], people["seniors"][0]
    seat = claim_next(moderator=mods[0], queue=general())
    expires = lease_renew(seat_id=seat.pk, moderator=mods[0])
    assert expires > seat.lease_expires_at
    with pytest.raises(NotAllowed):
        seat_release(seat_id=seat.pk, actor_user=mods[1])
    seat_release(seat_id=seat.pk, actor_user=mods[0], reason="conflict of interest")
    assert active(case_id).free_seats == 3
    with pytest.raises(NotSeated):
        lease_renew(seat_id=seat.pk, moderator=mods[0])
    with pytest.raises(NotAllowed):
        seat_assign(review_id=active(case_id).pk, moderator=mods[1], lead=mods[2])
    assigned = seat_assign(review_id=active(case_id).pk, moderator=mods[1], lead=lead)
    assert assigned.assigned_by == lead
    with pytest.raises(NotEligible, match="group"):
        seat_assign(review_id=active(case_id).pk, moderator=people["outsider"], lead=lead)


def test_escalation_by_a_seated_reviewer_or_a_lead(file_report, people):
    case_id = file_report()
    mods = people["moderators"]
    with pytest.raises(NotAllowed):
        case_escalate(case_id=case_id, actor_user=mods[0], reason="unsure")
    seat = claim_next(moderator=mods[0], queue=general())
    case_escalate(case_id=case_id, actor_user=mods[0], reason="needs legal input")
    assert active(case_id).stage.key == "senior"
    assert Seat.objects.get(pk=seat.pk).state == SeatState.RELEASED
    assert Case.objects.get(pk=case_id).state == CaseState.ESCALATED
    assert AuditEvent.objects.get(action="case.escalated").data["reason"] == "needs legal input"
    senior_review = active(case_id)
    case_escalate(case_id=case_id, actor_user=people["seniors"][0], reason="policy question")  # a lead: next tier
    assert active(case_id).stage.key == "lead"
    # a retry carrying the review it saw is a no-op, not a second escalation
    case_escalate(case_id=case_id, actor_user=people["seniors"][0], reason="policy question",
                  from_review_id=senior_review.pk)
    assert Review.objects.filter(case_id=case_id).count() == 3
    with pytest.raises(NotAllowed, match="top tier") as refused:
        case_escalate(case_id=case_id, actor_user=people["seniors"][0], reason="again")
    assert refused.value.code == "top_tier"
    assert active(case_id).stage.key == "lead" and Review.objects.filter(case_id=case_id).count() == 3


def test_hold_and_resume(file_report, people):
    case_id = file_report()
    lead, mod = people["seniors"][0], people["moderators"][0]
    with pytest.raises(NotAllowed):
        case_hold(case_id=case_id, lead=mod, reason="x")
    case_hold(case_id=case_id, lead=lead, reason="waiting for the platform's logs")
    assert Case.objects.get(pk=case_id).state == CaseState.ON_HOLD
    assert claim_next(moderator=mod, queue=general()) is None
    case_resume(case_id=case_id, lead=lead)
    assert Case.objects.get(pk=case_id).state == CaseState.OPEN
    assert claim_next(moderator=mod, queue=general()) is not None


def test_notes(file_report, people):
    case_id = file_report()
    mod = people["moderators"][0]
    with pytest.raises(NotAllowed):
        note_add(review_id=active(case_id).pk, author=mod, text="hm")
    seat = claim_next(moderator=mod, queue=general())
    note = note_add(review_id=seat.review_id, author=mod, text="see the linked thread")
    assert note.review_id == seat.review_id


def test_eligibility_excludes_the_subject_and_the_reporter(file_report, people, source):
    from reviews.models import ModeratorIdentity

    mods = people["moderators"]
    ModeratorIdentity.objects.create(user=mods[0], source=source, external_id="author-9")
    ModeratorIdentity.objects.create(user=mods[1], source=source, external_id="reporter-5")
    file_report(external_id="post", author="author-9", reporter=("user", "reporter-5"))
    assert claim_next(moderator=mods[0], queue=general()) is None
    assert claim_next(moderator=mods[1], queue=general()) is None
    assert claim_next(moderator=mods[2], queue=general()) is not None


def test_a_lead_can_amend_the_statement_of_reasons(file_report, people, policy_book):
    from reviews.services import decision_amend_reasons

    case_id = file_report()
    claim_and_vote(people["moderators"][:2], case_id, ["remove_content", "remove_content"], policy_book["spam"])
    decision = Decision.objects.get(case_id=case_id)
    with pytest.raises(NotAllowed):
        decision_amend_reasons(decision_id=decision.pk, lead=people["moderators"][0], text="x")
    decision_amend_reasons(decision_id=decision.pk, lead=people["seniors"][0], text="Spam: repeated ads.")
    decision.refresh_from_db()
    assert decision.facts_and_reasons == "Spam: repeated ads." and decision.decided_by == people["seniors"][0]
    event = AuditEvent.objects.get(action="decision.reasons_amended")
    assert "Spam" in event.data["before"] and "mod1 says" not in event.data["before"]


def test_a_stage_can_exclude_reviewers_of_earlier_stages(file_report, people, policy_book):
    from django.contrib.auth.models import Group

    # child safety: 2-of-2 seniors; a split goes to the "lead" stage, which excludes earlier reviewers
    case_id = file_report(policy="child_safety")
    seniors = people["seniors"]
    for senior, code in zip(seniors[:2], ["remove_content", "no_violation"]):
        seat = claim_next(moderator=senior, queue=general())
        vote_cast(review_id=seat.review_id, reviewer=senior, outcome=outcome(code), policy=policy_book["child_safety"],
                  rationale="r")
    review = active(case_id)
    assert review.stage.key == "lead" and review.stage.exclude_earlier_reviewers
    with pytest.raises(NotEligible, match="earlier stage"):
        seat_assign(review_id=review.pk, moderator=seniors[0], lead=seniors[3])
    assert claim_next(moderator=seniors[1], queue=general()) is None
    assert claim_next(moderator=seniors[2], queue=general()) is not None
    assert Group.objects.get(name="senior_moderator").user_set.count() == 4


def test_batch_intake_routes_every_opened_case_in_one_go(workflows, source, system_actor, policy_book):
    from cases.services import ReportInput, SubjectInput
    from reviews.intake import report_intake_batch

    items = [ReportInput(subject=SubjectInput(kind="content", external_id=f"b{i % 3}", as_received={}),
                         policy=policy_book["child_safety" if i % 3 == 0 else "spam"], reporter_kind="user")
             for i in range(6)]
    results = report_intake_batch(source=source, api_client_id=None, actor=system_actor, items=items)
    assert [r.status for r in results] == [201, 201, 201, 200, 200, 200]
    for r in results[:3]:
        review = active(r.case_id)
        opened = AuditEvent.objects.get(action="case.opened", target_id=r.case_id)
        assert opened.data["workflow"] == review.stage.version.workflow.slug
        assert opened.data["stage"] == review.stage.key and opened.data["due_at"] == review.due_at.isoformat()
    assert active(results[0].case_id).stage.version.workflow.slug == "child-safety"
    assert active(results[1].case_id).stage.version.workflow.slug == "standard"
    assert verify_audit().ok
