"""Two sweepers at once over the same due rows act once per row."""

import threading
from datetime import timedelta

import pytest
from django.db import connection

from audit.models import AuditEvent
from audit.verify import verify_audit
from cases.models import Case
from reviews.models import Review
from reviews.sweeps import sweep_breaches

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_concurrent_breach_sweeps_escalate_each_case_exactly_once(file_report):
    case_ids = [file_report(f"due-{i}") for i in range(40)]
    later = max(Review.objects.values_list("due_at", flat=True)) + timedelta(seconds=1)
    counts, errors = [], []
    barrier = threading.Barrier(3)

    def sweep():
        try:
            barrier.wait(timeout=30)
            counts.append(sweep_breaches(now=later, batch_size=7))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert sum(counts) == 40
    assert AuditEvent.objects.filter(action="case.sla_breached").count() == 40
    assert set(Case.objects.filter(pk__in=case_ids).values_list("breach_count", flat=True)) == {1}
    assert Review.objects.filter(state="timed_out").count() == 40
    assert Review.objects.filter(state="open", stage__key="senior").count() == 40
    assert verify_audit().ok


def test_seniors_voting_while_the_breach_sweep_runs_are_never_refused(file_report, people, policy_book):
    """The adversarial timing of the issue: seniors working on overdue senior stages vote at the very
    moment the breach sweep runs. The sweep may record the breach but never takes their seat: every vote
    counts and every case is decided, once."""
    from reviews.models import Decision, Outcome
    from reviews.services import case_escalate, lease_renew, seat_assign, vote_cast

    case_ids, seats = [], []
    for i in range(4):
        case_id = file_report(f"held-{i}")
        first = Review.objects.get(case_id=case_id, state="open")
        case_escalate(case_id=case_id, actor_user=people["seniors"][-1], reason="straight to a senior")
        review = Review.objects.get(case_id=case_id, state="open")
        assert review.stage.key == "senior" and review.pk != first.pk
        case_ids.append(case_id)
    later = max(Review.objects.filter(state="open").values_list("due_at", flat=True)) + timedelta(seconds=1)
    for senior, case_id in zip(people["seniors"][:4], case_ids):
        review = Review.objects.get(case_id=case_id, state="open")
        seat = seat_assign(review_id=review.pk, moderator=senior, lead=people["admin"])
        lease_renew(seat_id=seat.pk, moderator=senior, now=later - timedelta(minutes=1))
        seats.append((senior, seat))
    label = Outcome.objects.get(code="label")
    errors, barrier = [], threading.Barrier(len(seats) + 1)

    def vote(senior, seat):
        try:
            barrier.wait(timeout=30)
            vote_cast(review_id=seat.review_id, reviewer=senior, outcome=label, policy=policy_book["spam"],
                      rationale="working on it", now=later)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    def sweep():
        try:
            barrier.wait(timeout=30)
            sweep_breaches(now=later, batch_size=2)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=vote, args=pair) for pair in seats] + [threading.Thread(target=sweep)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    for case_id in case_ids:
        assert Decision.objects.get(case_id=case_id, is_current=True).outcome.code == "label"
    assert AuditEvent.objects.filter(action="case.sla_breached").count() <= len(case_ids)
    assert not Review.objects.filter(case_id__in=case_ids, state="timed_out").exists()
    assert verify_audit().ok
