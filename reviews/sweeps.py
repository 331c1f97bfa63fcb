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
from config.sql import update_from_values

from . import triggers as T
from .models import RAISE_PRIORITY, Heartbeat, Review, ReviewState, Seat, SeatState
from .states import ACTIVE_REVIEW_STATES, seat_sources

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
        with transaction.atomic(), audit.batch():
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
    """One batch of breaches in a fixed number of statements (whatever the
    batch size): lock the reviews, then their cases (the house lock order),
    update them in bulk, open the timeout stages with bulk_create and write
    the audit events with audit_record_many."""
    from audit.services import audit_record_many
    from cases.models import CaseState, Report
    from cases.priority import priority_raise
    from cases.states import check_transition

    from . import sla
    from .models import Stage, StageKind
    from .services.lifecycle import review_build, review_opened_data, reviews_close_many, reviews_open_many

    reviews = list(
        Review.objects.filter(state=ReviewState.OPEN, breached_at__isnull=True, due_at__isnull=False, due_at__lte=now)
        .select_for_update(skip_locked=True, of=("self",)).select_related("stage").order_by("due_at")[:batch_size]
    )
    if not reviews:
        return 0
    case_ids = sorted({r.case_id for r in reviews})
    cases = {c.pk: c for c in Case.objects.select_for_update().filter(pk__in=case_ids).order_by("pk")}
    bonus = settings.ESCALATION_PRIORITY_BONUS

    targets = {}
    wanted = {(r.stage.version_id, r.stage.on_timeout) for r in reviews
              if r.stage.on_timeout and r.stage.on_timeout != RAISE_PRIORITY}
    for version_id, key in wanted:
        targets[(version_id, key)] = Stage.objects.select_related("group").get(version_id=version_id, key=key)

    # A breach never takes a seat whose lease is valid: a review someone is working on is kept (its
    # priority raised instead); a move to another stage waits until nobody holds a valid lease
    # (services.lifecycle.review_timeout_if_owed, run when a seat is released, expires or votes).
    held = set(Seat.objects.filter(review_id__in=[r.pk for r in reviews], state=SeatState.CLAIMED,
                                   lease_expires_at__gt=now).values_list("review_id", flat=True))
    kept = {r.pk for r in reviews if r.pk in held and (r.stage.version_id, r.stage.on_timeout) in targets}
    moved = [r for r in reviews if (r.stage.version_id, r.stage.on_timeout) in targets and r.pk not in kept]
    raised = [r for r in reviews if r.stage.on_timeout == RAISE_PRIORITY or r.pk in kept]
    first_policy, kinds = {}, {}
    if moved:
        moved_cases = [r.case_id for r in moved]
        for case_id, policy_id in (Report.objects.filter(case_id__in=moved_cases)
                                   .order_by("case_id", "received_at", "id").values_list("case_id", "policy_id")):
            first_policy.setdefault(case_id, policy_id)
        for case_id, kind in Report.objects.filter(case_id__in=moved_cases).values_list("case_id", "reporter_kind").distinct():
            kinds.setdefault(case_id, set()).add(kind)

    entries, new_reviews, case_updates = [], [], {}
    unwarned = [r.pk for r in reviews if r.warned_at is None]
    for review in reviews:
        case = cases[review.case_id]
        target = targets.get((review.stage.version_id, review.stage.on_timeout))
        if review.warned_at is None and review.warn_at is not None:
            # No sweep ran between warn_at and due_at: the warning still goes out, first.
            entries.append(dict(stream=case_stream(case.pk), action="case.sla_warning", target_type="review",
                                target_id=review.pk, data={"warn_at": review.warn_at.isoformat(),
                                                           "due_at": review.due_at.isoformat(), "late": True}))
        action = review.stage.on_timeout or "record"
        facts = {"stage": review.stage.key, "due_at": review.due_at.isoformat(), "action": action,
                 "trigger": T.SLA_BREACH}
        if review.pk in kept:
            facts.update(action=RAISE_PRIORITY, seats_held=True,
                         deferred_to=None if target.key == review.stage.key else target.key)
        entries.append(dict(stream=case_stream(case.pk), action="case.sla_breached", target_type="review",
                            target_id=review.pk, data=facts))
        change = case_updates.setdefault(case.pk, {"breaches": 0, "priority": case.priority, "state": case.state})
        change["breaches"] += 1
        if review.stage.on_timeout == RAISE_PRIORITY or review.pk in kept:
            change["priority"] = priority_raise(change["priority"], bonus)
            continue
        if target is None:
            continue
        if target.kind == StageKind.ESCALATION:
            change["priority"] = priority_raise(change["priority"], bonus)
            new_state = CaseState.ESCALATED
        else:
            new_state = CaseState.IN_REVIEW
        if check_transition(change["state"], new_state):
            entries.append(dict(stream=case_stream(case.pk), action="case.state_changed", target_type="case",
                                target_id=case.pk, data={"from": change["state"], "to": new_state,
                                                         "reason": "SLA breached", "trigger": T.SLA_BREACH}))
            change["state"] = new_state
        rule = sla.resolve(stage=target, policy_id=first_policy.get(case.pk), priority=change["priority"],
                           reporter_kinds=kinds.get(case.pk, set()))
        opened = review_build(case_id=case.pk, stage=target, queue_id=case.queue_id, priority=change["priority"],
                              case_opened_at=case.opened_at, clock=rule, now=now, appeal_id=review.appeal_id)
        new_reviews.append(opened)
        entries.append(dict(stream=case_stream(case.pk), action="review.opened", target_type="review",
                            target_id=opened.pk, data=review_opened_data(opened, trigger=T.SLA_BREACH,
                                                                         reason="SLA breached")))

    moved_ids = [r.pk for r in moved]
    Review.objects.filter(pk__in=[r.pk for r in reviews]).update(breached_at=now)
    if unwarned:
        Review.objects.filter(pk__in=unwarned, warned_at__isnull=True).update(warned_at=now)
    if moved_ids:
        reviews_close_many(review_ids=moved_ids, state=ReviewState.TIMED_OUT, now=now, reason="SLA breached")
        reviews_open_many(new_reviews)
    # the review's copy of the priority follows the case's (capped) one
    update_from_values(model=Review, key=("id", "uuid"), columns=[("priority", "integer")],
                       rows=[(r.pk, case_updates[r.case_id]["priority"]) for r in raised])
    rows, moved_cases = [], {r.case_id for r in moved}
    for case_id, change in sorted(case_updates.items()):
        case = cases[case_id]
        rows.append((case_id, case.breach_count + change["breaches"], change["priority"], change["state"], now,
                     None if case_id in moved_cases else case.at_risk_since))
    update_from_values(model=Case, key=("id", "uuid"), rows=rows, columns=[
        ("breach_count", "integer"), ("priority", "integer"), ("state", "varchar"), ("updated_at", "timestamptz"),
        ("at_risk_since", "timestamptz")])
    audit_record_many(entries=entries, actor=SYSTEM)
    return len(reviews)


