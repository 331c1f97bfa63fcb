"""Figures for the supervisor dashboard: backlog, SLA compliance, speed,
breaches and quality (appeal overturns, splits, inter-reviewer agreement).

Everything is aggregated in the database; `dashboard_figures` runs the same
number of queries whatever the amount of data (8 on PostgreSQL, 9 elsewhere;
one more when the figures are for a user, to read the queues hidden from
them: every figure then leaves out the cases of those queues, counts
included, so that no total tells a user about cases they may not see).
The only rows brought into Python are per-queue and per-day totals and, for
agreement, one row per (review, outcome) with its vote count.

Medians: on PostgreSQL `percentile_cont(0.5)` over every case in the window.
Other databases (SQLite for `make run`) have no ordered-set aggregates, so
there the median is computed in Python over the latest MEDIAN_SAMPLE cases
of the window (exact whenever the window holds no more than that).
"""

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.db.models import Count, F, FilteredRelation, Min, OuterRef, Q, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from cases.models import Case, CaseState, Policy, Queue, Report
from cases.visibility import hidden_queues
from config.dbrouter import read_connection, replica_reads

from .agreement import fleiss_kappa, krippendorff_alpha_nominal
from .models import Appeal, AppealResult, AppealState, Decision, Review, ReviewState, Seat, StageKind, Vote

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
DEFAULT_WINDOW = "7d"
# Fewer agreement units than this: "not enough data" instead of a figure that one review could swing.
MIN_AGREEMENT_UNITS = 5
MEDIAN_SAMPLE = 5000
CHART_DAYS = 7
BACKLOG_STATES = (CaseState.OPEN, CaseState.IN_REVIEW, CaseState.ESCALATED, CaseState.ON_HOLD)


@dataclass(frozen=True)
class Rate:
    numerator: int
    denominator: int

    @property
    def value(self):
        return self.numerator / self.denominator if self.denominator else None

    @property
    def percent(self):
        return None if self.value is None else round(100 * self.value, 1)


@dataclass(frozen=True)
class QueueBacklog:
    slug: str
    name: str
    open: int
    in_review: int
    escalated: int
    on_hold: int
    oldest_opened_at: datetime | None
    name_translations: dict = field(default_factory=dict)  # the admin's translations of `name`

    @property
    def total(self):
        return self.open + self.in_review + self.escalated + self.on_hold


@dataclass(frozen=True)
class Median:
    seconds: float | None
    cases: int  # how many cases the median is over
    sampled: bool = False  # True: over the latest MEDIAN_SAMPLE cases only

    @property
    def duration(self):
        return None if self.seconds is None else timedelta(seconds=round(self.seconds))


@dataclass(frozen=True)
class Agreement:
    policy: str  # code; "" for all policies together
    policy_name: str
    units: int  # reviews with at least two votes that have an outcome
    votes: int
    raters: tuple  # (fewest, most) votes per unit
    alpha: float | None
    kappa: float | None  # None when the number of raters varies (or undefined)

    @property
    def enough(self):
        return self.units >= MIN_AGREEMENT_UNITS and self.alpha is not None

    @property
    def same_raters(self):
        return bool(self.units) and self.raters[0] == self.raters[1]


@dataclass(frozen=True)
class Day:
    day: object  # datetime.date
    decisions: int
    breaches: int


@dataclass
class Dashboard:
    now: datetime
    window: str
    since: datetime
    backlog: list
    sla_24h: Rate
    sla_7d: Rate
    breaches: int
    first_action: Median
    decision: Median
    median_method: str  # "percentile_cont" or "sample"
    overturn: Rate
    split: Rate
    agreement: list = field(default_factory=list)  # per policy, then all policies together ("" code)
    days: list = field(default_factory=list)


def dashboard_figures(*, window=DEFAULT_WINDOW, now=None, user=None):
    """Every dashboard figure for `window` ("24h" or "7d") ending at `now`,
    over the queues `user` may see (cases.visibility; None: every queue,
    for reports run by the operator). SLA compliance is given for both
    windows whatever `window` is."""
    now = now or timezone.now()
    since = now - WINDOWS[window]
    # Who may see what is read from the primary: a queue restricted a moment ago must not
    # show up in the figures because the replica has not heard of the restriction yet.
    hidden = () if user is None else _hidden_queue_ids(user)
    with replica_reads():  # the aggregates: a read replica when there is one (config/dbrouter.py)
        first_action, decision, method = _medians(since, now, hidden)
        reviews = _review_counts(since, now, hidden)
        return Dashboard(
            now=now, window=window, since=since, backlog=_backlog(hidden),
            sla_24h=Rate(reviews["met_24h"], reviews["due_24h"]), sla_7d=Rate(reviews["met_7d"], reviews["due_7d"]),
            breaches=reviews["breaches"], first_action=first_action, decision=decision, median_method=method,
            overturn=_overturns(since, now, hidden),
            split=Rate(reviews["split"], reviews["split"] + reviews["consensus"]),
            agreement=_agreement(since, now, hidden), days=_days(now, hidden),
        )


