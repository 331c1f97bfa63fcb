"""Consensus as a pure function: M of N reviewers must agree.

Votes are compared by key (for review stages: (outcome, policy); for
approvals: approve or reject). As soon as one key has M votes the stage has
consensus on it, even if not all N have voted. When the seats left can no
longer bring any key to M, the stage is split.
"""

from collections import Counter
from dataclasses import dataclass

PENDING = "pending"
CONSENSUS = "consensus"
SPLIT = "split"


@dataclass(frozen=True)
class Tally:
    state: str
    key: object = None
    votes_cast: int = 0
    seats_left: int = 0


def requirement(*, stage_quorum: int, stage_seats: int, required_quorum: int | None = None,
                required_seats: int | None = None) -> tuple[int, int]:
    """(M, N) of one review: the stage's, raised (never lowered) by what a
    rule required for this case; N is at least M."""
    quorum = max(stage_quorum, required_quorum or 0)
    return quorum, max(stage_seats, required_seats or 0, quorum)


def evaluate(*, quorum, seats, votes):
    """`votes` is the sequence of vote keys in the order they were cast."""
    if not 1 <= quorum <= seats:
        raise ValueError(f"need 1 ≤ M ≤ N, got M={quorum}, N={seats}")
    if len(votes) > seats:
        raise ValueError(f"{len(votes)} votes for {seats} seats")
    counts = Counter()
    for cast, key in enumerate(votes, start=1):
        counts[key] += 1
        if counts[key] >= quorum:
            return Tally(CONSENSUS, key, cast, seats - cast)
    left = seats - len(votes)
    best = max(counts.values(), default=0)
    if best + left < quorum:
        return Tally(SPLIT, None, len(votes), left)
    return Tally(PENDING, None, len(votes), left)
