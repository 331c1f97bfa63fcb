"""The consensus rule as a pure function, checked exhaustively for small
(M, N) and by property-based tests over vote sequences."""

import itertools
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reviews.consensus import CONSENSUS, PENDING, SPLIT, evaluate
from tests.hypothesis_profiles import examples


def reference(quorum, seats, votes):
    """A slow, obviously-correct statement of the rule."""
    for i in range(1, len(votes) + 1):
        counts = Counter(votes[:i])
        winners = [k for k, c in counts.items() if c >= quorum]
        if winners:
            return CONSENSUS, votes[i - 1]
    counts = Counter(votes)
    left = seats - len(votes)
    if all(counts.get(k, 0) + left < quorum for k in set(votes) | {"__any_new_key__"}):
        return SPLIT, None
    return PENDING, None


@st.composite
def scenario(draw):
    seats = draw(st.integers(min_value=1, max_value=7))
    quorum = draw(st.integers(min_value=1, max_value=seats))
    votes = draw(st.lists(st.sampled_from(["remove", "label", "no_violation"]), max_size=seats))
    return quorum, seats, votes


@settings(max_examples=examples(400), deadline=None)
@given(scenario())
def test_matches_the_reference_rule(case):
    quorum, seats, votes = case
    tally = evaluate(quorum=quorum, seats=seats, votes=votes)
    assert (tally.state, tally.key) == reference(quorum, seats, votes)


@settings(max_examples=examples(300), deadline=None)
@given(scenario())
def test_consensus_is_reached_at_exactly_the_m_th_matching_vote(case):
    quorum, seats, votes = case
    tally = evaluate(quorum=quorum, seats=seats, votes=votes)
    if tally.state == CONSENSUS:
        prefix = votes[: tally.votes_cast]
        assert prefix.count(tally.key) == quorum
        assert all(evaluate(quorum=quorum, seats=seats, votes=votes[:i]).state != CONSENSUS
                   for i in range(tally.votes_cast))


@settings(max_examples=examples(300), deadline=None)
@given(scenario())
def test_a_split_is_final_and_pending_can_still_agree(case):
    quorum, seats, votes = case
    tally = evaluate(quorum=quorum, seats=seats, votes=votes)
    left = seats - len(votes)
    if tally.state == SPLIT:
        # No way to fill the remaining seats reaches M for any key.
        for fill in itertools.product(["remove", "label", "no_violation", "other"], repeat=left):
            assert evaluate(quorum=quorum, seats=seats, votes=votes + list(fill)).state != CONSENSUS
    if tally.state == PENDING:
        assert left > 0
        best = Counter(votes).most_common(1)[0][0] if votes else "remove"
        completed = votes + [best] * left
        assert evaluate(quorum=quorum, seats=seats, votes=completed).state == CONSENSUS


@pytest.mark.parametrize("quorum, seats", [(m, n) for n in range(1, 6) for m in range(1, 4) if m <= n])
def test_unanimous_votes_agree_after_m_votes(quorum, seats):
    tally = evaluate(quorum=quorum, seats=seats, votes=["remove"] * quorum)
    assert tally.state == CONSENSUS and tally.votes_cast == quorum and tally.seats_left == seats - quorum


def test_two_of_three_split_after_three_different_votes():
    assert evaluate(quorum=2, seats=3, votes=["a", "b"]).state == PENDING
    assert evaluate(quorum=2, seats=3, votes=["a", "b", "c"]).state == SPLIT


def test_three_of_five_splits_early_when_no_key_can_reach_three():
    # a, b, c, d: one seat left, best count 1 → 1 + 1 < 3
    assert evaluate(quorum=3, seats=5, votes=["a", "b", "c", "d"]).state == SPLIT
    assert evaluate(quorum=3, seats=5, votes=["a", "b", "a"]).state == PENDING


@pytest.mark.parametrize("quorum, seats", [(0, 1), (3, 2)])
def test_invalid_m_n(quorum, seats):
    with pytest.raises(ValueError):
        evaluate(quorum=quorum, seats=seats, votes=[])
