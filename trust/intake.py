"""What the registry and the reporter sanctions do to reports on their way
in. The API edges call `screen_reports` once per request (single report,
batch, platform adapters) before `reviews.intake`; `cases` intake itself is
unchanged except that it stores `claimed_reporter_kind`."""

import dataclasses
from dataclasses import dataclass, field
from uuid import UUID

from django.apps import apps
from django.db import IntegrityError, transaction
from django.utils import timezone

import audit
from audit.context import Actor
from cases.errors import IdempotencyConflict
from cases.models import Report, ReporterKind
from cases.services import FileResult, GuardTripped, IntakeGuard, ReportInput

from .flaggers import recognise_many
from .models import HeldNotice, ReporterSanction, SanctionKind, SanctionState


def trust_stream(source_id) -> str:
    """The audit stream of a source's reporter sanctions and held notices: not a case's (a held notice has no
    case), and one per source so that platforms never wait for each other's head lock."""
    return f"trust:{source_id}"
EFFECT_HELD = "held_reporter_suspended"
# The API client scope (integrations.models.SCOPES) an admin grants a client whose staff reports Quorum believes.
STAFF_SCOPE = "reports:staff"


@dataclass
class Screened:
    """`items` go to intake (as recognised); `held[i]` is the stored answer
    for an item held because its reporter's notices are suspended (a dict
    body, or an IdempotencyConflict)."""

    items: list[ReportInput] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)  # index in the request of each item in `items`
    held: dict = field(default_factory=dict)


def _running_suspensions(*, source_id, now):
    """Suspensions of the source's reporters in force at `now`: confirmed by a
    lead (a proposal holds nothing), not lifted or rejected, not yet ended."""
    return ReporterSanction.objects.filter(source_id=source_id, kind=SanctionKind.SUSPENSION,
                                           state=SanctionState.CONFIRMED, ends_at__gt=now)


def active_suspensions(*, source_id, external_ids: set[str], now) -> dict[str, ReporterSanction]:
    """{external reporter id: its running suspension} (one query): one a lead
    confirmed (a proposal holds nothing) and did not lift, not yet ended."""
    if not external_ids:
        return {}
    rows = (_running_suspensions(source_id=source_id, now=now).filter(reporter_external_id__in=external_ids)
            .order_by("reporter_external_id", "-ends_at"))
    out = {}
    for row in rows:
        out.setdefault(row.reporter_external_id, row)
    return out


def staff_confirmed(*, api_client_id: UUID | None) -> bool:
    """Whether reports this API client files as "staff" count as staff: an
    admin gave it the `reports:staff` scope (`api_client.rescoped`, audited).
    One query. Anything else only says it is staff: the claim is not what
    Quorum can verify, and staff weigh twice a user in a case's priority."""
    if api_client_id is None:
        return False
    # integrations sits above trust: look the model up by name instead of importing it (as trust.admin does)
    scopes = (apps.get_model("integrations", "ApiClient").objects.filter(pk=api_client_id, active=True)
              .values_list("scopes", flat=True).first())
    return STAFF_SCOPE in (scopes or [])


def _unconfirmed_staff(items: list[ReportInput], api_client_id: UUID | None) -> list[ReportInput]:
    if not any(it.reporter_kind == ReporterKind.STAFF for it in items) or staff_confirmed(api_client_id=api_client_id):
        return items
    return [dataclasses.replace(it, reporter_kind=ReporterKind.USER, claimed_reporter_kind=ReporterKind.STAFF)
            if it.reporter_kind == ReporterKind.STAFF else it for it in items]


def held_body(notice: HeldNotice, sanction: ReporterSanction) -> dict:
    return {
        "held_notice_id": str(notice.id), "case": None, "deduplicated": False, "effect": EFFECT_HELD,
        "processing": {
            "suspended": True, "suspended_until": sanction.ends_at.isoformat(),
            "reason": "this reporter's notices are suspended under DSA Art. 23(2) for frequently submitting "
                      "manifestly unfounded notices; the notice is stored but not processed",
        },
    }


def recognised_items(*, source, api_client_id: UUID | None, items: list[ReportInput]) -> list[ReportInput]:
    """The items as the registry recognises their reporters (an unconfirmed
    trusted-flagger or staff claim becomes a user report that keeps the claim)."""
    recognised = recognise_many(source_id=source.pk, api_client_id=api_client_id,
                                claims=[(it.reporter_kind, it.reporter_external_id, it.policy.pk) for it in items])
    items = [it if (r.reporter_kind == it.reporter_kind and not r.claimed_reporter_kind)
             else dataclasses.replace(it, reporter_kind=r.reporter_kind, claimed_reporter_kind=r.claimed_reporter_kind)
             for it, r in zip(items, recognised, strict=True)]
    return _unconfirmed_staff(items, api_client_id)


def suspension_guard(*, source, item: ReportInput, now) -> IntakeGuard | None:
    """active_suspensions for one report as an IntakeGuard, so that intake's
    first statement asks it instead of a round trip before the transaction;
    None when the item's reporter cannot be suspended (not an identified user)."""
    if item.reporter_kind != ReporterKind.USER or not item.reporter_external_id:
        return None
    # The same condition as active_suspensions, compiled from the same queryset.
    query = (_running_suspensions(source_id=source.pk, now=now)
             .filter(reporter_external_id=item.reporter_external_id).values("pk").query)
    sql, params = query.sql_with_params()
    return IntakeGuard(sql=f"EXISTS ({sql})", params=tuple(params))


