"""The last step of a case's life: a decided case closes by itself once its
decision was delivered and its appeal window passed unused (cases/states.py,
docs/ARCHITECTURE.md "Case lifecycle").

"Delivered" is decided by the layers above, which register a check here
(integrations: every active webhook endpoint of the case's source that
subscribes to decision events acknowledged the current decision's event; a
source without such an endpoint reads decisions from the decision feed, so
nothing is waiting). With no check registered every decision counts as
delivered.

The sweep walks decided cases whose window has passed in (decided_at, id)
order over a partial index, takes each batch with FOR UPDATE SKIP LOCKED and
closes with a compare-and-swap on the state, so running it twice or on two
workers at once closes each case once. A case still waiting for delivery is
passed over (the walk goes on after it) and retried on the next run.
"""

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

import audit
from audit.context import Actor
from audit.services import audit_record_many, case_stream
from cases.models import Case, CaseState

from .models import Appeal, AppealState, Heartbeat
from .triggers import AUTO_CLOSE

CLOSER = Actor.system("case closer")

# fn(cases) -> ids of the cases whose decision is not delivered yet. `cases` have id, source_id, decided_at.
DeliveryCheck = Callable[[list[Case]], set]
_DELIVERY_CHECKS: list[DeliveryCheck] = []


def register_delivery_check(check: DeliveryCheck) -> None:
    if check not in _DELIVERY_CHECKS:
        _DELIVERY_CHECKS.append(check)


def undelivered(cases: list[Case]) -> set:
    waiting: set = set()
    for check in _DELIVERY_CHECKS:
        waiting |= set(check(cases))
    return waiting


def appeal_deadline(decided_at: datetime) -> datetime:
    return decided_at + timedelta(days=settings.APPEAL_WINDOW_DAYS)


def sweep_closures(*, now: datetime | None = None, batch_size: int | None = None, max_seconds: float = 20.0) -> int:
    """Closes every decided case that is due; returns how many it closed."""
    now = now or timezone.now()
    batch_size = batch_size or settings.SLA_SWEEP_BATCH
    started = time.monotonic()
    closed, after = 0, None
    while True:
        with transaction.atomic(), audit.batch():
            taken, done, after = _close_batch(now=now, batch_size=batch_size, after=after)
        closed += done
        if taken < batch_size or time.monotonic() - started > max_seconds:
            break
    Heartbeat.objects.update_or_create(name="case_closures", defaults={
        "last_run_at": timezone.now(), "processed": closed, "duration_ms": (time.monotonic() - started) * 1000})
    return closed


def _close_batch(*, now: datetime, batch_size: int, after: tuple | None) -> tuple[int, int, tuple | None]:
    cutoff = now - timedelta(days=settings.APPEAL_WINDOW_DAYS)
    due = Case.objects.filter(state=CaseState.DECIDED, decided_at__lte=cutoff)
    if after is not None:
        due = due.filter(Q(decided_at__gt=after[0]) | Q(decided_at=after[0], id__gt=after[1]))
    cases = list(due.order_by("decided_at", "id").select_for_update(skip_locked=True)
                 .only("id", "source_id", "decided_at", "state")[:batch_size])
    if not cases:
        return 0, 0, after
    last = (cases[-1].decided_at, cases[-1].pk)
    waiting = undelivered(cases)
    # A decided case has no open appeal (filing one moves it to in_review); checked anyway, it is cheap.
    waiting |= set(Appeal.objects.filter(case_id__in=[c.pk for c in cases], state=AppealState.OPEN)
                   .values_list("case_id", flat=True))
    ids = [c.pk for c in cases if c.pk not in waiting]
    if not ids:
        return len(cases), 0, last
    # The compare-and-swap: only cases still decided (the row locks make it exact).
    Case.objects.filter(pk__in=ids, state=CaseState.DECIDED).update(state=CaseState.CLOSED, closed_at=now,
                                                                     updated_at=now)
    audit_record_many(entries=[
        dict(stream=case_stream(c.pk), action="case.state_changed", target_type="case", target_id=c.pk,
             data={"from": CaseState.DECIDED, "to": CaseState.CLOSED, "trigger": AUTO_CLOSE,
                   "reason": "decision delivered and appeal window passed unused",
                   "decided_at": c.decided_at.isoformat(), "appeal_deadline": appeal_deadline(c.decided_at).isoformat()})
        for c in cases if c.pk in set(ids)
    ], actor=CLOSER)
    return len(cases), len(ids), last

