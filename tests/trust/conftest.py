import pytest
from django.contrib.auth.models import User

from audit.context import Actor
from reviews.models import Decision, Outcome, Review
from reviews.services import seat_assign, vote_cast
from trust.flaggers import flagger_save
from trust.models import TrustedFlagger

from ..integrations.conftest import client_for  # noqa: F401  (the same fixture here)
from ..integrations.test_mastodon import mastodon  # noqa: F401  (a platform adapter, for tests/trust)

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
    """`mods` take seats on the case's open review (assigned by the lead admin1) and vote `code`; returns the
    current decision."""
    lead = User.objects.get(username="admin1")
    for mod in mods:
        review = Review.objects.get(case_id=case_id, state="open")
        seat_assign(review_id=review.pk, moderator=mod, lead=lead)
        vote_cast(review_id=review.pk, reviewer=mod, outcome=Outcome.objects.get(code=code), policy=policy,
                  rationale=f"{code} by {mod.username}", duration_days=duration_days)
    return Decision.objects.get(case_id=case_id, is_current=True)



def run_together(calls, timeout=120):
    """Runs each callable on its own thread (its own database connection), released together by a barrier;
    returns their results in order, an exception in place of a result that raised."""
    import threading

    from django.db import connection

    barrier, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except Exception as exc:  # returned to the test, which asserts on it
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a thread hung (deadlock?)"
    return results