def screen_reports(*, source, api_client_id: UUID | None, actor: Actor, items: list[ReportInput],
                   now=None) -> Screened:
    """Recognises trusted flaggers and staff and holds the notices of
    suspended reporters. Requires validated ReportInputs; returns them
    re-labelled (an unconfirmed trusted-flagger or staff claim becomes a user
    report that keeps the claim) and stores each held notice (audited,
    idempotent by key)."""
    now = now or timezone.now()
    items = recognised_items(source=source, api_client_id=api_client_id, items=items)
    # Only ordinary users' notices can be suspended: a trusted flagger's status is the registry's business
    # (Art. 22(6)), confirmed staff and classifiers are the platform's own (a staff claim the client may not make
    # is a user's by now, and is held like one).
    candidates = {it.reporter_external_id for it in items if it.reporter_kind == ReporterKind.USER
                  and it.reporter_external_id}
    suspended = active_suspensions(source_id=source.pk, external_ids=candidates, now=now)
    out = Screened()
    to_hold = []
    for index, it in enumerate(items):
        sanction = suspended.get(it.reporter_external_id) if it.reporter_kind == ReporterKind.USER else None
        if sanction is None:
            out.items.append(it)
            out.positions.append(index)
        else:
            to_hold.append((index, it, sanction))
    if to_hold:
        filed_keys = set(Report.objects.filter(
            source=source, idempotency_key__in=[it.idempotency_key for _i, it, _s in to_hold if it.idempotency_key]
        ).values_list("idempotency_key", flat=True))
        for index, it, sanction in to_hold:
            if it.idempotency_key in filed_keys:  # filed before the suspension: let intake replay it
                out.items.append(it)
                out.positions.append(index)
            else:
                out.held[index] = notice_hold(source=source, api_client_id=api_client_id, actor=actor, item=it,
                                              sanction=sanction, now=now)
        order = sorted(range(len(out.items)), key=lambda k: out.positions[k])
        out.items = [out.items[k] for k in order]
        out.positions = [out.positions[k] for k in order]
    return out


def notice_hold(*, source, api_client_id, actor: Actor, item: ReportInput, sanction: ReporterSanction, now):
    """Stores one notice of a suspended reporter (audited `notice.held`).
    With an idempotency key already used: the stored answer, or an
    IdempotencyConflict for another body. Returns the response body."""
    try:
        return _notice_hold(source=source, api_client_id=api_client_id, actor=actor, item=item, sanction=sanction,
                            now=now)
    except IntegrityError:  # a concurrent request stored the same key first: answer as it did
        return _notice_hold(source=source, api_client_id=api_client_id, actor=actor, item=item, sanction=sanction,
                            now=now)


def _notice_hold(*, source, api_client_id, actor, item, sanction, now):
    with transaction.atomic():
        if item.idempotency_key is not None:
            existing = HeldNotice.objects.filter(source=source, idempotency_key=item.idempotency_key).first()
            if existing is not None:
                if existing.request_fingerprint != item.fingerprint:
                    return IdempotencyConflict("this Idempotency-Key was already used with a different request "
                                               "body; use a new key for a different report")
                return held_body(existing, existing.sanction)
        notice = HeldNotice.objects.create(
            source=source, api_client_id=api_client_id, sanction=sanction, reporter_kind=item.reporter_kind,
            reporter_external_id=item.reporter_external_id, subject_kind=item.subject.kind,
            subject_external_id=item.subject.external_id, policy=item.policy, description=item.description,
            snapshot=item.subject.as_received, received_at=now, idempotency_key=item.idempotency_key,
            request_fingerprint=item.fingerprint)
        audit.record(stream=trust_stream(source.pk), action="notice.held", actor=actor, target_type="held_notice",
                     target_id=notice.pk, data={"sanction_id": str(sanction.pk), "policy": item.policy.code,
                                                "subject_kind": item.subject.kind,
                                                "suspended_until": sanction.ends_at.isoformat()})
        return held_body(notice, sanction)


# ---- the intake entry points the API edges call ---------------------------------------------------------------

def report_intake(*, source, api_client_id, actor: Actor, item: ReportInput):
    """`reviews.intake.report_intake` behind the registry and the reporter
    sanctions: returns its FileResult, or a FileResult with status 202 and
    the held-notice body; raises IdempotencyConflict like it."""
    from reviews import intake

    # The common case costs no round trip here: the suspension check rides on intake's first statement, and
    # only a reporter found suspended (the transaction rolled back, nothing kept) takes the screening below.
    recognised = recognised_items(source=source, api_client_id=api_client_id, items=[item])[0]
    guard = suspension_guard(source=source, item=recognised, now=timezone.now())
    try:
        return intake.report_intake(source=source, api_client_id=api_client_id, actor=actor, item=recognised,
                                    guard=guard)
    except GuardTripped:
        pass
    screened = screen_reports(source=source, api_client_id=api_client_id, actor=actor, items=[item])
    if screened.held:
        held = screened.held[0]
        if isinstance(held, IdempotencyConflict):
            raise held
        return FileResult(status=202, body=held)
    return intake.report_intake(source=source, api_client_id=api_client_id, actor=actor, item=screened.items[0])


def report_intake_batch(*, source, api_client_id, actor: Actor, items: list[ReportInput]) -> list:
    """`reviews.intake.report_intake_batch` behind the registry and the
    reporter sanctions; per-item results in order (held ones: status 202)."""
    from reviews import intake

    if not items:
        return []
    screened = screen_reports(source=source, api_client_id=api_client_id, actor=actor, items=items)
    results: list = [None] * len(items)
    for index, held in screened.held.items():
        results[index] = held if isinstance(held, IdempotencyConflict) else FileResult(status=202, body=held)
    filed = intake.report_intake_batch(source=source, api_client_id=api_client_id, actor=actor,
                                       items=screened.items) if screened.items else []
    for index, outcome in zip(screened.positions, filed, strict=True):
        results[index] = outcome
    return results
