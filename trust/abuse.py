"""Reporters who frequently submit manifestly unfounded notices (DSA Art. 23(2)).

A reporter is one identified external reporter id of one source, filing as
an ordinary user. Over the last `TRUST_ABUSE_WINDOW_DAYS`, among the
reporter's notices whose case has a current decision taken after the notice
arrived, `unfounded` are those decided "no violation". When a decision of no violation judges one of the
reporter's notices and

    decided ≥ TRUST_ABUSE_MIN_NOTICES  and  unfounded / decided ≥ TRUST_ABUSE_UNFOUNDED_SHARE

the next step is taken: a warning when the reporter had no sanction in the
window (recorded at once, audited `reporter.sanctioned`), otherwise a
*proposal* to suspend the processing of their notices for
`TRUST_ABUSE_SUSPENSION_DAYS` (audited `reporter.suspension_proposed`;
none while one is pending or running). A lead confirms the proposal (the
suspension runs from then) or rejects it, and may lift a suspension early;
each audited with the statement or the reason (`suspension_confirm`,
`suspension_reject`, `suspension_lift`). After a rejection or a lift only
notices received after it count towards the next proposal. While suspended,
the reporter's notices are held (trust.intake): stored, not filed, not
counted.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

import audit
from audit.context import Actor
from cases.errors import DomainError, TransitionNotAllowed
from cases.models import Report, ReporterKind
from reviews.models import Decision
from reviews.services._common import is_lead

from .intake import trust_stream
from .models import ReporterSanction, SanctionKind, SanctionState

# The lead's decisions on a suspension (the one table of allowed transitions; a warning is never changed).
TRANSITIONS = {
    SanctionState.PROPOSED: {SanctionState.CONFIRMED, SanctionState.REJECTED},
    SanctionState.CONFIRMED: {SanctionState.LIFTED},
}
LEAD_NOTE_MAX = 2000
STATEMENT_MAX = 5000


def reporter_figures(*, source_id, external_ids: set[str], now: datetime,
                     since: datetime | None = None) -> dict[str, tuple[int, int]]:
    """{external id: (decided notices, unfounded notices)} in the window, or
    of the notices received after `since` when that is later (one query)."""
    window_start = now - timedelta(days=settings.TRUST_ABUSE_WINDOW_DAYS)
    since = max(window_start, since) if since else window_start
    rows = (Report.objects.filter(source_id=source_id, reporter_kind=ReporterKind.USER,
                                  reporter_external_id__in=external_ids, received_at__gte=since,
                                  case__decisions__is_current=True,
                                  # judged by it (so also within the window): a report filed after the decision was
                                  # not decided by it
                                  case__decisions__decided_at__gte=F("received_at"))
            .values("reporter_external_id")
            .annotate(decided=Count("id"), unfounded=Count("id", filter=Q(case__decisions__outcome__is_violation=False))))
    return {r["reporter_external_id"]: (r["decided"], r["unfounded"]) for r in rows}


def lead_decided_at(sanction: ReporterSanction | None) -> datetime | None:
    """When a lead rejected or lifted `sanction` (figures start again from there), else None."""
    if sanction is None:
        return None
    if sanction.state == SanctionState.REJECTED:
        return sanction.decided_at
    if sanction.state == SanctionState.LIFTED:
        return sanction.lifted_at
    return None


def next_step(*, decided: int, unfounded: int, latest: ReporterSanction | None, now: datetime) -> str | None:
    """Pure core: the sanction kind to record (a warning) or propose (a
    suspension) now, or None."""
    if decided < settings.TRUST_ABUSE_MIN_NOTICES or decided == 0:
        return None
    if unfounded / decided < settings.TRUST_ABUSE_UNFOUNDED_SHARE:
        return None
    window_start = now - timedelta(days=settings.TRUST_ABUSE_WINDOW_DAYS)
    if latest is None:
        return SanctionKind.WARNING
    if latest.state == SanctionState.PROPOSED:
        return None  # a lead has it
    if latest.kind == SanctionKind.SUSPENSION and latest.state == SanctionState.CONFIRMED and latest.ends_at > now:
        return None  # already suspended
    # A rejected or lifted step was looked at by a lead: it still counts as the warning it followed (the figures
    # the caller passes start after the lead's decision).
    last_moment = lead_decided_at(latest) or latest.ends_at or latest.created_at
    if last_moment < window_start:
        return SanctionKind.WARNING  # the earlier step is too old to build on: warn again
    return SanctionKind.SUSPENSION


def _reason(kind: str, decided: int, unfounded: int, until: datetime | None, days: int | None = None) -> str:
    share = round(100 * unfounded / decided)
    base = (f"{unfounded} of your {decided} notices decided in the last {settings.TRUST_ABUSE_WINDOW_DAYS} days "
            f"({share}%) were found to be manifestly unfounded (no violation).")
    if kind == SanctionKind.WARNING:
        return (f"{base} This is a warning under DSA Art. 23(2): if this continues, the processing of your notices "
                f"will be suspended for {settings.TRUST_ABUSE_SUSPENSION_DAYS} days.")
    period = f"until {until.date().isoformat()}" if until else f"for {days} days"
    return (f"{base} You were warned before. Under DSA Art. 23(2) the processing of your notices is suspended "
            f"{period}; notices sent meanwhile are stored but not processed.")


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
    latest = {}
    for sanction in (ReporterSanction.objects.filter(source_id=case.source_id, reporter_external_id__in=reporters)
                     .order_by("reporter_external_id", "-created_at")):
        latest.setdefault(sanction.reporter_external_id, sanction)
    restart = {e: lead_decided_at(s) for e, s in latest.items() if lead_decided_at(s)}
    figures = reporter_figures(source_id=case.source_id, external_ids=reporters - set(restart), now=now)
    for external_id, since in restart.items():  # rare: a lead rejected or lifted this reporter's last step
        figures.update(reporter_figures(source_id=case.source_id, external_ids={external_id}, now=now, since=since))
    recorded = []
    for external_id in sorted(reporters):
        decided, unfounded = figures.get(external_id, (0, 0))
        kind = next_step(decided=decided, unfounded=unfounded, latest=latest.get(external_id), now=now)
        if kind is None:
            continue
        proposal = kind == SanctionKind.SUSPENSION
        days = settings.TRUST_ABUSE_SUSPENSION_DAYS if proposal else None
        sanction = ReporterSanction.objects.create(
            source_id=case.source_id, reporter_external_id=external_id, kind=kind,
            reason=_reason(kind, decided, unfounded, None, days), notices=decided, unfounded=unfounded,
            decision=decision, created_at=now, ends_at=None, days=days,
            state=SanctionState.PROPOSED if proposal else SanctionState.CONFIRMED)
        audit.record(stream=trust_stream(case.source_id),
                     action="reporter.suspension_proposed" if proposal else "reporter.sanctioned", actor=actor,
                     target_type="reporter_sanction", target_id=sanction.pk, data={
                         "source_id": str(case.source_id), "reporter_external_id": external_id, "kind": kind,
                         "notices": decided, "unfounded": unfounded, "decision_id": str(decision.pk),
                         "days": days, "reason": sanction.reason})
        recorded.append(sanction)
    return recorded


# ---- a lead's decisions on a suspension (console › DSA) -----------------------------------------------------------

class NotALead(DomainError):
    code = "not_a_lead"


def _locked(*, sanction_id, lead, to_state: str) -> tuple[ReporterSanction, bool]:
    """The sanction, locked, and whether it is in `to_state` already (a
    repeated call: nothing to do). Requires the caller's transaction; raises
    NotALead, or TransitionNotAllowed for a move TRANSITIONS does not allow."""
    if not is_lead(lead):
        raise NotALead("only a senior moderator or an admin decides on the suspension of a reporter's notices")
    sanction = ReporterSanction.objects.select_for_update().get(pk=sanction_id)
    if sanction.state == to_state:
        return sanction, True
    if sanction.kind != SanctionKind.SUSPENSION or to_state not in TRANSITIONS.get(sanction.state, ()):
        raise TransitionNotAllowed(f"a {sanction.kind} that is {sanction.state} cannot become {to_state}")
    return sanction, False


def _record(sanction: ReporterSanction, *, action: str, lead, fields: list[str], data: dict) -> None:
    sanction.save(update_fields=fields)
    audit.record(stream=trust_stream(sanction.source_id), action=action, actor=Actor.user(lead),
                 target_type="reporter_sanction", target_id=sanction.pk,
                 data={"source_id": str(sanction.source_id), "reporter_external_id": sanction.reporter_external_id,
                       **data})


def _text(value: str, *, name: str, required: bool, limit: int) -> str:
    value = (value or "").strip()
    if required and not value:
        raise DomainError(f"{name}: give a reason", code="reason_required", field=name)
    if len(value) > limit:
        raise DomainError(f"{name}: at most {limit} characters", code="too_long", field=name)
    return value


def suspension_confirm(*, sanction_id, lead, statement: str = "", now: datetime | None = None) -> ReporterSanction:
    """A lead confirms a proposed suspension: it runs `days` from now, and
    `statement` (default: the proposed text with the end date) is what the
    reporter is told. Audited `reporter.suspension_confirmed`."""
    statement = _text(statement, name="statement", required=False, limit=STATEMENT_MAX)
    with transaction.atomic():
        sanction, done = _locked(sanction_id=sanction_id, lead=lead, to_state=SanctionState.CONFIRMED)
        if done:
            return sanction
        now = now or timezone.now()
        sanction.state, sanction.decided_by, sanction.decided_at = SanctionState.CONFIRMED, lead, now
        sanction.ends_at = now + timedelta(days=sanction.days or settings.TRUST_ABUSE_SUSPENSION_DAYS)
        sanction.reason = statement or _reason(SanctionKind.SUSPENSION, sanction.notices, sanction.unfounded,
                                               sanction.ends_at)
        _record(sanction, action="reporter.suspension_confirmed", lead=lead,
                fields=["state", "decided_by", "decided_at", "ends_at", "reason"],
                data={"ends_at": sanction.ends_at.isoformat(), "statement": sanction.reason})
        return sanction


def suspension_reject(*, sanction_id, lead, reason: str, now: datetime | None = None) -> ReporterSanction:
    """A lead rejects a proposed suspension, saying why (required). Audited
    `reporter.suspension_rejected`; the reporter's notices keep being processed."""
    reason = _text(reason, name="reason", required=True, limit=LEAD_NOTE_MAX)
    with transaction.atomic():
        sanction, done = _locked(sanction_id=sanction_id, lead=lead, to_state=SanctionState.REJECTED)
        if done:
            return sanction
        now = now or timezone.now()
        sanction.state, sanction.decided_by, sanction.decided_at = SanctionState.REJECTED, lead, now
        sanction.lead_note = reason
        _record(sanction, action="reporter.suspension_rejected", lead=lead,
                fields=["state", "decided_by", "decided_at", "lead_note"], data={"reason": reason})
        return sanction


def suspension_lift(*, sanction_id, lead, reason: str, now: datetime | None = None) -> ReporterSanction:
    """A lead ends a running suspension early, saying why (required). Audited
    `reporter.suspension_lifted`; notices are processed again at once."""
    reason = _text(reason, name="reason", required=True, limit=LEAD_NOTE_MAX)
    with transaction.atomic():
        sanction, done = _locked(sanction_id=sanction_id, lead=lead, to_state=SanctionState.LIFTED)
        if done:
            return sanction
        now = now or timezone.now()
        if sanction.ends_at <= now:
            raise TransitionNotAllowed("this suspension has already ended")
        sanction.state, sanction.lifted_by, sanction.lifted_at = SanctionState.LIFTED, lead, now
        sanction.lead_note = reason
        _record(sanction, action="reporter.suspension_lifted", lead=lead,
                fields=["state", "lifted_by", "lifted_at", "lead_note"],
                data={"reason": reason, "was_until": sanction.ends_at.isoformat()})
        return sanction
