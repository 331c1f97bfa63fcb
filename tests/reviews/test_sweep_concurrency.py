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
