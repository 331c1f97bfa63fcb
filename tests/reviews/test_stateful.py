"""A stateful property test of the review core (issue G1, "How it is shown").

A hypothesis RuleBasedStateMachine drives random sequences of reports (new
subjects, the same subject, more severe policies, trusted flaggers), claims,
lease expiries, votes (agreeing, disagreeing, approvals and rejections),
releases, escalations, holds and resumes, appeals, SLA breaches and closing
decided cases — all through the real services and sweeps on PostgreSQL. After
every step it checks the invariants:

- at most one open (or held) review per case;
- every decided case has exactly one current decision;
- no seat lost or held by two: an active review's free seats plus its taken
  seats equal the stage's N, nobody holds two seats in one review, a closed
  review keeps no claimed seat;
- no report is absorbed by a closed case;
- the audit trail verifies.

Refusals (domain errors) are fine outcomes of a rule; anything else (an
IntegrityError, an AttributeError, ...) fails the test. Each example runs in
a savepoint that is rolled back at teardown, so every example starts from the
same clean state (the fixtures' people, policies and workflows).
"""

from collections import Counter
from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test

from audit.context import Actor
from audit.models import AuditEvent
from audit.verify import verify_audit
from cases.errors import DomainError
from cases.models import Case, CaseState, Queue, Report
from cases.priority import PRIORITY_MAX
from cases.services import case_close
from reviews.models import Appeal, AppealState, Decision, Outcome, Review, ReviewState, Seat, SeatState, StageKind, Vote
from reviews.services import (
    appeal_file,
    case_escalate,
    case_hold,
    case_resume,
    claim_next,
    seat_assign,
    seat_release,
    vote_cast,
)
from reviews.sweeps import sweep_breaches, sweep_leases
from tests.hypothesis_profiles import examples

pytestmark = pytest.mark.django_db

ACTIVE = (ReviewState.OPEN, ReviewState.ON_HOLD)
SUBJECTS = ("s0", "s1", "s2", "s3")
POLICIES = ("spam", "harassment", "hate", "child_safety")
REPORTERS = (("user", "r0"), ("user", "r1"), ("user", "r2"), ("user", "r3"), ("trusted_flagger", "tf1"))
PICK = st.integers(min_value=0, max_value=63)
# votes agree more often than not (outcome index, policy index), so that stages decide as well as split
CHOICE = st.sampled_from(["no_violation", "no_violation", "remove_content", "remove_content", "ban_account",
                          "ban_account", "suspend_account", "label"])
APPROVE = st.sampled_from([True, True, False])


def _nth(items, index):
    return items[index % len(items)] if items else None


