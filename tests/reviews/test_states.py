import pytest

from reviews.errors import AppealTransitionNotAllowed, ReviewTransitionNotAllowed, SeatTransitionNotAllowed
from reviews.models import AppealState, ReviewState, SeatState
from reviews.states import (
    REVIEW_TRANSITIONS,
    SEAT_TRANSITIONS,
    appeal_check_transition,
    review_check_transition,
    review_sources,
    seat_check_transition,
    seat_sources,
)


def test_every_state_has_a_row():
    assert set(REVIEW_TRANSITIONS) == set(ReviewState.values)
    assert set(SEAT_TRANSITIONS) == set(SeatState.values)


def test_allowed_moves_and_repeats():
    assert review_check_transition(ReviewState.OPEN, ReviewState.CONSENSUS) is True
    assert review_check_transition(ReviewState.ON_HOLD, ReviewState.OPEN) is True
    assert review_check_transition(ReviewState.SPLIT, ReviewState.SPLIT) is False
    assert seat_check_transition(SeatState.CLAIMED, SeatState.VOTED) is True
    assert appeal_check_transition(AppealState.OPEN, AppealState.DECIDED) is True


@pytest.mark.parametrize("current,target", [
    (ReviewState.CONSENSUS, ReviewState.OPEN),
    (ReviewState.TIMED_OUT, ReviewState.OPEN),
    (ReviewState.ON_HOLD, ReviewState.CONSENSUS),  # a held review takes no votes
    (ReviewState.CANCELLED, ReviewState.ON_HOLD),
])
def test_closed_reviews_stay_closed(current, target):
    with pytest.raises(ReviewTransitionNotAllowed) as raised:
        review_check_transition(current, target)
    assert raised.value.code == "review_transition_not_allowed"


def test_seat_and_appeal_ends_are_final():
    with pytest.raises(SeatTransitionNotAllowed) as raised:
        seat_check_transition(SeatState.RELEASED, SeatState.CLAIMED)
    assert raised.value.code == "seat_transition_not_allowed"
    with pytest.raises(SeatTransitionNotAllowed):
        seat_check_transition(SeatState.VOTED, SeatState.RELEASED)
    with pytest.raises(AppealTransitionNotAllowed) as raised:
        appeal_check_transition(AppealState.DECIDED, AppealState.OPEN)
    assert raised.value.code == "appeal_transition_not_allowed"


def test_sources_for_compare_and_swap():
    assert set(review_sources(ReviewState.CANCELLED)) == {"open", "on_hold"}
    assert review_sources(ReviewState.TIMED_OUT) == ["open"]
    assert seat_sources(SeatState.RELEASED) == ["claimed"]
