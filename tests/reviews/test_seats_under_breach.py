"""Seats under adversarial timing: an SLA breach never takes a seat whose
lease is valid, a moderator whose lease expired may come back, and publishing
counts N (not M) members per stage."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User

from audit.models import AuditEvent
from audit.verify import verify_audit
from cases.models import Case, CaseState, Queue
from reviews.errors import WorkflowInvalid
from reviews.models import DECIDE, Decision, Outcome, Review, ReviewState, Seat, SeatState, Stage, Workflow, WorkflowVersion
from reviews.services import claim_next, lease_renew, seat_release, vote_cast
from reviews.sweeps import sweep_breaches, sweep_leases
from reviews.workflows import install_default_outcomes, workflow_publish

pytestmark = pytest.mark.django_db


def general():
    return Queue.objects.get(slug="general")


def active(case_id):
    return Review.objects.select_related("stage").get(case_id=case_id, state__in=["open", "on_hold"])


def split_to_senior(file_report, people, policy_book, external_id="post-1"):
    case_id = file_report(external_id)
    for mod, code in zip(people["moderators"][:3], ["remove_content", "label", "no_violation"]):
        seat = claim_next(moderator=mod, queue=general())
        vote_cast(review_id=seat.review_id, reviewer=mod, outcome=Outcome.objects.get(code=code),
                  policy=policy_book["spam"], rationale="because")
    assert active(case_id).stage.key == "senior"
    return case_id


def test_a_breach_in_the_senior_stage_keeps_the_seat_of_the_senior_working_on_it(file_report, people, policy_book):
    """The issue's scenario: the breach used to reopen the stage and take the seat (the vote then got 409)."""
    case_id = split_to_senior(file_report, people, policy_book)
    review = active(case_id)
    senior = people["seniors"][0]
    seat = claim_next(moderator=senior, queue=general())
    assert seat.review_id == review.pk
    lease_renew(seat_id=seat.pk, moderator=senior, now=review.due_at - timedelta(minutes=1))  # still working
    before = Case.objects.get(pk=case_id).priority
    assert sweep_breaches(now=review.due_at) == 1

    kept = active(case_id)
    assert kept.pk == review.pk and kept.breached_at == review.due_at
    assert Seat.objects.get(pk=seat.pk).state == SeatState.CLAIMED
    case = Case.objects.get(pk=case_id)
    assert case.breach_count == 1 and case.priority == min(850, before + 100) == kept.priority
    breach = AuditEvent.objects.get(action="case.sla_breached", target_id=str(review.pk))
    assert breach.data["seats_held"] is True and breach.data["action"] == "raise_priority"
    assert breach.data["deferred_to"] is None  # the stage times out into itself: nothing to move
    assert sweep_breaches(now=review.due_at + timedelta(hours=1)) == 0  # once

    vote = vote_cast(review_id=review.pk, reviewer=senior, outcome=Outcome.objects.get(code="label"),
                     policy=policy_book["spam"], rationale="borderline", now=review.due_at + timedelta(minutes=5))
    assert vote.pk is not None
    assert Decision.objects.get(case_id=case_id, is_current=True).outcome.code == "label"
    assert verify_audit().ok


def test_a_breach_with_an_expired_lease_still_moves(file_report, people, policy_book):
    case_id = split_to_senior(file_report, people, policy_book)
    review = active(case_id)
    seat = claim_next(moderator=people["seniors"][0], queue=general())  # lease long gone at due_at
    sweep_breaches(now=review.due_at)
    assert Review.objects.get(pk=review.pk).state == ReviewState.TIMED_OUT
    assert Seat.objects.get(pk=seat.pk).state == SeatState.RELEASED
    assert active(case_id).pk != review.pk


def _held_at_breach(file_report, people, external_id):
    case_id = file_report(external_id)
    review = active(case_id)
    mod = people["moderators"][0]
    seat = claim_next(moderator=mod, queue=general())
    lease_renew(seat_id=seat.pk, moderator=mod, now=review.due_at - timedelta(minutes=1))
    assert sweep_breaches(now=review.due_at) == 1
    assert active(case_id).pk == review.pk and Seat.objects.get(pk=seat.pk).state == SeatState.CLAIMED
    breach = AuditEvent.objects.get(action="case.sla_breached", target_id=str(review.pk))
    assert breach.data["deferred_to"] == "senior"
    return case_id, review, mod, seat


