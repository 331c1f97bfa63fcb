"""How many statements a vote sends to PostgreSQL, and that the one-statement
checks refuse what the step-by-step ones did, writing nothing.

Counted with CaptureQueriesContext around vote_cast in a test transaction
(its atomic() is a savepoint here, BEGIN/COMMIT in production; neither is
counted). A change that adds a round trip to a vote has to change this test
and say why."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from audit.verify import verify_audit
from cases.models import Queue
from reviews.errors import InvalidVote, NotEligible, NotSeated
from reviews.models import Decision, DecisionSequence, Outcome, Review, Seat, Vote
from reviews.services import claim_next, seat_release, vote_cast

pytestmark = pytest.mark.django_db

# The lock-and-read statement, then vote + seat + audit event + head in one.
PENDING_VOTE = 2
# + the vote's own rows at once (a decision reads them), closing the review and releasing its seats, the
# decision (current one, public reason, reports, sequence, insert), the case's move to decided (lock,
# subject, update), signals (reputation, sanctions), the DSA statement, the audit events: 23 (34 before
# G5, savepoints not counted).
DECIDING_VOTE = 23


def _statements(call):
    with CaptureQueriesContext(connection) as ctx:
        result = call()
    return result, [q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]


def _seats(file_report, people, n=3, external_id="counted-vote"):
    case_id = file_report(external_id=external_id)
    general = Queue.objects.get(slug="general")
    seats = [claim_next(moderator=m, queue=general) for m in people["moderators"][:n]]
    assert all(str(s.review.case_id) == str(case_id) for s in seats)
    return case_id, seats


def test_a_vote_that_decides_nothing_is_two_statements(file_report, people, policy_book):
    case_id, seats = _seats(file_report, people)
    remove = Outcome.objects.get(code="remove_content")
    vote, sql = _statements(lambda: vote_cast(review_id=seats[0].review_id, reviewer=seats[0].moderator,
                                              outcome=remove, policy=policy_book["spam"], rationale="spam"))
    assert len(sql) == PENDING_VOTE, sql
    assert sql[0].startswith("SELECT") and "FOR UPDATE OF r, c, h" in sql[0]
    assert sql[1].startswith("WITH moved AS") and 'INSERT INTO "reviews_vote"' in sql[1]
    # the rows written with the audit event are there, and the trail says so
    stored = Vote.objects.get(pk=vote.pk)
    assert (stored.reviewer_id, stored.outcome_id, stored.rationale) == (seats[0].moderator.pk, remove.pk, "spam")
    assert Seat.objects.get(pk=seats[0].pk).state == "voted"
    assert AuditEvent.objects.filter(stream=f"case:{case_id}", action="vote.cast").count() == 1
    assert verify_audit().ok


def test_a_deciding_vote_is_a_fixed_number_of_statements(file_report, people, policy_book):
    DecisionSequence.objects.get_or_create(pk=1)  # made by the first decision ever
    case_id, seats = _seats(file_report, people)
    remove = Outcome.objects.get(code="remove_content")
    vote_cast(review_id=seats[0].review_id, reviewer=seats[0].moderator, outcome=remove, policy=policy_book["spam"],
              rationale="spam")
    _vote, sql = _statements(lambda: vote_cast(review_id=seats[1].review_id, reviewer=seats[1].moderator,
                                               outcome=remove, policy=policy_book["spam"], rationale="spam too"))
    assert len(sql) == DECIDING_VOTE, sql
    decision = Decision.objects.get(case_id=case_id)
    assert decision.outcome == remove
    # the reviewers as recorded come from the votes read in the first statement, both of them
    assert [(r["username"], r["outcome"], r["rationale"]) for r in decision.reviewers] == [
        (seats[0].moderator.username, "remove_content", "spam"), (seats[1].moderator.username, "remove_content",
                                                                   "spam too")]
    # the third reviewer finds the stage closed after one statement, and nothing is written
    events = AuditEvent.objects.count()
    with CaptureQueriesContext(connection) as ctx, pytest.raises(Exception, match="not counted"):
        vote_cast(review_id=seats[2].review_id, reviewer=seats[2].moderator, outcome=remove,
                  policy=policy_book["spam"], rationale="late")
    assert len([q for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]) == 1
    assert AuditEvent.objects.count() == events and Vote.objects.filter(review__case_id=case_id).count() == 2
    assert verify_audit().ok


def _nothing_written(case_id, seat):
    assert not Vote.objects.filter(review__case_id=case_id).exists()
    assert Seat.objects.get(pk=seat.pk).state == "claimed"
    assert not AuditEvent.objects.filter(stream=f"case:{case_id}", action="vote.cast").exists()


def test_an_outcome_the_stage_does_not_allow_is_refused(file_report, people, policy_book):
    case_id, seats = _seats(file_report, people, n=1)
    review = Review.objects.get(pk=seats[0].review_id)
    foreign = Outcome.objects.create(code="suspend_forever", name="Suspend forever")  # active, in no stage
    assert not review.stage.allowed_outcomes.filter(pk=foreign.pk).exists()
    with pytest.raises(InvalidVote) as refused:
        vote_cast(review_id=review.pk, reviewer=seats[0].moderator, outcome=foreign, policy=policy_book["spam"],
                  rationale="not offered here")
    assert refused.value.field == "outcome"
    _nothing_written(case_id, seats[0])


def test_a_reviewer_removed_from_the_stage_group_after_claiming_cannot_vote(file_report, people, policy_book):
    case_id, seats = _seats(file_report, people, n=1)
    moderator = seats[0].moderator
    moderator.groups.remove(Group.objects.get(name="moderator"))
    with pytest.raises(NotEligible, match="group"):
        vote_cast(review_id=seats[0].review_id, reviewer=moderator, outcome=Outcome.objects.get(code="label"),
                  policy=policy_book["spam"], rationale="still voting")
    _nothing_written(case_id, seats[0])


def test_a_released_seat_votes_no_more(file_report, people, policy_book):
    case_id, seats = _seats(file_report, people, n=1)
    seat_release(seat_id=seats[0].pk, actor_user=seats[0].moderator)
    with pytest.raises(NotSeated):
        vote_cast(review_id=seats[0].review_id, reviewer=seats[0].moderator,
                  outcome=Outcome.objects.get(code="label"), policy=policy_book["spam"], rationale="sneaky")
    assert not Vote.objects.filter(review__case_id=case_id).exists()
