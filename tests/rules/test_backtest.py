"""A backtest's figures equal a hand count over a fixture of decided cases."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cases.models import Queue
from cases.services import ReportInput, SubjectInput
from reviews.intake import report_intake
from reviews.models import Decision, Outcome, Seat, Vote
from reviews.services import claim_next, vote_cast
from rules.backtest import NO_MATCH, backtest

RULE = 'report.policy == "spam" && contains_any(subject.text, ["casino"])'
EFFECTS = [{"type": "raise_priority", "by": 100}]

# (external id, policy, text, human outcome or None for still open, minutes each reviewer spent)
FIXTURE = [
    ("c1", "spam", "Best casino bonus", "remove_content", 10),
    ("c2", "spam", "CASINO night", "remove_content", 20),
    ("c3", "spam", "casino casino", "remove_content", 30),
    ("c4", "spam", "a casino review, no ad", "no_violation", 40),
    ("c5", "spam", "cheap pills", "remove_content", 50),
    ("c6", "harassment", "casino insult", "label", 60),
    ("c7", "harassment", "you are dumb", "no_violation", 70),
    ("o1", "spam", "casino link", None, 0),
    ("o2", "spam", "nothing here", None, 0),
]


@pytest.fixture
def decided_fixture(workflows, people, policy_book, source, system_actor):
    queue = Queue.objects.get(slug="general")
    mods = people["moderators"]
    # Decided long before the period: not counted.
    item = ReportInput(subject=SubjectInput(kind="content", external_id="old", fields={"latest_text": "casino"},
                                            as_received={}), policy=policy_book["spam"], reporter_kind="user")
    old = report_intake(source=source, api_client_id=None, actor=system_actor, item=item).case_id
    for mod in mods[:2]:
        seat = claim_next(moderator=mod, queue=queue)
        vote_cast(review_id=seat.review_id, reviewer=mod, outcome=Outcome.objects.get(code="remove_content"),
                  policy=policy_book["spam"], rationale="old")
    Decision.objects.filter(case_id=old).update(decided_at=timezone.now() - timedelta(days=30))
    cases = {}
    for external_id, policy, text, outcome, minutes in FIXTURE:
        item = ReportInput(subject=SubjectInput(kind="content", external_id=external_id, fields={"latest_text": text},
                                                as_received={}),
                           policy=policy_book[policy], reporter_kind="user", reporter_external_id=f"r-{external_id}")
        case_id = report_intake(source=source, api_client_id=None, actor=system_actor, item=item).case_id
        cases[external_id] = case_id
        if outcome is None:
            continue
        for mod in mods[:2]:
            seat = claim_next(moderator=mod, queue=queue)
            assert str(seat.review.case_id) == str(case_id)
            vote_cast(review_id=seat.review_id, reviewer=mod, outcome=Outcome.objects.get(code=outcome),
                      policy=policy_book[policy], rationale="fixture")
        for vote in Vote.objects.filter(review__case_id=case_id):
            Seat.objects.filter(review_id=vote.review_id, moderator_id=vote.reviewer_id).update(
                claimed_at=vote.cast_at - timedelta(minutes=minutes))
    return cases


def test_backtest_equals_a_hand_count(decided_fixture):
    now = timezone.now()
    result = backtest(expression=RULE, effects=EFFECTS, predicts="remove_content", start=now - timedelta(days=1),
                      end=now + timedelta(hours=1))
    # By hand: matched c1 c2 c3 (removed) and c4 (no violation); c5 was removed but not matched.
    assert result.decided == 7
    assert result.matched == 4
    assert result.matrix == {
        ("remove_content", "remove_content"): 3, ("no_violation", "remove_content"): 1,
        ("remove_content", NO_MATCH): 1, ("label", NO_MATCH): 1, ("no_violation", NO_MATCH): 1,
    }
    figures = {f.outcome: f for f in result.outcomes()}
    assert figures["remove_content"].precision == 3 / 4
    assert figures["remove_content"].recall == 3 / 4
    assert figures["no_violation"].precision is None and figures["no_violation"].recall == 0
    assert [str(d["case_id"]) for d in result.disagreements] == [decided_fixture["c4"]]
    assert [str(d["case_id"]) for d in result.misses] == [decided_fixture["c5"]]
    # Two reviewers each on c1, c2, c3: 2 × (10 + 20 + 30) minutes = 2 hours.
    assert result.reviewer_hours_saved == pytest.approx(2.0)
    # Still open: o1 matches and would be raised by 100; o2 does not.
    assert (result.open_cases, result.open_matched) == (2, 1)
    assert result.open_effects == {"raise_priority": 1}
    assert str(result.open_examples[0]["case_id"]) == decided_fixture["o1"]
    assert result.open_examples[0]["effects"][0]["priority"] == result.open_examples[0]["priority"] + 100


def test_an_empty_period_gives_zeros(decided_fixture):
    now = timezone.now()
    result = backtest(expression=RULE, effects=[], predicts="remove_content", start=now + timedelta(days=1),
                      end=now + timedelta(days=2), include_open=False)
    assert (result.decided, result.matched, result.reviewer_hours_saved) == (0, 0, 0)
    assert result.outcomes() == []


def test_a_backtest_reads_window_counts_when_the_condition_uses_them(decided_fixture):
    now = timezone.now()
    result = backtest(expression='report.policy == "spam" && counts.reports_last_hour >= 1', effects=[],
                      predicts="remove_content", start=now - timedelta(days=1), end=now + timedelta(hours=1),
                      include_open=False)
    # Every spam case of the fixture (c1–c5) has its one report in its first hour.
    assert result.matched == 5
    assert result.matrix[("remove_content", "remove_content")] == 4


def test_a_backtest_reads_the_signals_a_report_had_at_intake_and_says_when_it_cannot(
        workflows, people, policy_book, source, system_actor):
    """The reporter was new when the report arrived; the decision then gave them a record. A backtest must see
    the reporter as intake did (the snapshot), not as the very decision it is compared with left them."""
    from signals.models import ReporterReputation, ReportSignals

    item = ReportInput(subject=SubjectInput(kind="content", external_id="s1", fields={"latest_text": "x"},
                                            as_received={}),
                       policy=policy_book["spam"], reporter_kind="user", reporter_external_id="fresh")
    filed = report_intake(source=source, api_client_id=None, actor=system_actor, item=item)
    for mod in people["moderators"][:2]:
        seat = claim_next(moderator=mod, queue=Queue.objects.get(slug="general"))
        vote_cast(review_id=seat.review_id, reviewer=mod, outcome=Outcome.objects.get(code="remove_content"),
                  policy=policy_book["spam"], rationale="spam")
    assert ReporterReputation.objects.get(reporter_key="fresh").upheld == 1  # today: not new any more
    now = timezone.now()

    def run():
        return backtest(expression="signals.reporter_is_new", effects=[], predicts="remove_content",
                        start=now - timedelta(days=1), end=now + timedelta(hours=1), include_open=False)

    result = run()
    assert (result.matched, result.signals_snapshot, result.signals_today) == (1, 1, 0)
    assert result.as_json()["signals"] == {"snapshot": 1, "today": 0}
    # A report from before the snapshots: today's values, and the result says so.
    ReportSignals.objects.filter(report_id=filed.body["report_id"]).delete()
    result = run()
    assert (result.matched, result.signals_snapshot, result.signals_today) == (0, 0, 1)
    assert result.as_json()["signals"] == {"snapshot": 0, "today": 1}
    # A condition that reads no signals says nothing about them.
    assert backtest(expression="true", effects=[], predicts="remove_content", start=now - timedelta(days=1),
                    end=now + timedelta(hours=1), include_open=False).as_json()["signals"] is None
