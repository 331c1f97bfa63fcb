"""Reporters who frequently submit manifestly unfounded notices (DSA Art. 23(2)).

A reporter is one identified external reporter id of one source, filing as
an ordinary user. Over the last `TRUST_ABUSE_WINDOW_DAYS`, among the
reporter's notices whose case has a current decision taken after the notice
arrived, `unfounded` are those decided "no violation". When a decision of no violation judges one of the
reporter's notices and

    decided ≥ TRUST_ABUSE_MIN_NOTICES  and  unfounded / decided ≥ TRUST_ABUSE_UNFOUNDED_SHARE

the next step is recorded: a warning when the reporter had no sanction in the
window, otherwise a suspension of `TRUST_ABUSE_SUSPENSION_DAYS` (none while
one is running). Each step is a ReporterSanction with its reason and
figures, audited `reporter.sanctioned`. While suspended, the reporter's
notices are held (trust.intake): stored, not filed, not counted.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Q
from django.utils import timezone

import audit
from audit.context import Actor
from cases.models import Report, ReporterKind
from reviews.models import Decision

from .intake import trust_stream
from .models import ReporterSanction, SanctionKind


def reporter_figures(*, source_id, external_ids: set[str], now: datetime) -> dict[str, tuple[int, int]]:
    """{external id: (decided notices, unfounded notices)} in the window (one query)."""
    since = now - timedelta(days=settings.TRUST_ABUSE_WINDOW_DAYS)
    rows = (Report.objects.filter(source_id=source_id, reporter_kind=ReporterKind.USER,
                                  reporter_external_id__in=external_ids, received_at__gte=since,
                                  case__decisions__is_current=True,
                                  # judged by it (so also within the window): a report filed after the decision was
                                  # not decided by it
                                  case__decisions__decided_at__gte=F("received_at"))
            .values("reporter_external_id")
            .annotate(decided=Count("id"), unfounded=Count("id", filter=Q(case__decisions__outcome__is_violation=False))))
    return {r["reporter_external_id"]: (r["decided"], r["unfounded"]) for r in rows}


def next_step(*, decided: int, unfounded: int, latest: ReporterSanction | None, now: datetime) -> str | None:
    """Pure core: the sanction kind to record now, or None."""
    if decided < settings.TRUST_ABUSE_MIN_NOTICES or decided == 0:
        return None
    if unfounded / decided < settings.TRUST_ABUSE_UNFOUNDED_SHARE:
        return None
    window_start = now - timedelta(days=settings.TRUST_ABUSE_WINDOW_DAYS)
    if latest is None:
        return SanctionKind.WARNING
    if latest.kind == SanctionKind.SUSPENSION and latest.ends_at > now:
        return None  # already suspended
    last_moment = latest.ends_at or latest.created_at
    if last_moment < window_start:
        return SanctionKind.WARNING  # the earlier step is too old to build on: warn again
    return SanctionKind.SUSPENSION


def _reason(kind: str, decided: int, unfounded: int, until: datetime | None) -> str:
    share = round(100 * unfounded / decided)
    base = (f"{unfounded} of your {decided} notices decided in the last {settings.TRUST_ABUSE_WINDOW_DAYS} days "
            f"({share}%) were found to be manifestly unfounded (no violation).")
    if kind == SanctionKind.WARNING:
        return (f"{base} This is a warning under DSA Art. 23(2): if this continues, the processing of your notices "
                f"will be suspended for {settings.TRUST_ABUSE_SUSPENSION_DAYS} days.")
    return (f"{base} You were warned before. Under DSA Art. 23(2) the processing of your notices is suspended until "
            f"{until.date().isoformat()}; notices sent meanwhile are stored but not processed.")


def _lock_reporters(source_id, external_ids) -> None:
    # Two decisions judging one reporter's notices at once must not both record a warning.
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for external_id in sorted(external_ids):
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 23))", [f"reporter:{source_id}:{external_id}"])


def reporters_assess(*, decision: Decision, actor: Actor) -> list[ReporterSanction]:
    """After a decision of no violation: the next step for each identified
    user whose notice it judged, in the caller's transaction. Returns the
    sanctions recorded."""
    if decision.outcome.is_violation:
        return []
    case = decision.case
    reporters = set(Report.objects.filter(case_id=case.pk, reporter_kind=ReporterKind.USER,
                                          received_at__lte=decision.decided_at)
                    .exclude(reporter_external_id="").values_list("reporter_external_id", flat=True))
    if not reporters:
        return []
    _lock_reporters(case.source_id, reporters)
    now = timezone.now()  # taken after the lock: steps are dated in the order they are taken
    figures = reporter_figures(source_id=case.source_id, external_ids=reporters, now=now)
    latest = {}
    for sanction in (ReporterSanction.objects.filter(source_id=case.source_id, reporter_external_id__in=reporters)
                     .order_by("reporter_external_id", "-created_at")):
        latest.setdefault(sanction.reporter_external_id, sanction)
    recorded = []
    for external_id in sorted(reporters):
        decided, unfounded = figures.get(external_id, (0, 0))
        kind = next_step(decided=decided, unfounded=unfounded, latest=latest.get(external_id), now=now)
        if kind is None:
            continue
        ends_at = now + timedelta(days=settings.TRUST_ABUSE_SUSPENSION_DAYS) if kind == SanctionKind.SUSPENSION \
            else None
        sanction = ReporterSanction.objects.create(
            source_id=case.source_id, reporter_external_id=external_id, kind=kind,
            reason=_reason(kind, decided, unfounded, ends_at), notices=decided, unfounded=unfounded,
            decision=decision, created_at=now, ends_at=ends_at)
        audit.record(stream=trust_stream(case.source_id), action="reporter.sanctioned", actor=actor,
                     target_type="reporter_sanction", target_id=sanction.pk, data={
                         "source_id": str(case.source_id), "reporter_external_id": external_id, "kind": kind,
                         "notices": decided, "unfounded": unfounded, "decision_id": str(decision.pk),
                         "ends_at": ends_at.isoformat() if ends_at else None, "reason": sanction.reason})
        recorded.append(sanction)
    return recorded
