"""The case state machine: one table of allowed transitions, one check.

F2 (reviews) drives most transitions; closing and re-opening rules live here.
"""

from .errors import TransitionNotAllowed
from .models import CaseState as S

ALLOWED_TRANSITIONS = {
    S.OPEN: {S.IN_REVIEW, S.ESCALATED, S.ON_HOLD, S.DECIDED, S.CLOSED},
    S.IN_REVIEW: {S.OPEN, S.ESCALATED, S.ON_HOLD, S.DECIDED, S.CLOSED},
    S.ESCALATED: {S.IN_REVIEW, S.ON_HOLD, S.DECIDED, S.CLOSED},
    S.ON_HOLD: {S.OPEN, S.IN_REVIEW, S.ESCALATED, S.CLOSED},
    S.DECIDED: {S.IN_REVIEW, S.CLOSED},
    S.CLOSED: set(),
}


def check_transition(current, target):
    """Returns False when the case is already in `target` (nothing to do),
    True when the move is allowed, and raises TransitionNotAllowed otherwise."""
    if current == target:
        return False
    if target not in ALLOWED_TRANSITIONS[S(current)]:
        raise TransitionNotAllowed(f"a case cannot go from {S(current).value!r} to {S(target).value!r}")
    return True
