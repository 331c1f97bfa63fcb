import pytest

from audit.context import Actor
from cases.models import Queue
from reviews.models import Decision, Outcome
from reviews.services import claim_next, vote_cast
from trust.flaggers import flagger_save
from trust.models import TrustedFlagger

from ..integrations.conftest import client_for  # noqa: F401  (the same fixture here)

ADMIN = Actor.system("tests-admin")


@pytest.fixture
def register_flagger(policy_book):
    def register(name="Safe Kids NGO", *, expertise=("child_safety",), api_client_id=None, identities=(),
                 status="active"):
        flagger = TrustedFlagger(name=name, api_client_id=api_client_id, status=status)
        return flagger_save(flagger=flagger, actor=ADMIN, expertise=[policy_book[c] for c in expertise],
                            identities=list(identities))

    return register


def decide(case_id, mods, code, policy, duration_days=None):
    """Two moderators vote `code` on the case's open default-queue review; returns the current decision."""
    queue = Queue.objects.get(slug="general")
    for mod in mods:
        seat = claim_next(moderator=mod, queue=queue)
        assert seat is not None and str(seat.review.case_id) == str(case_id)
        vote_cast(review_id=seat.review_id, reviewer=mod, outcome=Outcome.objects.get(code=code), policy=policy,
                  rationale=f"{code} by {mod.username}", duration_days=duration_days)
    return Decision.objects.get(case_id=case_id, is_current=True)