def _hidden_queue_ids(user):
    """The ids of the queues hidden from `user` (one query; none for a superuser)."""
    hidden = hidden_queues(user)
    return () if hidden is None else tuple(sorted(hidden.values_list("pk", flat=True)))


def _backlog(hidden=()):
    """One row per queue (empty queues too), from the partial index of not-closed cases."""
    queues = Queue.objects.exclude(pk__in=hidden).annotate(
        backlog=FilteredRelation("cases", condition=Q(cases__closed_at__isnull=True)),
    ).annotate(
        n_open=Count("backlog", filter=Q(backlog__state=CaseState.OPEN)),
        n_in_review=Count("backlog", filter=Q(backlog__state=CaseState.IN_REVIEW)),
        n_escalated=Count("backlog", filter=Q(backlog__state=CaseState.ESCALATED)),
        n_on_hold=Count("backlog", filter=Q(backlog__state=CaseState.ON_HOLD)),
        oldest=Min("backlog__opened_at", filter=Q(backlog__state__in=BACKLOG_STATES)),
    ).order_by("slug").values_list("slug", "name", "n_open", "n_in_review", "n_escalated", "n_on_hold", "oldest",
                                      "name_translations")
    return [QueueBacklog(*row) for row in queues]


def _review_counts(since, now, hidden=()):
    since_24h, since_7d = now - WINDOWS["24h"], now - WINDOWS["7d"]
    closed_24h = Q(closed_at__gte=since_24h, closed_at__lte=now, due_at__isnull=False)
    closed_7d = Q(closed_at__gte=since_7d, closed_at__lte=now, due_at__isnull=False)
    in_time = Q(closed_at__lte=F("due_at"))
    closed_in_window = Q(closed_at__gte=since, closed_at__lte=now)
    return Review.objects.filter(
        Q(closed_at__gte=min(since, since_7d), closed_at__lte=now) | Q(breached_at__gte=since, breached_at__lte=now)
    ).exclude(queue_id__in=hidden).aggregate(
        due_24h=Count("pk", filter=closed_24h), met_24h=Count("pk", filter=closed_24h & in_time),
        due_7d=Count("pk", filter=closed_7d), met_7d=Count("pk", filter=closed_7d & in_time),
        breaches=Count("pk", filter=Q(breached_at__gte=since, breached_at__lte=now)),
        split=Count("pk", filter=closed_in_window & Q(state=ReviewState.SPLIT)),
        consensus=Count("pk", filter=closed_in_window & Q(state=ReviewState.CONSENSUS)),
    )


def _overturns(since, now, hidden=()):
    counts = Appeal.objects.filter(state=AppealState.DECIDED, decided_at__gte=since, decided_at__lte=now).exclude(
        case__queue_id__in=hidden).aggregate(
        decided=Count("pk"),
        changed=Count("pk", filter=Q(result__in=[AppealResult.OVERTURNED, AppealResult.MODIFIED])),
    )
    return Rate(counts["changed"], counts["decided"])


# ---- medians -----------------------------------------------------------------------

# Per case: opened -> first seat claimed, and opened -> first decision, for the
# cases whose first claim (first decision) fell in the window.
_MEDIANS_SQL = """
WITH first_claim AS (
    SELECT r.case_id, MIN(s.claimed_at) AS at
    FROM {seat} s JOIN {review} r ON r.id = s.review_id
    WHERE NOT (r.queue_id = ANY(%(hidden)s))
    GROUP BY r.case_id
    HAVING MIN(s.claimed_at) >= %(since)s AND MIN(s.claimed_at) <= %(now)s
), first_decision AS (
    SELECT d.case_id, MIN(d.decided_at) AS at
    FROM {decision} d JOIN {case} dc ON dc.id = d.case_id
    WHERE NOT (dc.queue_id = ANY(%(hidden)s))
    GROUP BY d.case_id
    HAVING MIN(d.decided_at) >= %(since)s AND MIN(d.decided_at) <= %(now)s
)
SELECT
    (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM f.at - c.opened_at))
     FROM first_claim f JOIN {case} c ON c.id = f.case_id),
    (SELECT count(*) FROM first_claim),
    (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM f.at - c.opened_at))
     FROM first_decision f JOIN {case} c ON c.id = f.case_id),
    (SELECT count(*) FROM first_decision)
"""


