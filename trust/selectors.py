"""Reads for the console: an account's standing on the case page, trusted
flaggers' accuracy and speed, reporter sanctions and proposals for leads.
Each runs a fixed number of queries whatever the data size."""

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from cases.models import Report, ReporterKind, Subject
from reviews.models import Decision

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

    @property
    def accuracy(self) -> float | None:
        return self.upheld / self.decided if self.decided else None


def flagger_figures(*, days: int = 90, now: datetime | None = None) -> list[FlaggerFigures]:
    """Per registered flagger, over the last `days`: notices filed as a
    trusted flagger's, how many were decided, how many upheld (the case's
    current decision is a violation) and the median hours from notice to
    decision. Three queries."""
    now = now or timezone.now()
    flaggers = list(TrustedFlagger.objects.prefetch_related("identities").order_by("name"))
    by_client = {f.api_client_id: f for f in flaggers if f.api_client_id}
    by_identity = {(i.source_id, i.reporter_external_id): f for f in flaggers for i in f.identities.all()}
    current = Decision.objects.filter(case_id=OuterRef("case_id"), is_current=True)
    reports = (Report.objects.filter(reporter_kind=ReporterKind.TRUSTED_FLAGGER,
                                     received_at__gte=now - timedelta(days=days))
               .annotate(decided_at=Subquery(current.values("decided_at")[:1]),
                         violation=Subquery(current.values("outcome__is_violation")[:1]))
               .values_list("api_client_id", "source_id", "reporter_external_id", "received_at", "decided_at",
                            "violation"))
    figures = {f.pk: FlaggerFigures(flagger=f) for f in flaggers}
    hours = {f.pk: [] for f in flaggers}
    for client_id, source_id, external_id, received_at, decided_at, violation in reports:
        flagger = by_client.get(client_id) or by_identity.get((source_id, external_id))
        if flagger is None:
            continue  # a report from before the flagger was removed from the registry
        fig = figures[flagger.pk]
        fig.notices += 1
        if decided_at is not None and decided_at >= received_at:
            fig.decided += 1
            fig.upheld += 1 if violation else 0
            hours[flagger.pk].append((decided_at - received_at).total_seconds() / 3600)
    for pk, values in hours.items():
        figures[pk].median_hours = round(statistics.median(values), 1) if values else None
    return [figures[f.pk] for f in flaggers]


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
