"""SLA deadlines of stages: which SLA applies, and when it warns and is due.

The arithmetic is in reviews.clock (pure, unit-tested); this module chooses
the SLA policy and reads calendars. Policies and calendars are cached per
process for a few seconds: a change applies to stages opened afterwards.
"""

import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Q

from .models import SlaPolicy

_CACHE_SECONDS = 5.0


# ---- "at risk" and "breached": the one definition --------------------------------
# Both describe the *current* stage of a case, i.e. an open review: it is breached
# once the breach sweep recorded that its deadline passed (breached_at), and at
# risk once its warning time passed (warned_at) while it is not breached. A case
# breached in an earlier stage whose current stage is on time is neither: its
# past breaches stay on the case (Case.breach_count) and in the dashboard's
# statistics. My work (reviews.worklists) and /metrics (config.metrics) both
# count with these.

def breached_q(prefix: str = "") -> Q:
    """Reviews (or rows reaching a review through `prefix`, e.g. "review__") whose stage is breached."""
    return Q(**{f"{prefix}breached_at__isnull": False})


def at_risk_q(prefix: str = "") -> Q:
    """Reviews whose stage is past its warning time and not breached."""
    return Q(**{f"{prefix}warned_at__isnull": False, f"{prefix}breached_at__isnull": True})
_lock = threading.Lock()
_cache = {"at": 0.0, "policies": []}


@dataclass(frozen=True)
class Sla:
    seconds: int
    calendar_id: int | None
    calendar: object  # reviews.clock.Calendar or None (24/7)
    warn_fraction: float


def invalidate_sla_cache():
    with _lock:
        _cache["at"] = 0.0


def _policies():
    if time.monotonic() - _cache["at"] > _CACHE_SECONDS:
        with _lock:
            if time.monotonic() - _cache["at"] > _CACHE_SECONDS:
                loaded = []
                for p in SlaPolicy.objects.filter(active=True).select_related("calendar").order_by("position", "id"):
                    loaded.append((p, p.calendar.as_clock() if p.calendar else None))
                _cache.update(at=time.monotonic(), policies=loaded)
    return _cache["policies"]


def resolve(*, stage, policy_id, priority, reporter_kinds):
    """The SLA for `stage` opening on a case with these properties."""
    seconds = stage.sla_seconds
    for p, calendar in _policies():
        if p.policy_id is not None and p.policy_id != policy_id:
            continue
        if p.stage_kind and p.stage_kind != stage.kind:
            continue
        if p.min_priority is not None and priority < p.min_priority:
            continue
        if p.max_priority is not None and priority > p.max_priority:
            continue
        if p.reporter_kind and p.reporter_kind not in reporter_kinds:
            continue
        if p.duration_seconds is not None:
            seconds = p.duration_seconds
        if p.factor is not None:
            seconds = seconds * p.factor
        return Sla(max(1, round(seconds)), p.calendar_id, calendar, p.warn_fraction)
    return Sla(seconds, None, None, settings.SLA_WARN_FRACTION)


def deadlines(sla, start):
    """(warn_at, due_at) for a stage opening at `start`."""
    if sla.calendar is None:
        return start + timedelta(seconds=sla.seconds * sla.warn_fraction), start + timedelta(seconds=sla.seconds)
    from . import clock

    return clock.deadlines(start, sla.seconds, sla.calendar, sla.warn_fraction)


def resume_deadline(held_at, deadline, resumed_at, calendar):
    """`deadline` moved by the open time spent on hold (see reviews.clock)."""
    if calendar is None:
        return resumed_at + max(deadline - held_at, timedelta(0))
    from . import clock

    return clock.resume_deadline(held_at, deadline, resumed_at, calendar)


def calendar_of(review):
    return review.calendar.as_clock() if review.calendar_id else None
