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
from datetime import datetime
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

import audit
from audit.context import Actor
from audit.services import case_stream
from cases.models import Case, CaseState
from config.sql import insert_from_arrays_sql, together, update_from_arrays_sql, update_from_values

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


class _Due(NamedTuple):
    """A review the breach sweep took (already marked breached), with what the batch needs of it."""

    id: Any
    case_id: Any
    stage_id: int
    warn_at: datetime | None
    warned_at: datetime | None  # before this sweep
    due_at: datetime
    appeal_id: Any
    seats_held: bool  # someone holds a seat with a valid lease
    first_policy_id: int | None
    reporter_kinds: list[str]


class _CaseRow(NamedTuple):
    id: Any
    priority: int
    state: str
    queue_id: int
    opened_at: datetime
    breach_count: int
    at_risk_since: datetime | None


_CASE_COLUMNS = ("id", "priority", "state", "queue_id", "opened_at", "breach_count", "at_risk_since")


def _take_due(*, now: datetime, batch_size: int) -> list[_Due]:
    """Locks up to `batch_size` overdue open reviews (SKIP LOCKED, oldest
    deadline first) and marks them breached (and warned, if no sweep warned
    them) — on PostgreSQL one UPDATE … RETURNING, which also reads whether a
    seat is held and the case's first policy and reporter kinds (what the SLA
    of a timeout stage depends on)."""
    if connection.vendor != "postgresql":
        from cases.models import Report

        reviews = list(
            Review.objects.filter(state=ReviewState.OPEN, breached_at__isnull=True, due_at__isnull=False,
                                  due_at__lte=now)
            .select_for_update(skip_locked=True).order_by("due_at")
            .values_list("id", "case_id", "stage_id", "warn_at", "warned_at", "due_at", "appeal_id")[:batch_size])
        ids = [r[0] for r in reviews]
        Review.objects.filter(pk__in=ids).update(breached_at=now)
        Review.objects.filter(pk__in=ids, warned_at__isnull=True).update(warned_at=now)
        held = set(Seat.objects.filter(review_id__in=ids, state=SeatState.CLAIMED, lease_expires_at__gt=now)
                   .values_list("review_id", flat=True))
        cases = [r[1] for r in reviews]
        first, kinds = {}, {}
        for case_id, policy_id, kind in (Report.objects.filter(case_id__in=cases).order_by("case_id", "received_at", "id")
                                         .values_list("case_id", "policy_id", "reporter_kind")):
            first.setdefault(case_id, policy_id)
            kinds.setdefault(case_id, set()).add(kind)
        return [_Due(*r, r[0] in held, first.get(r[1]), sorted(kinds.get(r[1], ()))) for r in reviews]
    from cases.models import Report

    review, seat, report = Review._meta.db_table, Seat._meta.db_table, Report._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH due AS (SELECT r.id, r.warned_at FROM {review} r WHERE r.state = 'open' AND r.breached_at IS NULL "
            "AND r.due_at IS NOT NULL AND r.due_at <= %(now)s ORDER BY r.due_at LIMIT %(n)s FOR UPDATE SKIP LOCKED), "
            f"b AS (UPDATE {review} r SET breached_at = %(now)s, warned_at = coalesce(r.warned_at, %(now)s) "
            "FROM due WHERE r.id = due.id "
            "RETURNING r.id, r.case_id, r.stage_id, r.warn_at, due.warned_at, r.due_at, r.appeal_id) "
            f"SELECT b.*, EXISTS (SELECT 1 FROM {seat} st WHERE st.review_id = b.id AND st.state = 'claimed' "
            "AND st.lease_expires_at > %(now)s), "
            f"(SELECT rp.policy_id FROM {report} rp WHERE rp.case_id = b.case_id ORDER BY rp.received_at, rp.id "
            "LIMIT 1), "
            f"ARRAY(SELECT DISTINCT rk.reporter_kind FROM {report} rk WHERE rk.case_id = b.case_id) "
            "FROM b ORDER BY b.due_at, b.id",
            {"now": now, "n": batch_size})
        return [_Due(*row) for row in cursor.fetchall()]


