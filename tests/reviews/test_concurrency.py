"""Votes at the same moment, with real threads and PostgreSQL connections."""

import threading

import pytest
from django.db import connection

from audit.verify import verify_audit
from cases.models import Queue
from reviews.models import Decision, Outcome, Review, Vote
from reviews.services import claim_next, vote_cast

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def together(calls):
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait(timeout=30)
            results[i] = call()
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return results


def test_n_reviewers_voting_at_once_make_one_result_and_one_decision(file_report, people, policy_book):
    remove = Outcome.objects.get(code="remove_content")
    for round_ in range(5):
        case_id = file_report(external_id=f"race-{round_}")
        seats = [claim_next(moderator=m, queue=Queue.objects.get(slug="general")) for m in people["moderators"][:3]]
        assert all(str(s.review.case_id) == str(case_id) for s in seats)
        results = together([
            (lambda s=s: vote_cast(review_id=s.review_id, reviewer=s.moderator, outcome=remove,
                                   policy=policy_book["spam"], rationale="spam"))
            for s in seats
        ])
        counted = [r for r in results if not isinstance(r, Exception)]
        refused = [r for r in results if isinstance(r, Exception)]
        # Two votes reach the quorum; the third either lands first (and counts) or finds the stage closed.
        assert len(counted) >= 2
        assert all(type(r).__name__ == "ReviewClosed" for r in refused), refused
        assert Decision.objects.filter(case_id=case_id).count() == 1
        assert Review.objects.get(case_id=case_id, state="consensus").result_outcome == remove
        assert Vote.objects.filter(review__case_id=case_id).count() == len(counted)
    assert verify_audit().ok


def test_a_double_submission_is_one_vote(file_report, people, policy_book):
    file_report()
    mod = people["moderators"][0]
    seat = claim_next(moderator=mod, queue=Queue.objects.get(slug="general"))
    label = Outcome.objects.get(code="label")
    results = together([
        (lambda: vote_cast(review_id=seat.review_id, reviewer=mod, outcome=label, policy=policy_book["spam"],
                           rationale="label it"))
        for _ in range(6)
    ])
    assert not [r for r in results if isinstance(r, Exception)]
    assert len({r.pk for r in results}) == 1
    assert Vote.objects.count() == 1


def test_concurrent_claims_never_share_a_seat(file_report, people):
    for i in range(4):
        file_report(external_id=f"c{i}")
    general = Queue.objects.get(slug="general")
    mods = people["moderators"]
    results = together([(lambda m=m: [claim_next(moderator=m, queue=general) for _ in range(4)]) for m in mods])
    seats = [s for r in results for s in r if s is not None]
    assert not [r for r in results if isinstance(r, Exception)]
    # 4 cases × 3 seats = 12 seats, 5 moderators × at most 4 cases each.
    assert len(seats) == 12
    per_review = {}
    for s in seats:
        per_review.setdefault(s.review_id, []).append(s.moderator_id)
    assert all(len(v) == len(set(v)) == 3 for v in per_review.values())
    assert set(Review.objects.values_list("free_seats", flat=True)) == {0}