class ReviewCore(RuleBasedStateMachine):
    """Set as class attributes by the test: file_report, people, policies, actor."""

    file_report = None
    people = None
    policies = None
    actor = None
    seen: Counter = Counter()  # audit actions → examples that recorded them

    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.closed_reports: dict = {}  # case id → reports it had when it closed
        self.users = self.people["moderators"] + self.people["seniors"]
        self.lead = self.people["seniors"][-1]  # senior_moderator is a lead group (REVIEW_LEAD_GROUPS)

    def teardown(self):
        # what this example did, so that the test can show it explored more than empty queues
        self.seen.update(set(AuditEvent.objects.values_list("action", flat=True).distinct()))
        self.seen.update({"case.closed"} if self.closed_reports else set())
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # ---- helpers ---------------------------------------------------------------------------------------------

    def _active_reviews(self, *states):
        return list(Review.objects.filter(state__in=states or ACTIVE).select_related("stage", "case")
                    .order_by("opened_at", "pk"))

    def _claimed_seats(self):
        return list(Seat.objects.filter(state=SeatState.CLAIMED).select_related("review__stage", "moderator")
                    .order_by("claimed_at", "pk"))

    # ---- rules -----------------------------------------------------------------------------------------------

    @rule(subject=st.sampled_from(SUBJECTS), policy=st.sampled_from(POLICIES), reporter=st.sampled_from(REPORTERS))
    def report(self, subject, policy, reporter):
        closed_before = set(Case.objects.filter(state=CaseState.CLOSED).values_list("pk", flat=True))
        case_id = self.file_report(external_id=subject, policy=policy, reporter=reporter)
        assert case_id not in closed_before, f"a report about {subject} joined closed case {case_id}"

    def _claim(self, who):
        """claim_next in each queue in turn, as the worklist does; the seat or None."""
        moderator = _nth(self.users, who)
        for queue in Queue.objects.order_by("pk"):
            seat = claim_next(moderator=moderator, queue=queue)
            if seat is not None:
                return Seat.objects.select_related("review__stage", "moderator").get(pk=seat.pk)
        return None

    @initialize(subject=st.sampled_from(SUBJECTS), policy=st.sampled_from(POLICIES))
    def first_report(self, subject, policy):
        self.file_report(external_id=subject, policy=policy, reporter=REPORTERS[0])

    @rule(who=PICK)
    def claim(self, who):
        self._claim(who)

    @rule(who=PICK, votes=st.lists(st.tuples(CHOICE, APPROVE), min_size=1, max_size=3))
    def claim_and_vote(self, who, votes):
        """The common path: one to three moderators in turn claim the next review and vote at once."""
        for offset, (choice, approve) in enumerate(votes):
            seat = self._claim(who + offset)
            if seat is not None:
                self._vote(seat, choice, approve)

    @precondition(lambda self: Seat.objects.filter(state=SeatState.CLAIMED).exists())
    @rule(seat=PICK, choice=CHOICE, approve=APPROVE)
    def vote(self, seat, choice, approve):
        self._vote(_nth(self._claimed_seats(), seat), choice, approve)

    def _vote(self, seat, choice, approve):
        stage = seat.review.stage
        try:
            if stage.kind == StageKind.APPROVAL:
                vote_cast(review_id=seat.review_id, reviewer=seat.moderator, approved=approve,
                          rationale="looks right" if approve else "not convinced")
                return
            allowed = {o.code: o for o in stage.allowed_outcomes.filter(active=True)}
            # an outcome the stage does not allow is a refusal worth trying now and then
            outcome = allowed.get(choice) or Outcome.objects.get(code=choice)
            vote_cast(review_id=seat.review_id, reviewer=seat.moderator, outcome=outcome,
                      policy=self.policies["hate" if choice.endswith("account") else "spam"], rationale=f"vote {choice}",
                      duration_days=7 if outcome.time_limited else None)
        except DomainError:
            pass

    @precondition(lambda self: Review.objects.exists())
    @rule(who=PICK, review=PICK, choice=CHOICE, approve=APPROVE)
    def vote_anywhere(self, who, review, choice, approve):
        """Anyone votes in any review, closed ones included, seated or not (a stale tab, a forged form):
        refused, or counted only where they hold a seat."""
        review = _nth(list(Review.objects.select_related("stage").order_by("opened_at", "pk")), review)
        reviewer = _nth(self.users, who)
        seated = Seat.objects.filter(review=review, moderator=reviewer, state=SeatState.CLAIMED).exists()
        voted_before = Vote.objects.filter(review=review, reviewer=reviewer).exists()
        outcome = Outcome.objects.get(code=choice)
        try:
            vote_cast(review_id=review.pk, reviewer=reviewer, outcome=None if review.stage.kind == StageKind.APPROVAL
                      else outcome, policy=None if review.stage.kind == StageKind.APPROVAL else self.policies["spam"],
                      approved=approve if review.stage.kind == StageKind.APPROVAL else None, rationale="forged",
                      duration_days=7 if outcome.time_limited and review.stage.kind != StageKind.APPROVAL else None)
        except DomainError:
            return
        assert seated or voted_before, f"{reviewer} voted in review {review.pk} without a seat"

    @precondition(lambda self: Review.objects.filter(state__in=ACTIVE).exists())
    @rule(who=PICK, review=PICK)
    def lead_assigns(self, who, review):
        """A lead seats a moderator (any review, held ones included; the moderator may be ineligible)."""
        review = _nth(self._active_reviews(), review)
        try:
            seat_assign(review_id=review.pk, moderator=_nth(self.users, who), lead=self.lead)
        except DomainError:
            pass

    @precondition(lambda self: Seat.objects.filter(state=SeatState.CLAIMED).exists())
    @rule(seat=PICK, expire=st.booleans())
    def give_up_seat(self, seat, expire):
        """The holder releases the seat, or walks away and the lease sweep frees it."""
        seat = _nth(self._claimed_seats(), seat)
        if not expire:
            try:
                seat_release(seat_id=seat.pk, actor_user=seat.moderator, reason="not mine")
            except DomainError:
                pass
            return
        Seat.objects.filter(pk=seat.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
        assert sweep_leases(now=timezone.now()) >= 1
        assert Seat.objects.get(pk=seat.pk).state == SeatState.RELEASED

    @precondition(lambda self: Review.objects.filter(state__in=ACTIVE).exists())
    @rule(review=PICK, by_lead=st.booleans())
    def escalate(self, review, by_lead):
        review = _nth(self._active_reviews(), review)
        holder = Seat.objects.filter(review=review, state=SeatState.CLAIMED).select_related("moderator").first()
        actor = self.lead if by_lead or holder is None else holder.moderator
        try:
            case_escalate(case_id=review.case_id, actor_user=actor, reason="needs a senior look")
        except DomainError:
            pass

    @precondition(lambda self: Review.objects.filter(state__in=ACTIVE).exists())
    @rule(review=PICK)
    def hold_or_resume(self, review):
        review = _nth(self._active_reviews(), review)
        try:
            if review.state == ReviewState.OPEN:
                case_hold(case_id=review.case_id, lead=self.lead, reason="waiting for the platform")
            else:
                case_resume(case_id=review.case_id, lead=self.lead, reason="information arrived")
        except DomainError:
            pass

    @precondition(lambda self: Review.objects.filter(state=ReviewState.OPEN, breached_at__isnull=True,
                                                     due_at__isnull=False).exists())
    @rule(review=PICK, keep_leases=st.booleans())
    def sla_breach(self, review, keep_leases):
        review = _nth(list(Review.objects.filter(state=ReviewState.OPEN, breached_at__isnull=True,
                                                 due_at__isnull=False).order_by("opened_at", "pk")), review)
        past = timezone.now() - timedelta(seconds=1)
        Review.objects.filter(pk=review.pk).update(due_at=past)
        Review.objects.filter(pk=review.pk, warn_at__gt=past).update(warn_at=past)
        if not keep_leases:
            Seat.objects.filter(review=review, state=SeatState.CLAIMED).update(lease_expires_at=past)
            sweep_leases(now=timezone.now())
        assert sweep_breaches(now=timezone.now()) >= 1
        assert Review.objects.get(pk=review.pk).breached_at is not None

    @precondition(lambda self: Case.objects.filter(state=CaseState.DECIDED).exists())
    @rule(case=PICK, action=st.sampled_from(["reporter appeals", "user appeals", "user appeals", "close"]))
    def after_decision(self, case, action):
        """An appeal by the reporter or the affected user, or the close that the
        auto-close sweep makes once a decision's appeal window passed unused."""
        case = _nth(list(Case.objects.filter(state=CaseState.DECIDED).order_by("opened_at", "pk")), case)
        try:
            if action == "close":
                case_close(case_id=case.pk, actor=self.actor, reason="appeal window passed", trigger="auto_close")
                self.closed_reports[case.pk] = Report.objects.filter(case_id=case.pk).count()
            else:
                reporter = action.startswith("reporter")
                appeal_file(case_id=case.pk, appellant_kind="reporter" if reporter else "affected_user",
                            appellant_external_id="r0" if reporter else "author", statement="this is wrong",
                            actor=self.actor)
        except DomainError:
            pass

    # ---- invariants ------------------------------------------------------------------------------------------

    @invariant()
    def at_most_one_active_review_per_case(self):
        doubled = list(Review.objects.filter(state__in=ACTIVE).values("case_id").annotate(n=Count("pk"))
                       .filter(n__gt=1))
        assert not doubled, doubled

    @invariant()
    def decided_cases_have_exactly_one_current_decision(self):
        wrong = list(Case.objects.filter(state=CaseState.DECIDED)
                     .annotate(current=Count("decisions", filter=Q(decisions__is_current=True)))
                     .exclude(current=1).values("pk", "current"))
        assert not wrong, wrong
        assert not Decision.objects.values("case_id").filter(is_current=True).annotate(n=Count("pk")).filter(n__gt=1)

    @invariant()
    def no_seat_lost_or_held_by_two(self):
        for review in Review.objects.filter(state__in=ACTIVE).select_related("stage"):
            taken = Seat.objects.filter(review=review, state__in=[SeatState.CLAIMED, SeatState.VOTED]).count()
            assert review.free_seats + taken == review.stage.seats, (
                f"review {review.pk} ({review.stage.key}): {review.free_seats} free + {taken} taken "
                f"!= {review.stage.seats} seats")
        twice = list(Seat.objects.filter(state__in=[SeatState.CLAIMED, SeatState.VOTED])
                     .values("review_id", "moderator_id").annotate(n=Count("pk")).filter(n__gt=1))
        assert not twice, twice
        stale = Seat.objects.filter(state=SeatState.CLAIMED).exclude(review__state__in=ACTIVE).count()
        assert stale == 0, f"{stale} claimed seats in closed reviews"

    @invariant()
    def closed_cases_absorb_no_report(self):
        for case_id, count in self.closed_reports.items():
            case = Case.objects.get(pk=case_id)
            assert case.state == CaseState.CLOSED and case.closed_at is not None
            assert Report.objects.filter(case_id=case_id).count() == count, f"closed case {case_id} took a report"
            assert not Review.objects.filter(case_id=case_id, state__in=ACTIVE).exists()

    @invariant()
    def case_state_matches_its_reviews(self):
        """A case under review has exactly one active review (held exactly when the case is on hold); a
        decided or closed case has none; an open appeal is being reviewed; priorities stay under the cap."""
        active = dict(Review.objects.filter(state__in=ACTIVE).values_list("case_id", "state"))
        for case_id, state in Case.objects.values_list("pk", "state"):
            if state in (CaseState.DECIDED, CaseState.CLOSED):
                assert case_id not in active, f"{state} case {case_id} has an active review"
            else:
                assert case_id in active, f"{state} case {case_id} has no active review"
                assert (state == CaseState.ON_HOLD) == (active[case_id] == ReviewState.ON_HOLD), (
                    f"case {case_id} is {state} but its review is {active[case_id]}")
        for appeal in Appeal.objects.filter(state=AppealState.OPEN):
            assert Review.objects.filter(appeal=appeal, state__in=ACTIVE).exists(), f"appeal {appeal.pk} unreviewed"
        assert not Case.objects.filter(priority__gt=PRIORITY_MAX).exists()

    @invariant()
    def audit_trail_verifies(self):
        result = verify_audit()
        assert result.ok, result


def test_random_sequences_keep_the_review_core_consistent(file_report, people, policy_book, system_actor):
    ReviewCore.file_report = staticmethod(file_report)
    ReviewCore.people = people
    ReviewCore.policies = policy_book
    ReviewCore.actor = Actor.system("stateful")
    ReviewCore.seen = Counter()
    run_state_machine_as_test(
        ReviewCore, settings=settings(max_examples=examples(20), stateful_step_count=30, deadline=None))
    # the machine explored more than empty queues: reviews were worked, decided, escalated and breached
    explored = {"review.seat_claimed", "vote.cast", "decision.made", "case.escalated", "case.sla_breached"}
    assert explored <= set(ReviewCore.seen), sorted(ReviewCore.seen.items())
