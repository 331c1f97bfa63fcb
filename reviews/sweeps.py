"""Periodic sweeps over deadline columns: SLA warnings, SLA breaches and
expired claim leases.

Each sweep takes a batch of due rows with FOR UPDATE SKIP LOCKED (over a
partial index that holds only unprocessed rows), handles each in the same
transaction and commits. The row lock plus the re-checked condition is the
compare-and-swap: a sweep that runs twice, or on two workers at once, acts
once per row, and a worker killed mid-batch loses nothing: its transaction
rolls back and the next sweep takes the rows again.
"""

import time

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

import audit
from audit.context import Actor
from audit.services import case_stream
from cases.models import Case

from .models import RAISE_PRIORITY, Heartbeat, Review, ReviewState, Seat, SeatState

SYSTEM = Actor.system("sla clock")
LEASES = Actor.system("claim leases")


def _beat(name, processed, started):
    Heartbeat.objects.update_or_create(
        name=name, defaults={"last_run_at": timezone.now(), "processed": processed,
                             "duration_ms": (time.monotonic() - started) * 1000})


def _sweep(name, one_batch, *, now, batch_size, max_seconds):
    started = time.monotonic()
    total = 0
    while True:
        with transaction.atomic():
            done = one_batch(now=now, batch_size=batch_size)
        total += done
        if done < batch_size or time.monotonic() - started > max_seconds:
            break
    _beat(name, total, started)
    return total


def sweep_warnings(*, now=None, batch_size=None, max_seconds=20.0):
    """Marks cases whose stage passed its warning time as at risk (once)."""
    return _sweep("sla_warnings", _warn_batch, now=now or timezone.now(),
                  batch_size=batch_size or settings.SLA_SWEEP_BATCH, max_seconds=max_seconds)


def _warn_batch(*, now, batch_size):
    reviews = list(
        Review.objects.filter(state=ReviewState.OPEN, warned_at__isnull=True, warn_at__isnull=False, warn_at__lte=now)
        .select_for_update(skip_locked=True).only("id", "case_id", "warn_at", "due_at")[:batch_size]
    )
    if not reviews:
        return 0
    ids = [r.pk for r in reviews]
    Review.objects.filter(pk__in=ids, warned_at__isnull=True).update(warned_at=now)
    Case.objects.filter(pk__in=[r.case_id for r in reviews], at_risk_since__isnull=True).update(at_risk_since=now)
    for r in reviews:
        audit.record(stream=case_stream(r.case_id), action="case.sla_warning", actor=SYSTEM, target_type="review",
                     target_id=r.pk, data={"warn_at": r.warn_at.isoformat(), "due_at": r.due_at.isoformat()})
    return len(reviews)


def sweep_breaches(*, now=None, batch_size=None, max_seconds=20.0):
    """Runs each overdue stage's timeout action once: move to its timeout
    target (an escalation raises priority), or raise priority, or only
    record the breach; counts it on the case and audits it."""
    return _sweep("sla_breaches", _breach_batch, now=now or timezone.now(),
                  batch_size=batch_size or settings.SLA_SWEEP_BATCH, max_seconds=max_seconds)


def _breach_batch(*, now, batch_size):
    from .services import _close_review, _go_to, _raise_priority

    reviews = list(
        Review.objects.filter(state=ReviewState.OPEN, breached_at__isnull=True, due_at__isnull=False, due_at__lte=now)
        .select_for_update(skip_locked=True, of=("self",)).select_related("stage__version")[:batch_size]
    )
    for review in reviews:
        case = Case.objects.select_for_update().get(pk=review.case_id)
        Review.objects.filter(pk=review.pk, breached_at__isnull=True).update(breached_at=now)
        Case.objects.filter(pk=case.pk).update(breach_count=F("breach_count") + 1)
        target = review.stage.on_timeout
        audit.record(stream=case_stream(case.pk), action="case.sla_breached", actor=SYSTEM, target_type="review",
                     target_id=review.pk, data={"stage": review.stage.key, "due_at": review.due_at.isoformat(),
                                                "action": target or "record"})
        if target == RAISE_PRIORITY:
            _raise_priority(case, now)
            Review.objects.filter(pk=review.pk).update(priority=case.priority)
        elif target:
            review.case = case
            _close_review(review, state=ReviewState.TIMED_OUT, now=now, reason="SLA breached")
            _go_to(review=review, target=target, actor=SYSTEM, now=now, reason="SLA breached")
    return len(reviews)


def sweep_leases(*, now=None, batch_size=None, max_seconds=20.0):
    """Releases seats whose lease expired (claimed, not worked on)."""
    return _sweep("claim_leases", _lease_batch, now=now or timezone.now(),
                  batch_size=batch_size or settings.SLA_SWEEP_BATCH, max_seconds=max_seconds)


def _lease_batch(*, now, batch_size):
    seats = list(
        Seat.objects.filter(state=SeatState.CLAIMED, lease_expires_at__lte=now)
        .select_for_update(skip_locked=True).select_related("review", "moderator")[:batch_size]
    )
    for seat in seats:
        Seat.objects.filter(pk=seat.pk, state=SeatState.CLAIMED).update(state=SeatState.RELEASED, released_at=now)
        Review.objects.filter(pk=seat.review_id, state__in=[ReviewState.OPEN, ReviewState.ON_HOLD]).update(
            free_seats=F("free_seats") + 1)
        audit.record(stream=case_stream(seat.review.case_id), action="review.seat_released", actor=LEASES,
                     target_type="review", target_id=seat.review_id,
                     data={"moderator": seat.moderator.get_username(), "reason": "lease expired",
                           "lease_expires_at": seat.lease_expires_at.isoformat()})
    return len(seats)
