import pytest

from cases.models import Queue
from dsa.defaults import install_default_dsa_mappings
from reviews.models import Decision, Outcome
from reviews.services import claim_next, vote_cast
from tests.reviews.conftest import file_report, source  # noqa: F401  (shared fixtures)


@pytest.fixture
def dsa_defaults(workflows):
    install_default_dsa_mappings()


@pytest.fixture
def decide(people, policy_book):
    """Two moderators agree on `outcome` under `policy` in the standard workflow; returns the decision."""

    def run(case_id, outcome="remove_content", policy="spam", rationale="internal note", public_explanation="",
            duration_days=None):
        queue = Queue.objects.get(slug="general")
        for mod in people["moderators"][:2]:
            seat = claim_next(moderator=mod, queue=queue)
            assert seat is not None and str(seat.review.case_id) == str(case_id)
            vote_cast(review_id=seat.review_id, reviewer=mod, outcome=Outcome.objects.get(code=outcome),
                      policy=policy_book[policy], rationale=rationale, public_explanation=public_explanation,
                      duration_days=duration_days)
        return Decision.objects.get(case_id=case_id, is_current=True)

    return run
