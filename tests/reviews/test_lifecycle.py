"""One pair of functions opens and closes reviews, and every state change
says why as data (`trigger`), whoever caused it: votes, escalation, the SLA
sweep, leases, holds, appeals."""

from datetime import timedelta

import pytest

from audit.models import AuditEvent
from audit.verify import verify_audit
from cases.models import Case, CaseState, Queue
from cases.priority import PRIORITY_MAX, priority_raise
from reviews import triggers
from reviews.errors import ReviewTransitionNotAllowed
from reviews.models import Outcome, Review, ReviewState, Seat, SeatState
from reviews.services import case_escalate, case_hold, case_resume, claim_next, vote_cast
from reviews.services.lifecycle import review_close, reviews_close_many
from reviews.sweeps import sweep_breaches, sweep_leases

pytestmark = pytest.mark.django_db


def general():
    return Queue.objects.get(slug="general")


def active(case_id):
    return Review.objects.select_related("stage").get(case_id=case_id, state__in=["open", "on_hold"])


def events(case_id, action):
    return list(AuditEvent.objects.filter(stream=f"case:{case_id}", action=action).order_by("seq"))


def test_every_state_change_carries_a_known_trigger(file_report, people, policy_book):
    late = file_report("late")
    sweep_breaches(now=active(late).due_at)  # first: the other cases' deadlines are not reached
    split = file_report("split-me")
    for mod, code in zip(people["moderators"][:3], ["remove_content", "label", "no_violation"]):
        seat = claim_next(moderator=mod, queue=general())
        vote_cast(review_id=seat.review_id, reviewer=mod, outcome=Outcome.objects.get(code=code),
                  policy=policy_book["spam"], rationale="because")
    escalated = file_report("escalate-me")
    seat = claim_next(moderator=people["moderators"][3], queue=general())
    assert str(seat.review.case_id) == str(escalated)
    case_escalate(case_id=escalated, actor_user=people["moderators"][3], reason="needs a senior")
    held = file_report("hold-me")
    case_hold(case_id=held, lead=people["seniors"][0], reason="waiting for the platform")
    case_resume(case_id=held, lead=people["seniors"][0])

    changes = AuditEvent.objects.filter(action__in=[
        "case.state_changed", "review.opened", "review.split", "case.escalated", "case.sla_breached",
        "review.seat_released"])
    assert changes.exists()
    for event in changes:
        assert event.data.get("trigger") in triggers.ALL, (event.action, event.data)
    by_case = {c: [(e.action, e.data["trigger"]) for e in AuditEvent.objects.filter(stream=f"case:{c}")
                   .exclude(action__in=["case.opened", "review.seat_claimed", "vote.cast", "case.sla_warning"])
                   .order_by("seq")] for c in (split, escalated, held, late)}
    assert ("review.split", "split") in by_case[split]
    assert ("case.state_changed", "split") in by_case[split] and ("review.opened", "split") in by_case[split]
    assert [t for a, t in by_case[escalated] if a != "case.state_changed"] == ["escalation", "escalation"]
    assert [t for a, t in by_case[held]] == ["lead_hold", "lead_resume"]
    assert by_case[late] == [("case.sla_breached", "sla_breach"), ("case.state_changed", "sla_breach"),
                             ("review.opened", "sla_breach")]
    assert verify_audit().ok


def test_an_expired_lease_is_released_with_its_trigger(file_report, people):
    case_id = file_report()
    seat = claim_next(moderator=people["moderators"][0], queue=general())
    assert sweep_leases(now=seat.lease_expires_at) == 1
    released = events(case_id, "review.seat_released")
    assert [e.data["trigger"] for e in released] == ["lease_expired"]
    assert Seat.objects.get(pk=seat.pk).state == SeatState.RELEASED


def test_a_closed_review_cannot_be_closed_another_way(file_report, people, policy_book):
    case_id = file_report()
    review = active(case_id)
    claim_next(moderator=people["moderators"][0], queue=general())
    case_escalate(case_id=case_id, actor_user=people["seniors"][0], reason="lead takes it up")
    review.refresh_from_db()
    assert review.state == ReviewState.CANCELLED
    assert not Seat.objects.filter(review=review, state=SeatState.CLAIMED).exists()  # close released the seat
    with pytest.raises(ReviewTransitionNotAllowed):
        review_close(review, state=ReviewState.CONSENSUS, now=review.closed_at)
    # the bulk form is a compare-and-swap: a closed review is left as it is
    assert reviews_close_many(review_ids=[review.pk], state=ReviewState.TIMED_OUT, now=review.closed_at) == 0
    assert Review.objects.get(pk=review.pk).state == ReviewState.CANCELLED


def test_priority_rises_stop_at_the_documented_maximum(file_report, people):
    assert priority_raise(800, 100) == PRIORITY_MAX == 850
    assert priority_raise(900, 100) == 900  # never lowered
    case_id = file_report()
    Case.objects.filter(pk=case_id).update(priority=800)
    case_escalate(case_id=case_id, actor_user=people["seniors"][0], reason="urgent")
    assert Case.objects.get(pk=case_id).priority == 850
    review = active(case_id)
    assert review.stage.key == "senior" and review.priority == 850
    # Standard's senior stage times out into itself, an escalation: each breach raises priority, capped
    for _ in range(2):
        current = active(case_id)
        sweep_breaches(now=current.due_at + timedelta(seconds=1))
    assert Case.objects.get(pk=case_id).priority == 850
    assert Case.objects.get(pk=case_id).state == CaseState.ESCALATED
