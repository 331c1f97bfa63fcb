"""The case state machine: one table of allowed transitions, one check.

The life of a case (docs/ARCHITECTURE.md, "Case lifecycle")::

    open ──claim──▶ in_review ──decision──▶ decided ──sweep──▶ closed
      ▲  ▲             │  ▲                  │   │
      │  └─re-route────┘  └──appeal──────────┘   │
      └───────────── re-review round ◀───────────┘

What each state accepts:

- open, in_review, escalated, on_hold: reports join the case (counts,
  priority); a report whose policy routes to a more severe workflow moves the
  case there (re-routing, never downwards).
- decided: a report is judged by the re-review rules (cases.rereview): it
  re-opens review (a new round on the same case, linked to the decision it may
  supersede) or joins as a post-decision report (counted, shown, no review).
  Appeals are accepted within the appeal window.
- closed: final. Accepts nothing: a later report about the subject opens a
  new case linked to this one (`previous_case`). The auto-close sweep closes
  a decided case once its decision was delivered and its appeal window passed.

F2 (reviews) drives most transitions; closing and re-opening rules live here.
"""

from .errors import TransitionNotAllowed
from .models import CaseState as S

ALLOWED_TRANSITIONS = {
    S.OPEN: {S.IN_REVIEW, S.ESCALATED, S.ON_HOLD, S.DECIDED, S.CLOSED},
    S.IN_REVIEW: {S.OPEN, S.ESCALATED, S.ON_HOLD, S.DECIDED, S.CLOSED},
    # escalated → open: re-routed to a more severe workflow, whose first stage waits for a reviewer.
    S.ESCALATED: {S.OPEN, S.IN_REVIEW, S.ON_HOLD, S.DECIDED, S.CLOSED},
    S.ON_HOLD: {S.OPEN, S.IN_REVIEW, S.ESCALATED, S.CLOSED},
    # decided → open: a re-review round; decided → in_review: an appeal.
    S.DECIDED: {S.OPEN, S.IN_REVIEW, S.CLOSED},
    S.CLOSED: set(),
}

# States in which a report joins the case and may re-route it.
REVIEWING_STATES = frozenset({S.OPEN, S.IN_REVIEW, S.ESCALATED, S.ON_HOLD})


def check_transition(current, target):
    """Returns False when the case is already in `target` (nothing to do),
    True when the move is allowed, and raises TransitionNotAllowed otherwise."""
    if current == target:
        return False
    if target not in ALLOWED_TRANSITIONS[S(current)]:
        raise TransitionNotAllowed(f"a case cannot go from {S(current).value!r} to {S(target).value!r}")
    return True
