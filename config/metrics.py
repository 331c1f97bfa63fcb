"""What /metrics reports, through prometheus_client. Each figure is one
aggregate query over an index, taken at scrape time from the database, so
every web process answers the same. Under gunicorn, metrics that processes
keep themselves (prometheus_client counters, histograms) are added up across
workers in multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set up by
gunicorn.conf.py)."""

import os
import time
from collections.abc import Iterator
from datetime import datetime

from django.db.models import Count, Max, Min, Q
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from . import degraded

SWEEPS = ("sla_warnings", "sla_breaches", "claim_leases")


def _gauge(name: str, help_text: str, samples: list[tuple[dict, float]]) -> GaugeMetricFamily:
    labels = sorted({key for sample_labels, _ in samples for key in sample_labels})
    family = GaugeMetricFamily(name, help_text, labels=labels)
    for sample_labels, value in samples:
        family.add_metric([str(sample_labels[key]) for key in labels], value)
    return family


def _counter(name: str, help_text: str, value: float) -> CounterMetricFamily:
    # prometheus_client takes the family name without `_total` and writes the sample as name_total.
    return CounterMetricFamily(name.removesuffix("_total"), help_text, value=value)


class QuorumCollector(Collector):
    """The database-derived figures, computed at each collect()."""

    def __init__(self, *, now: datetime) -> None:
        self.now = now

    def collect(self) -> Iterator[Metric]:
        from cases.models import Case, Queue, Report
        from reviews.models import Decision, DecisionKind, Heartbeat, Review, ReviewState, Seat, SeatState

        now = self.now
        started = time.monotonic()
        queues = dict(Queue.objects.values_list("pk", "slug"))
        open_cases = Case.objects.filter(closed_at__isnull=True)
        yield _gauge("quorum_open_cases", "Cases not closed, per queue and state.",
                     [({"queue": queues.get(r["queue"], r["queue"]), "state": r["state"]}, r["n"])
                      for r in open_cases.values("queue", "state").annotate(n=Count("id")).order_by("queue", "state")])
        yield _gauge("quorum_oldest_open_case_age_seconds", "Age of the oldest case not closed, per queue.",
                     [({"queue": queues.get(r["queue"], r["queue"])}, round((now - r["oldest"]).total_seconds(), 3))
                      for r in open_cases.values("queue").annotate(oldest=Min("opened_at")).order_by("queue")])
        active = Review.objects.filter(state=ReviewState.OPEN)
        from reviews.sla import at_risk_q, breached_q  # the one definition, shared with My work

        at_risk = active.filter(at_risk_q()).count()
        breached = active.filter(breached_q()).count()
        yield _gauge("quorum_cases_at_risk", "Open stages past their SLA warning time, not yet breached.",
                     [({}, at_risk)])
        yield _gauge("quorum_cases_breached", "Open stages past their SLA deadline.", [({}, breached)])

        lag = {
            "sla_warnings": active.filter(warned_at__isnull=True, warn_at__lte=now).aggregate(m=Min("warn_at"))["m"],
            "sla_breaches": active.filter(breached_at__isnull=True, due_at__lte=now).aggregate(m=Min("due_at"))["m"],
            "claim_leases": Seat.objects.filter(state=SeatState.CLAIMED, lease_expires_at__lte=now)
            .aggregate(m=Min("lease_expires_at"))["m"],
        }
        yield _gauge("quorum_sweep_lag_seconds", "Now minus the oldest due item not yet processed (0 when none).",
                     [({"sweep": k}, round((now - v).total_seconds(), 3) if v else 0) for k, v in lag.items()])
        beats = {b.name: b for b in Heartbeat.objects.filter(name__in=SWEEPS)}
        yield _gauge("quorum_sweep_last_run_timestamp_seconds", "When each sweep last finished (Unix time).",
                     [({"sweep": k}, round(beats[k].last_run_at.timestamp(), 3)) for k in SWEEPS if k in beats])

        # Counted from the tables themselves: exact, shared by every process and
        # restart-proof. At tens of millions of reports a counter row or Redis
        # INCR would be cheaper than this count; decisions use their sequence.
        yield _counter("quorum_reports_received_total", "Reports filed.", Report.objects.count())
        decisions = Decision.objects.aggregate(n=Max("sequence"), reversed=Count("id", filter=Q(
            kind=DecisionKind.APPEAL_OVERTURNED)))
        yield _counter("quorum_decisions_total", "Decisions recorded (including appeal results).",
                       decisions["n"] or 0)
        yield _counter("quorum_decisions_reversed_total", "Decisions overturned on appeal.",
                       decisions["reversed"] or 0)
        yield _gauge("quorum_metrics_scrape_seconds", "Time spent collecting these metrics.",
                     [({}, round(time.monotonic() - started, 6))])


def render(*, now: datetime) -> bytes:
    """The exposition text: the database figures plus, in multiprocess mode,
    what every process recorded itself."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QuorumCollector(now=now))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        # Includes quorum_degraded_operations_total, summed over every worker's files.
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(degraded.COUNTER)
    return generate_latest(registry)
