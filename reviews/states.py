"""The review, seat and appeal state machines: one table of allowed
transitions each, one function each that enforces it (like cases/states.py).

Each check returns False when the row is already in the target state (a
repeated call finds the work done), True when the move is allowed, and raises
a domain error with a stable `code` otherwise. Bulk writers (the sweeps) use
`*_sources(target)` in their compare-and-swap `WHERE state IN (...)`.
"""

from .errors import AppealTransitionNotAllowed, ReviewTransitionNotAllowed, SeatTransitionNotAllowed
from .models import AppealState as A
from .models import ReviewState as R
from .models import SeatState as S

# open → on_hold (a lead's hold) and back; open or on hold → a closing state.
# Closing states are final: a later stage is a new review, never a re-opened one.
REVIEW_TRANSITIONS: dict[str, set[str]] = {
    R.OPEN: {R.ON_HOLD, R.CONSENSUS, R.SPLIT, R.CANCELLED, R.TIMED_OUT},
    R.ON_HOLD: {R.OPEN, R.CANCELLED},
    R.CONSENSUS: set(),
    R.SPLIT: set(),
    R.CANCELLED: set(),
    R.TIMED_OUT: set(),
}

# A seat is claimed, then either voted or released (by its holder, a lead,
# an expired lease or the review closing). Both ends are final: a moderator
# who comes back takes a new seat row.
SEAT_TRANSITIONS: dict[str, set[str]] = {
    S.CLAIMED: {S.VOTED, S.RELEASED},
    S.VOTED: set(),
    S.RELEASED: set(),
}

APPEAL_TRANSITIONS: dict[str, set[str]] = {
    A.OPEN: {A.DECIDED},
    A.DECIDED: set(),
}

ACTIVE_REVIEW_STATES: tuple[str, ...] = (R.OPEN, R.ON_HOLD)


def _check(table: dict[str, set[str]], error: type, noun: str, current: str, target: str) -> bool:
    if current == target:
        return False
    if target not in table[current]:
        raise error(f"a {noun} cannot go from {current!r} to {target!r}")
    return True


def review_check_transition(current: str, target: str) -> bool:
    return _check(REVIEW_TRANSITIONS, ReviewTransitionNotAllowed, "review", current, target)


def seat_check_transition(current: str, target: str) -> bool:
    return _check(SEAT_TRANSITIONS, SeatTransitionNotAllowed, "seat", current, target)


def appeal_check_transition(current: str, target: str) -> bool:
    return _check(APPEAL_TRANSITIONS, AppealTransitionNotAllowed, "appeal", current, target)


def review_sources(target: str) -> list[str]:
    """The states a review may leave for `target` (for CAS updates)."""
    return [str(state) for state, targets in REVIEW_TRANSITIONS.items() if target in targets]


def seat_sources(target: str) -> list[str]:
    return [str(state) for state, targets in SEAT_TRANSITIONS.items() if target in targets]
