"""Reads for the console: an account's standing on the case page, trusted
flaggers' accuracy and speed, reporter sanctions and proposals for leads.
Each runs a fixed number of queries whatever the data size."""

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import FilteredRelation, Q
from django.utils import timezone

from cases.models import Report, ReporterKind, Subject

from .models import HeldNotice, ReporterSanction, SanctionState, Strike, StrikeProposal, TrustedFlagger
from .strikes import account_of

STANDING_LIMIT = 20
LIST_LIMIT = 50


@dataclass
class Standing:
    account: Subject | None
    points: int = 0
    strikes: list = field(default_factory=list)  # newest first, at most STANDING_LIMIT, each with .status
    proposals: list = field(default_factory=list)


def account_standing(*, subject: Subject, now: datetime | None = None) -> Standing:
    """The strikes and proposals of the account a case is about (the subject,
    or the content's author). Two queries; none without an account. The
    caller passes a subject with `author` loaded."""
    account = account_of(subject)
    if account is None:
        return Standing(account=None)
    now = now or timezone.now()
    strikes = list(Strike.objects.filter(account=account).select_related("policy")
                   .order_by("-created_at")[:STANDING_LIMIT])
    points = 0
    for strike in strikes:
        if strike.removed_at is not None:
            strike.status = "removed"
        elif strike.expires_at <= now:
            strike.status = "expired"
        else:
            strike.status = "active"
            points += strike.weight
    proposals = list(StrikeProposal.objects.filter(account=account).order_by("-created_at")[:STANDING_LIMIT])
    return Standing(account=account, points=points, strikes=strikes, proposals=proposals)


@dataclass
class FlaggerFigures:
    flagger: TrustedFlagger
    notices: int = 0
    decided: int = 0
    upheld: int = 0
    median_hours: float | None = None
    # the cases behind each count (the transparency report lists them)
    notice_cases: set = field(default_factory=set)
    decided_cases: set = field(default_factory=set)
    upheld_cases: set = field(default_factory=set)

    @property
    def accuracy(self) -> float | None:
        return self.upheld / self.decided if self.decided else None


def flagger_figures_between(*, start: datetime, end: datetime) -> list[FlaggerFigures]:
    """Per registered flagger, over the notices received in [start, end)
    filed as a trusted flagger's: how many, how many were decided (the case's
    current decision was made after the notice), how many upheld (that
    decision is a violation) and the median hours from notice to decision,
    with the case ids behind each. Two queries."""
    flaggers = list(TrustedFlagger.objects.prefetch_related("identities").order_by("name"))
    by_client = {f.api_client_id: f for f in flaggers if f.api_client_id}
    by_identity = {(i.source_id, i.reporter_external_id): f for f in flaggers for i in f.identities.all()}
    # One LEFT JOIN to the case's current decision (at most one: a partial unique index) and its outcome.
    reports = (Report.objects.filter(reporter_kind=ReporterKind.TRUSTED_FLAGGER, received_at__gte=start,
                                     received_at__lt=end)
               .annotate(current=FilteredRelation("case__decisions",
                                                  condition=Q(case__decisions__is_current=True)))
               .values_list("api_client_id", "source_id", "reporter_external_id", "received_at",
                            "current__decided_at", "current__outcome__is_violation", "case_id"))
    figures = {f.pk: FlaggerFigures(flagger=f) for f in flaggers}
    hours = {f.pk: [] for f in flaggers}
    for client_id, source_id, external_id, received_at, decided_at, violation, case_id in reports:
        flagger = by_client.get(client_id) or by_identity.get((source_id, external_id))
        if flagger is None:
            continue  # a report from before the flagger was removed from the registry
        fig = figures[flagger.pk]
        fig.notices += 1
        fig.notice_cases.add(str(case_id))
        if decided_at is not None and decided_at >= received_at:
            fig.decided += 1
            fig.decided_cases.add(str(case_id))
            if violation:
                fig.upheld += 1
                fig.upheld_cases.add(str(case_id))
            hours[flagger.pk].append((decided_at - received_at).total_seconds() / 3600)
    for pk, values in hours.items():
        figures[pk].median_hours = round(statistics.median(values), 1) if values else None
    return [figures[f.pk] for f in flaggers]


def flagger_figures_key() -> str:
    return f"trust:flagger-figures:{settings.TRUST_FLAGGER_WINDOW_DAYS}"


def flagger_figures_forget() -> None:
    """Drops the cached figures (a registry change: a new flagger, a new identity, a new name)."""
    cache.delete(flagger_figures_key())


@dataclass
class CachedFlaggerFigures:
    figures: list[FlaggerFigures]
    days: int
    computed_at: datetime


def flagger_figures(*, now: datetime | None = None) -> CachedFlaggerFigures:
    """The console's figures per flagger over the last
    TRUST_FLAGGER_WINDOW_DAYS, shared by every viewer for
    TRUST_FLAGGER_FIGURES_CACHE_SECONDS (0: computed on every call): the
    window can hold hundreds of thousands of notices, and a page load should
    not scan them again. The page says when they were computed. Two queries
    when computed, none when cached."""
    days, ttl = settings.TRUST_FLAGGER_WINDOW_DAYS, settings.TRUST_FLAGGER_FIGURES_CACHE_SECONDS
    key = flagger_figures_key()
    cached = cache.get(key) if ttl else None
    if cached is None:
        now = now or timezone.now()
        cached = CachedFlaggerFigures(figures=flagger_figures_between(start=now - timedelta(days=days), end=now),
                                      days=days, computed_at=now)
        if ttl:
            cache.set(key, cached, ttl)
    return cached


def recent_sanctions(*, limit: int = LIST_LIMIT) -> list[ReporterSanction]:
    """The latest reporter sanctions (one query), with the source."""
    return list(ReporterSanction.objects.select_related("source").order_by("-created_at")[:limit])


def suspensions_awaiting_lead(*, limit: int = LIST_LIMIT) -> list[ReporterSanction]:
    """Proposed suspensions of reporters' notices a lead has to confirm or
    reject, oldest first (one query)."""
    return list(ReporterSanction.objects.filter(state=SanctionState.PROPOSED).select_related("source")
                .order_by("created_at")[:limit])


def suspensions_running(*, now: datetime, limit: int = LIST_LIMIT) -> list[ReporterSanction]:
    """Confirmed suspensions not yet ended, ending soonest first (one query): what a lead may lift."""
    return list(ReporterSanction.objects.filter(state=SanctionState.CONFIRMED, kind="suspension", ends_at__gt=now)
                .select_related("source", "decided_by").order_by("ends_at")[:limit])


def recent_proposals(*, limit: int = LIST_LIMIT) -> list[StrikeProposal]:
    """The latest repeat-offender proposals (one query), with the account."""
    return list(StrikeProposal.objects.select_related("account", "policy").order_by("-created_at")[:limit])


def held_notice_count(*, now: datetime | None = None, days: int = 90) -> int:
    now = now or timezone.now()
    return HeldNotice.objects.filter(received_at__gte=now - timedelta(days=days)).count()
