"""Data helpers for the work-list tests: extra queues, many cases made in
bulk (no intake: pagination only needs the case rows), and SLA states set
directly on reviews and cases the way the sweeps leave them."""
from datetime import timedelta

from django.utils import timezone

from cases.models import Case, Queue, Report, Subject
from cases.selectors import invalidate_configuration_cache
from reviews.models import Review


def make_queue(slug, *policies, name=None):
    queue = Queue.objects.create(slug=slug, name=name or slug.title())
    queue.policies.add(*policies)
    invalidate_configuration_cache()
    return queue


def bulk_cases(*, queue, source, count, priority=300, opened_at=None, policy=None, prefix="bulk", jurisdiction=()):
    """`count` open cases in `queue` (each with one report when `policy` is given)."""
    now = timezone.now()
    opened_at = opened_at or now
    priorities = priority if callable(priority) else (lambda i: priority)
    opened = opened_at if callable(opened_at) else (lambda i: opened_at)
    subjects = Subject.objects.bulk_create([
        Subject(source=source, kind="content", external_id=f"{prefix}-{i}", latest_text=f"{prefix} text {i}",
                created_at=now, updated_at=now)
        for i in range(count)
    ])
    cases = Case.objects.bulk_create([
        Case(subject=s, source=source, queue=queue, priority=priorities(i), opened_at=opened(i), updated_at=now,
             report_count=1 if policy else 0)
        for i, s in enumerate(subjects)
    ])
    if policy is not None:
        Report.objects.bulk_create([
            Report(case=c, subject=c.subject, source=source, reporter_kind="user", policy=policy,
                   jurisdiction=list(jurisdiction), snapshot={}, received_at=now)
            for c in cases
        ])
    return cases


def active_review(case_id):
    return Review.objects.get(case_id=case_id, state__in=["open", "on_hold"])


def make_at_risk(case_id, *, now=None):
    """What the warning sweep does: the review is warned, the case at risk."""
    now = now or timezone.now()
    review = active_review(case_id)
    Review.objects.filter(pk=review.pk).update(warned_at=now, warn_at=now - timedelta(minutes=1))
    Case.objects.filter(pk=case_id).update(at_risk_since=now)


def make_breached(case_id, *, now=None):
    """What the breach sweep does when the stage only records the breach."""
    now = now or timezone.now()
    review = active_review(case_id)
    Review.objects.filter(pk=review.pk).update(warned_at=now, breached_at=now, due_at=now - timedelta(minutes=1))
    Case.objects.filter(pk=case_id).update(breach_count=1, at_risk_since=now)
