"""What /metrics reports. Each figure is one aggregate query over an index."""

from django.db.models import Count, Max, Min, Q

from .health import SWEEPS, _label


def _gauge(lines, name, help_text, samples, kind="gauge"):
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")
    for labels, value in samples:
        label_text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{label_text}}} {value}" if label_text else f"{name} {value}")


def collect(*, now):
    from cases.models import Case, Queue
    from reviews.models import Decision, DecisionKind, Heartbeat, Review, ReviewState, Seat, SeatState

    lines = []
    queues = dict(Queue.objects.values_list("pk", "slug"))
    open_cases = Case.objects.filter(closed_at__isnull=True)
    _gauge(lines, "quorum_open_cases", "Cases not closed, per queue and state.",
           [({"queue": queues.get(r["queue"], r["queue"]), "state": r["state"]}, r["n"])
            for r in open_cases.values("queue", "state").annotate(n=Count("id")).order_by("queue", "state")])
    _gauge(lines, "quorum_oldest_open_case_age_seconds", "Age of the oldest case not closed, per queue.",
           [({"queue": queues.get(r["queue"], r["queue"])}, round((now - r["oldest"]).total_seconds(), 3))
            for r in open_cases.values("queue").annotate(oldest=Min("opened_at")).order_by("queue")])
    active = Review.objects.filter(state=ReviewState.OPEN)
    at_risk = active.filter(warned_at__isnull=False, breached_at__isnull=True).count()
    breached = active.filter(breached_at__isnull=False).count()
    _gauge(lines, "quorum_cases_at_risk", "Open stages past their SLA warning time, not yet breached.", [({}, at_risk)])
    _gauge(lines, "quorum_cases_breached", "Open stages past their SLA deadline.", [({}, breached)])

    lag = {
        "sla_warnings": active.filter(warned_at__isnull=True, warn_at__lte=now).aggregate(m=Min("warn_at"))["m"],
        "sla_breaches": active.filter(breached_at__isnull=True, due_at__lte=now).aggregate(m=Min("due_at"))["m"],
        "claim_leases": Seat.objects.filter(state=SeatState.CLAIMED, lease_expires_at__lte=now)
        .aggregate(m=Min("lease_expires_at"))["m"],
    }
    _gauge(lines, "quorum_sweep_lag_seconds", "Now minus the oldest due item not yet processed (0 when none).",
           [({"sweep": k}, round((now - v).total_seconds(), 3) if v else 0) for k, v in lag.items()])
    beats = {b.name: b for b in Heartbeat.objects.filter(name__in=SWEEPS)}
    _gauge(lines, "quorum_sweep_last_run_timestamp_seconds", "When each sweep last finished (Unix time).",
           [({"sweep": k}, round(beats[k].last_run_at.timestamp(), 3)) for k in SWEEPS if k in beats])

    from cases.models import Report

    # Counted from the tables themselves: exact, shared by every process and
    # restart-proof. At tens of millions of reports a counter row or Redis
    # INCR would be cheaper than this count; decisions use their sequence.
    _gauge(lines, "quorum_reports_received_total", "Reports filed.", [({}, Report.objects.count())], kind="counter")
    decisions = Decision.objects.aggregate(n=Max("sequence"), reversed=Count("id", filter=Q(
        kind=DecisionKind.APPEAL_OVERTURNED)))
    _gauge(lines, "quorum_decisions_total", "Decisions recorded (including appeal results).",
           [({}, decisions["n"] or 0)], kind="counter")
    _gauge(lines, "quorum_decisions_reversed_total", "Decisions overturned on appeal.",
           [({}, decisions["reversed"] or 0)], kind="counter")
    from . import degraded

    _gauge(lines, "quorum_degraded_operations_total",
           "Operations that went on without a dependency that was down (this process), per component and choice.",
           [({"component": c, "mode": m}, n) for (c, m), n in sorted(degraded.counts().items())], kind="counter")
    return lines