def sweep_leases(*, now=None, batch_size=None, max_seconds=20.0):
    """Releases seats whose lease expired (claimed, not worked on)."""
    return _sweep("claim_leases", _lease_batch, now=now or timezone.now(),
                  batch_size=batch_size or settings.SLA_SWEEP_BATCH, max_seconds=max_seconds)


def _lease_batch(*, now, batch_size):
    """Locks in the house order — reviews first (SKIP LOCKED: a review a vote
    or a release is working on waits for the next run), then their expired
    seats — so that a release here never races a vote on the same seat, and a
    timeout move the SLA sweep deferred while the seat was held can run here,
    under the review lock, once the last valid lease is gone."""
    from .services.lifecycle import review_timeout_if_owed

    candidates = list(Seat.objects.filter(state=SeatState.CLAIMED, lease_expires_at__lte=now)
                      .order_by("lease_expires_at").values_list("pk", "review_id")[:batch_size])
    if not candidates:
        return 0
    reviews = {r.pk: r for r in Review.objects.select_for_update(skip_locked=True, of=("self",))
               .select_related("stage__version").filter(pk__in={rid for _, rid in candidates}).order_by("pk")}
    seats = list(
        Seat.objects.filter(pk__in=[sid for sid, rid in candidates if rid in reviews], state=SeatState.CLAIMED,
                            lease_expires_at__lte=now)
        .select_for_update(skip_locked=True, of=("self",)).select_related("moderator").order_by("pk")
    )
    for seat in seats:
        review = reviews[seat.review_id]
        Seat.objects.filter(pk=seat.pk, state__in=seat_sources(SeatState.RELEASED)).update(
            state=SeatState.RELEASED, released_at=now)
        Review.objects.filter(pk=seat.review_id, state__in=ACTIVE_REVIEW_STATES).update(
            free_seats=F("free_seats") + 1)
        audit.record(stream=case_stream(review.case_id), action="review.seat_released", actor=LEASES,
                     target_type="review", target_id=seat.review_id,
                     data={"moderator": seat.moderator.get_username(), "reason": "lease expired",
                           "trigger": T.LEASE_EXPIRED,
                           "lease_expires_at": seat.lease_expires_at.isoformat()})
    for review_id in sorted({seat.review_id for seat in seats}):
        review = reviews[review_id]
        if review.breached_at is not None and review.state == ReviewState.OPEN:
            review_timeout_if_owed(review=review, now=now, actor=LEASES)
    return len(seats)
