"""Votes at the same moment, with real threads and PostgreSQL connections."""

import threading

import pytest
from django.db import connection, transaction

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


def test_a_writer_of_the_case_trail_waits_for_a_claim_and_chains_after_it(file_report, people, monkeypatch):
    """claim_next locks the case stream's audit head in its pick (SKIP LOCKED) and appends at the
    head it read: another writer of the case's trail (a note, from another connection) arriving
    while the claim is under way waits for it, and both events end up in one chain."""
    import audit
    from audit.context import Actor
    from audit.models import AuditEvent
    from audit.services import case_stream
    from reviews.services import seats
    from tests.audit.conftest import wait_until_lock_waiters

    case_id = file_report(external_id="moving-trail")
    general = Queue.objects.get(slug="general")
    original, calls, writers = seats._take_seat, [], []

    def append():
        try:
            with transaction.atomic():
                audit.record(stream=case_stream(case_id), action="review.note_added", actor=Actor.system("tests"),
                             target_type="case", target_id=case_id, data={})
        finally:
            connection.close()

    seen = []

    def watch():
        try:
            wait_until_lock_waiters(1)
            seen.append("waiting")
        finally:
            connection.close()

    def take_seat_while_someone_appends(**kwargs):
        calls.append(kwargs["review"].pk)
        writer = threading.Thread(target=append)
        writer.start()
        writers.append(writer)
        # The note waits for the claim's lock on the head. (Watched from a connection of its own: inside
        # the claim's transaction PostgreSQL would show the same pg_stat_activity snapshot throughout.)
        watcher = threading.Thread(target=watch)
        watcher.start()
        watcher.join(timeout=90)
        assert seen == ["waiting"]
        return original(**kwargs)

    monkeypatch.setattr(seats, "_take_seat", take_seat_while_someone_appends)
    seat = claim_next(moderator=people["moderators"][0], queue=general)
    writers[0].join(timeout=60)
    assert not writers[0].is_alive()
    assert seat is not None and calls == [seat.review_id]  # no second attempt
    trail = list(AuditEvent.objects.filter(stream=case_stream(case_id)).order_by("seq").values_list("action", flat=True))
    assert trail[-3:] == ["case.state_changed", "review.seat_claimed", "review.note_added"]
    assert verify_audit().ok


def test_a_claim_skips_a_case_whose_trail_another_writer_holds(file_report, people):
    """The pick takes the audit head with SKIP LOCKED like the review: while a long transaction
    holds the first case's head, a claim gets the next case instead of waiting."""
    import audit
    from audit.context import Actor
    from audit.services import case_stream
    from reviews.models import Review as R

    first = file_report(external_id="held-trail")
    file_report(external_id="free-trail")
    general = Queue.objects.get(slug="general")
    holding, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                audit.record(stream=case_stream(first), action="review.note_added", actor=Actor.system("tests"),
                             target_type="case", target_id=first, data={})
                holding.set()
                release.wait(timeout=60)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(timeout=60)
        seat = claim_next(moderator=people["moderators"][0], queue=general)
    finally:
        release.set()
        holder.join(timeout=60)
    assert seat is not None and R.objects.get(pk=seat.review_id).case_id != first


@pytest.mark.django_db
def test_a_claim_is_a_fixed_handful_of_statements(file_report, people):
    """The pick (groups, seats, hidden queues, identities and the audit head in one query), the
    seat with the review's count, and one audit statement; the case's first claim adds its move
    to in review (lock and update)."""
    from django.test.utils import CaptureQueriesContext

    file_report(external_id="counted")
    general = Queue.objects.get(slug="general")
    mods = people["moderators"]
    statements = []
    for moderator in mods[:2]:
        with CaptureQueriesContext(connection) as ctx:
            assert claim_next(moderator=moderator, queue=general) is not None
        statements.append([q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]])
    first, second = statements
    assert len(first) == 5, first  # + SELECT … FOR UPDATE and UPDATE of the case
    assert len(second) == 3, second
    assert second[0].startswith("SELECT") and "SKIP LOCKED" in second[0]
    assert second[-1].startswith("WITH moved AS")