def test_a_deferred_escalation_happens_when_the_holder_releases(file_report, people):
    case_id, review, mod, seat = _held_at_breach(file_report, people, "released")
    seat_release(seat_id=seat.pk, actor_user=mod, now=review.due_at + timedelta(minutes=2))
    assert Review.objects.get(pk=review.pk).state == ReviewState.TIMED_OUT
    moved = active(case_id)
    assert moved.stage.key == "senior" and Case.objects.get(pk=case_id).state == CaseState.ESCALATED
    opened = AuditEvent.objects.get(action="review.opened", target_id=str(moved.pk))
    assert opened.data["trigger"] == "sla_breach"


def test_a_deferred_escalation_happens_when_the_lease_expires(file_report, people):
    case_id, review, mod, seat = _held_at_breach(file_report, people, "expired")
    assert sweep_leases(now=Seat.objects.get(pk=seat.pk).lease_expires_at) == 1
    assert Review.objects.get(pk=review.pk).state == ReviewState.TIMED_OUT
    assert active(case_id).stage.key == "senior"
    assert verify_audit().ok


def test_a_moderator_whose_lease_expired_may_claim_the_same_review_again(file_report, people, policy_book):
    case_id = file_report()
    mod = people["moderators"][0]
    first = claim_next(moderator=mod, queue=general())
    assert sweep_leases(now=first.lease_expires_at) == 1
    again = claim_next(moderator=mod, queue=general(), now=first.lease_expires_at + timedelta(minutes=1))
    assert again is not None and again.review_id == first.review_id and again.pk != first.pk
    assert active(case_id).free_seats == 2
    vote_cast(review_id=again.review_id, reviewer=mod, outcome=Outcome.objects.get(code="remove_content"),
              policy=policy_book["spam"], rationale="spam")
    # a voted seat is final: no second claim in the same review
    assert claim_next(moderator=mod, queue=general()) is None


def test_a_held_seat_still_keeps_its_holder_out_of_a_second_one(file_report, people):
    file_report()
    mod = people["moderators"][0]
    assert claim_next(moderator=mod, queue=general()) is not None
    assert claim_next(moderator=mod, queue=general()) is None


@pytest.fixture
def pair(db):
    install_default_outcomes()
    group = Group.objects.create(name="pair")
    for name in ("p1", "p2"):
        User.objects.create_user(name).groups.add(group)
    return group


def _draft(group, *, n, m):
    wf, _ = Workflow.objects.get_or_create(slug="small", defaults={"name": "Small"})
    number = wf.versions.count() + 1
    version = WorkflowVersion.objects.create(workflow=wf, number=number, first_stage_key="one")
    one = Stage.objects.create(version=version, key="one", name="one", group=group, seats=n, quorum=m,
                               on_consensus=DECIDE, on_split="two")
    one.allowed_outcomes.set(Outcome.objects.filter(requires_approval=False))
    two = Stage.objects.create(version=version, key="two", name="two", group=group, seats=1, quorum=1,
                               on_consensus=DECIDE)
    two.allowed_outcomes.set(Outcome.objects.filter(requires_approval=False))
    return version


def test_publishing_counts_n_not_m_and_warns_at_exactly_n(pair, system_actor):
    two_of_three = _draft(pair, n=3, m=2)
    with pytest.raises(WorkflowInvalid) as refused:
        workflow_publish(version=two_of_three, actor=system_actor)
    assert any("has 2 active member(s), fewer than N=3" in p for p in refused.value.problems)
    assert refused.value.code == "workflow_invalid"
    two_of_three.refresh_from_db()
    assert two_of_three.state == "draft" and not AuditEvent.objects.filter(action="workflow.published").exists()

    two_of_two = _draft(pair, n=2, m=2)
    workflow_publish(version=two_of_two, actor=system_actor)
    event = AuditEvent.objects.get(action="workflow.published")
    assert event.data["warnings"] == ["stage 'one': group 'pair' has exactly N=2 active member(s); "
                                      "one absence or exclusion stalls the stage"]
    # an inactive member does not count
    User.objects.filter(username="p2").update(is_active=False)
    again = _draft(pair, n=2, m=1)
    with pytest.raises(WorkflowInvalid):
        workflow_publish(version=again, actor=system_actor)