def _medians(since, now, hidden=()):
    connection = read_connection()
    if connection.vendor == "postgresql":
        sql = _MEDIANS_SQL.format(seat=Seat._meta.db_table, review=Review._meta.db_table,
                                  decision=Decision._meta.db_table, case=Case._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(sql, {"since": since, "now": now, "hidden": list(hidden)})
            claim_median, claims, decision_median, decisions = cursor.fetchone()
        return (Median(_float(claim_median), claims), Median(_float(decision_median), decisions), "percentile_cont")
    return (*medians_sampled(since, now, hidden=hidden), "sample")


def _float(value):
    return None if value is None else float(value)


def medians_sampled(since, now, *, sample=MEDIAN_SAMPLE, hidden=()):
    """The portable way (two queries): the latest `sample` cases of the
    window, their durations, and the median computed in Python."""
    cases = Case.objects.exclude(queue_id__in=hidden)
    claims = (cases.annotate(first=Min("reviews__seat_set__claimed_at"))
              .filter(first__gte=since, first__lte=now).order_by("-first").values_list("opened_at", "first")[:sample])
    decisions = (cases.annotate(first=Min("decisions__decided_at"))
                 .filter(first__gte=since, first__lte=now).order_by("-first").values_list("opened_at", "first")[:sample])
    return _median_of(list(claims), sample), _median_of(list(decisions), sample)


def _median_of(pairs, sample):
    if not pairs:
        return Median(None, 0)
    seconds = [(done - opened).total_seconds() for opened, done in pairs]
    return Median(statistics.median(seconds), len(seconds), sampled=len(seconds) >= sample)


# ---- agreement ---------------------------------------------------------------------

def _agreement(since, now, hidden=()):
    """Krippendorff's alpha (and Fleiss' kappa where it applies) per policy,
    over the votes with an outcome in reviews closed in the window. The
    policy of a review is the one its case was first reported under.
    Approval stages are left out: their "votes" approve a proposal, they do
    not judge the content."""
    first_policy = Report.objects.filter(case_id=OuterRef("review__case_id")).order_by("received_at", "id")
    rows = (
        Vote.objects.filter(outcome__isnull=False, review__closed_at__gte=since, review__closed_at__lte=now)
        .exclude(review__stage__kind=StageKind.APPROVAL)
        .exclude(review__queue_id__in=hidden)
        .annotate(case_policy=Subquery(first_policy.values("policy__code")[:1]))
        .values_list("review_id", "case_policy", "outcome__code")
        .annotate(n=Count("pk"))
        .order_by()
    )
    units = defaultdict(dict)  # policy -> review -> [outcome codes]
    for review_id, policy, outcome, n in rows:
        units[policy or ""].setdefault(review_id, []).extend([outcome] * n)
    names = dict(Policy.objects.values_list("code", "name"))
    figures = [_agreement_of(code, names.get(code, code), list(by_review.values()))
               for code, by_review in sorted(units.items())]
    everything = [unit for by_review in units.values() for unit in by_review.values()]
    figures.append(_agreement_of("", "", everything))
    return figures


def _agreement_of(code, name, units):
    units = [unit for unit in units if len(unit) >= 2]
    sizes = [len(unit) for unit in units]
    return Agreement(
        policy=code, policy_name=name, units=len(units), votes=sum(sizes),
        raters=(min(sizes), max(sizes)) if sizes else (0, 0),
        alpha=krippendorff_alpha_nominal(units), kappa=fleiss_kappa(units),
    )


# ---- daily chart -------------------------------------------------------------------

def _days(now, hidden=()):
    """Decisions made and deadlines breached per day (current time zone) over
    the last CHART_DAYS days, today included; two grouped queries."""
    today = timezone.localdate(now)
    first = today - timedelta(days=CHART_DAYS - 1)
    start = timezone.make_aware(datetime.combine(first, time.min))
    decisions = dict(
        Decision.objects.filter(decided_at__gte=start, decided_at__lte=now).exclude(case__queue_id__in=hidden)
        .annotate(day=TruncDate("decided_at")).values("day").annotate(n=Count("pk")).values_list("day", "n")
    )
    breaches = dict(
        Review.objects.filter(breached_at__gte=start, breached_at__lte=now).exclude(queue_id__in=hidden)
        .annotate(day=TruncDate("breached_at")).values("day").annotate(n=Count("pk")).values_list("day", "n")
    )
    days = [first + timedelta(days=i) for i in range(CHART_DAYS)]
    return [Day(day, decisions.get(day, 0), breaches.get(day, 0)) for day in days]
