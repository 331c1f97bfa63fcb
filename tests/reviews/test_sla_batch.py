"""The breach sweep is set-based — a fixed number of statements per batch
whatever its size — while every breach is still escalated and audited on its
own, in its case's stream."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from audit.verify import verify_audit
from cases.models import Case, CaseState, Queue
from reviews.models import Review, ReviewState, Seat
from reviews.services import claim_next
from reviews.sweeps import sweep_breaches

pytestmark = pytest.mark.django_db


def _due(file_report, prefix, n):
    cases = [file_report(external_id=f"{prefix}-{i}") for i in range(n)]
    reviews = list(Review.objects.filter(case_id__in=cases, state="open"))
    return cases, max(r.due_at for r in reviews)


def _sweep_statements(now):
    with CaptureQueriesContext(connection) as ctx:
        done = sweep_breaches(now=now, batch_size=1000)
    return done, [q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]


def test_a_batch_is_the_same_statements_for_two_breaches_or_seven(file_report):
    _small, small_due = _due(file_report, "small", 2)
    done, small = _sweep_statements(small_due)
    assert done == 2
    cases, due = _due(file_report, "large", 7)
    done, large = _sweep_statements(due)
    assert done == 7
    assert len(large) == len(small), (small, large)
    # take and mark the due reviews in one UPDATE … RETURNING, lock the cases, the stages (2), close the
    # timed-out reviews with their seats, lock the audit heads, then events + next stages + cases in one;
    # and the sweep's heartbeat (2)
    assert len(large) == 9, large
    assert large[0].startswith("WITH due AS") and "UPDATE reviews_review" in large[0] and "RETURNING" in large[0]
    for case_id in cases:
        stream = f"case:{case_id}"
        actions = list(AuditEvent.objects.filter(stream=stream).order_by("seq").values_list("action", flat=True))
        assert actions[-3:] == ["case.sla_breached", "case.state_changed", "review.opened"], actions
        case = Case.objects.get(pk=case_id)
        assert case.state == CaseState.ESCALATED and case.breach_count == 1
        senior = Review.objects.get(case_id=case_id, state=ReviewState.OPEN)
        assert senior.stage.key == "senior" and senior.priority == case.priority and senior.due_at > due
        assert Review.objects.get(case_id=case_id, state=ReviewState.TIMED_OUT).breached_at == due
    assert verify_audit().ok


def test_a_held_seat_keeps_its_review_in_a_batch_with_others_that_move(file_report, people):
    cases, due = _due(file_report, "mixed", 3)
    seat = claim_next(moderator=people["moderators"][0], queue=Queue.objects.get(slug="general"))
    held_case = seat.review.case_id
    Seat.objects.filter(pk=seat.pk).update(lease_expires_at=due + timedelta(hours=1))  # still working on it
    assert sweep_breaches(now=due, batch_size=1000) == 3
    kept = Review.objects.get(pk=seat.review_id)
    assert kept.state == ReviewState.OPEN and kept.breached_at == due
    assert kept.priority == Case.objects.get(pk=held_case).priority
    event = AuditEvent.objects.get(stream=f"case:{held_case}", action="case.sla_breached")
    assert event.data["seats_held"] is True and event.data["deferred_to"] == "senior"
    for case_id in cases:
        if str(case_id) != str(held_case):
            assert Review.objects.get(case_id=case_id, state=ReviewState.OPEN).stage.key == "senior"
    # nothing is breached twice, however often the sweep runs
    assert sweep_breaches(now=due, batch_size=1000) == 0
    assert AuditEvent.objects.filter(action="case.sla_breached").count() == 3
    assert verify_audit().ok