def _lock_cases(case_ids: list[Any]) -> dict[Any, _CaseRow]:
    """The cases of the batch, locked in id order (after their reviews: the house lock order)."""
    if connection.vendor != "postgresql":
        return {row[0]: _CaseRow(*row) for row in Case.objects.select_for_update().filter(pk__in=case_ids)
                .order_by("pk").values_list(*_CASE_COLUMNS)}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(_CASE_COLUMNS)} FROM {Case._meta.db_table} WHERE id = ANY(%s::uuid[]) "
                       "ORDER BY id FOR UPDATE", [case_ids])
        return {row[0]: _CaseRow(*row) for row in cursor.fetchall()}


def _breach_batch(*, now, batch_size):
    """One batch of breaches in a fixed number of statements (whatever the
    batch size): take and mark the due reviews (one UPDATE … RETURNING), lock
    their cases (the house lock order), close the reviews that move on and
    release their seats, then open the timeout stages, raise priorities and
    count the breaches on the cases in the statement that writes the audit
    events (audit_record_many(together_with=…)). Each breach still gets its
    own events in its case's stream: the late warning if none went out,
    case.sla_breached, and for a move case.state_changed and review.opened."""
    from audit.services import audit_record_many
    from cases.priority import priority_raise
    from cases.states import check_transition

    from . import sla
    from .models import Stage, StageKind
    from .services.lifecycle import review_build, review_opened_data

    reviews = _take_due(now=now, batch_size=batch_size)
    if not reviews:
        return 0
    cases = _lock_cases(sorted({r.case_id for r in reviews}))
    bonus = settings.ESCALATION_PRIORITY_BONUS
    stages = {s.pk: s for s in Stage.objects.filter(pk__in={r.stage_id for r in reviews})}

    targets = {}
    wanted = {(stages[r.stage_id].version_id, stages[r.stage_id].on_timeout) for r in reviews
              if stages[r.stage_id].on_timeout and stages[r.stage_id].on_timeout != RAISE_PRIORITY}
    if wanted:
        keys = {key for _, key in wanted}
        for target in Stage.objects.select_related("group").filter(version_id__in={v for v, _ in wanted},
                                                                   key__in=keys):
            if (target.version_id, target.key) in wanted:
                targets[(target.version_id, target.key)] = target
        missing = wanted - set(targets)
        if missing:
            raise Stage.DoesNotExist(f"timeout stages not found: {sorted(missing)}")

    # A breach never takes a seat whose lease is valid: a review someone is working on is kept (its
    # priority raised instead); a move to another stage waits until nobody holds a valid lease
    # (services.lifecycle.review_timeout_if_owed, run when a seat is released, expires or votes).
    def timeout_key(r):
        stage = stages[r.stage_id]
        return stage.version_id, stage.on_timeout

    kept = {r.id for r in reviews if r.seats_held and timeout_key(r) in targets}
    moved = [r for r in reviews if timeout_key(r) in targets and r.id not in kept]
    raised = [r for r in reviews if stages[r.stage_id].on_timeout == RAISE_PRIORITY or r.id in kept]

    entries, new_reviews, case_updates = [], [], {}
    for review in reviews:
        case = cases[review.case_id]
        stage = stages[review.stage_id]
        stream = case_stream(case.id)
        target = targets.get(timeout_key(review))
        if review.warned_at is None and review.warn_at is not None:
            # No sweep ran between warn_at and due_at: the warning still goes out, first.
            entries.append(dict(stream=stream, action="case.sla_warning", target_type="review",
                                target_id=review.id, data={"warn_at": review.warn_at.isoformat(),
                                                           "due_at": review.due_at.isoformat(), "late": True}))
        action = stage.on_timeout or "record"
        facts = {"stage": stage.key, "due_at": review.due_at.isoformat(), "action": action, "trigger": T.SLA_BREACH}
        if review.id in kept:
            facts.update(action=RAISE_PRIORITY, seats_held=True,
                         deferred_to=None if target.key == stage.key else target.key)
        entries.append(dict(stream=stream, action="case.sla_breached", target_type="review",
                            target_id=review.id, data=facts))
        change = case_updates.setdefault(case.id, {"breaches": 0, "priority": case.priority, "state": case.state})
        change["breaches"] += 1
        if stage.on_timeout == RAISE_PRIORITY or review.id in kept:
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
            entries.append(dict(stream=stream, action="case.state_changed", target_type="case",
                                target_id=case.id, data={"from": change["state"], "to": new_state,
                                                         "reason": "SLA breached", "trigger": T.SLA_BREACH}))
            change["state"] = new_state
        rule = sla.resolve(stage=target, policy_id=review.first_policy_id, priority=change["priority"],
                           reporter_kinds=set(review.reporter_kinds))
        opened = review_build(case_id=case.id, stage=target, queue_id=case.queue_id, priority=change["priority"],
                              case_opened_at=case.opened_at, clock=rule, now=now, appeal_id=review.appeal_id)
        new_reviews.append(opened)
        entries.append(dict(stream=stream, action="review.opened", target_type="review",
                            target_id=opened.pk, data=review_opened_data(opened, trigger=T.SLA_BREACH,
                                                                         reason="SLA breached")))

    moved_cases = {r.case_id for r in moved}
    case_rows = []
    for case_id, change in sorted(case_updates.items()):
        case = cases[case_id]
        case_rows.append((case_id, case.breach_count + change["breaches"], change["priority"], change["state"], now,
                          None if case_id in moved_cases else case.at_risk_since))
    case_columns = [("breach_count", "integer"), ("priority", "integer"), ("state", "varchar"),
                    ("updated_at", "timestamptz"), ("at_risk_since", "timestamptz")]
    # the review's copy of the priority follows the case's (capped) one
    priority_rows = [(r.id, case_updates[r.case_id]["priority"]) for r in raised]
    if connection.vendor != "postgresql":
        from .services.lifecycle import reviews_close_many, reviews_open_many

        if moved:
            reviews_close_many(review_ids=[r.id for r in moved], state=ReviewState.TIMED_OUT, now=now,
                               reason="SLA breached")
            reviews_open_many(new_reviews)
        update_from_values(model=Review, key=("id", "uuid"), columns=[("priority", "integer")], rows=priority_rows)
        update_from_values(model=Case, key=("id", "uuid"), rows=case_rows, columns=case_columns)
        audit_record_many(entries=entries, actor=SYSTEM)
        return len(reviews)
    if moved:
        # Closed before the next stages open: one active review per case (a unique index) at every statement.
        _close_timed_out([r.id for r in moved], now=now)
    also = [update_from_arrays_sql(model=Case, key=("id", "uuid"), rows=case_rows, columns=case_columns)]
    if new_reviews:
        also.append(insert_from_arrays_sql(new_reviews))
    if priority_rows:
        also.append(update_from_arrays_sql(model=Review, key=("id", "uuid"), columns=[("priority", "integer")],
                                           rows=priority_rows))
    audit_record_many(entries=entries, actor=SYSTEM, together_with=also)
    return len(reviews)


def _close_timed_out(review_ids: list[Any], *, now: datetime) -> None:
    """reviews_close_many(state=timed_out) and the release of their seats, in one statement (PostgreSQL)."""
    from .states import review_sources

    together([
        (f"UPDATE {Review._meta.db_table} SET state = %s, closed_at = %s, close_reason = %s "
         "WHERE id = ANY(%s::uuid[]) AND state = ANY(%s::varchar[])",
         [ReviewState.TIMED_OUT, now, "SLA breached", review_ids, list(review_sources(ReviewState.TIMED_OUT))]),
        (f"UPDATE {Seat._meta.db_table} SET state = %s, released_at = %s "
         "WHERE review_id = ANY(%s::uuid[]) AND state = ANY(%s::varchar[])",
         [SeatState.RELEASED, now, review_ids, list(seat_sources(SeatState.RELEASED))]),
    ])


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
