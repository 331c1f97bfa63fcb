"""The trusted-flagger registry (DSA Art. 22): who is one, and the writes
that change it (audited on the configuration stream)."""

from dataclasses import dataclass
from uuid import UUID

from django.db import transaction

import audit
from audit.context import Actor
from audit.services import CONFIG_STREAM
from cases.models import ReporterKind

from .models import FlaggerIdentity, FlaggerStatus, TrustedFlagger
from .selectors import flagger_figures_forget

TRUSTED = ReporterKind.TRUSTED_FLAGGER


@dataclass(frozen=True)
class Recognition:
    """What the registry says about one claim."""

    reporter_kind: str  # the kind the report is filed as
    claimed_reporter_kind: str  # "" when the claim was confirmed (or nothing was claimed)
    flagger_id: int | None = None
    reason: str = ""  # why a trusted-flagger claim was not confirmed


def _flaggers_for(*, source_id, api_client_id: UUID | None, external_ids: set[str]) -> tuple[dict, dict]:
    """({api_client_id: flagger}, {external_id: flagger}) for this client and
    these vouched identities: two queries (flaggers with their expertise)."""
    by_client, by_identity = {}, {}
    if api_client_id is not None:
        for flagger in TrustedFlagger.objects.filter(api_client_id=api_client_id).prefetch_related("expertise"):
            by_client[flagger.api_client_id] = flagger
    if external_ids:
        identities = (FlaggerIdentity.objects.filter(source_id=source_id, reporter_external_id__in=external_ids)
                      .select_related("flagger").prefetch_related("flagger__expertise"))
        for identity in identities:
            by_identity[identity.reporter_external_id] = identity.flagger
    return by_client, by_identity


def judge_claim(*, flagger: TrustedFlagger | None, policy_id: int) -> str:
    """Why a trusted-flagger claim is not confirmed, or "" when it is."""
    if flagger is None:
        return "not_registered"
    if flagger.status != FlaggerStatus.ACTIVE:
        return "flagger_suspended"
    if policy_id not in {p.pk for p in flagger.expertise.all()}:
        return "outside_expertise"
    return ""


def recognise_many(*, source_id, api_client_id: UUID | None, claims: list[tuple[str, str, int]]) -> list[Recognition]:
    """For each (claimed reporter kind, external reporter id, policy id), the
    kind to file it as. A trusted-flagger claim is confirmed only for a
    registered, active flagger recognised by its own API client or by an
    identity vouched for by this source, under a policy in its areas of
    expertise; otherwise the report is a user report and the claim is kept.
    At most two queries, and none when nothing claims to be a flagger."""
    wanted = {ext for kind, ext, _policy in claims if kind == TRUSTED and ext}
    if not any(kind == TRUSTED for kind, _ext, _policy in claims):
        return [Recognition(reporter_kind=kind, claimed_reporter_kind="") for kind, _e, _p in claims]
    by_client, by_identity = _flaggers_for(source_id=source_id, api_client_id=api_client_id, external_ids=wanted)
    out = []
    for kind, ext, policy_id in claims:
        if kind != TRUSTED:
            out.append(Recognition(reporter_kind=kind, claimed_reporter_kind=""))
            continue
        flagger = by_client.get(api_client_id) or by_identity.get(ext)
        reason = judge_claim(flagger=flagger, policy_id=policy_id)
        if reason:
            out.append(Recognition(reporter_kind=ReporterKind.USER, claimed_reporter_kind=TRUSTED, reason=reason,
                                   flagger_id=flagger.pk if flagger else None))
        else:
            out.append(Recognition(reporter_kind=TRUSTED, claimed_reporter_kind="", flagger_id=flagger.pk))
    return out


def recognise(*, source_id, api_client_id: UUID | None, reporter_kind: str, reporter_external_id: str,
              policy_id: int) -> Recognition:
    """One claim (see recognise_many)."""
    return recognise_many(source_id=source_id, api_client_id=api_client_id,
                          claims=[(reporter_kind, reporter_external_id, policy_id)])[0]


# ---- registry writes (admin) ------------------------------------------------------------------------------


def _values(flagger: TrustedFlagger) -> dict:
    return {
        "name": flagger.name, "status": flagger.status,
        "api_client_id": str(flagger.api_client_id) if flagger.api_client_id else None,
        "expertise": sorted(flagger.expertise.values_list("code", flat=True)) if flagger.pk else [],
        "identities": sorted(f"{i.source.name}:{i.reporter_external_id}"
                             for i in flagger.identities.select_related("source")) if flagger.pk else [],
    }


def flagger_save(*, flagger: TrustedFlagger, actor: Actor, expertise=None, identities=None) -> TrustedFlagger:
    """Creates or updates a registry entry; `expertise` (policies) and
    `identities` ((source, external id) pairs) replace the current ones when
    given. Audited as trusted_flagger.changed with a before/after diff."""
    with transaction.atomic():
        before = {}
        if flagger.pk:
            before = _values(TrustedFlagger.objects.select_for_update().get(pk=flagger.pk))
        flagger.full_clean()
        flagger.save()
        if expertise is not None:
            flagger.expertise.set(expertise)
        if identities is not None:
            flagger.identities.all().delete()
            FlaggerIdentity.objects.bulk_create(
                [FlaggerIdentity(flagger=flagger, source=s, reporter_external_id=e) for s, e in identities])
        after = _values(flagger)
        changes = {k: [before.get(k), after[k]] for k in after if before.get(k) != after[k]}
        if changes:
            audit.record(stream=CONFIG_STREAM, action="trusted_flagger.changed", actor=actor,
                         target_type="trusted_flagger", target_id=str(flagger.pk),
                         data={"changes": changes, "created": not before})
            transaction.on_commit(flagger_figures_forget)
        return flagger


def flagger_set_status(*, flagger_id: int, status: str, actor: Actor) -> TrustedFlagger:
    """Suspends or re-activates a flagger (audited); a repeated call is a no-op."""
    with transaction.atomic():
        flagger = TrustedFlagger.objects.select_for_update().get(pk=flagger_id)
        if flagger.status == status:
            return flagger
        previous, flagger.status = flagger.status, status
        flagger.full_clean()
        flagger.save(update_fields=["status", "updated_at"])
        audit.record(stream=CONFIG_STREAM, action="trusted_flagger.changed", actor=actor,
                     target_type="trusted_flagger", target_id=str(flagger.pk),
                     data={"changes": {"status": [previous, status]}, "created": False})
        transaction.on_commit(flagger_figures_forget)
        return flagger


# ---- strike thresholds (admin) ---------------------------------------------------------------------------------

def _threshold_values(threshold) -> dict:
    return {"policy": threshold.policy.code if threshold.policy_id else None, "points": threshold.points,
            "action": threshold.action, "suspend_days": threshold.suspend_days}


def threshold_save(*, threshold, actor: Actor):
    """Creates or updates a strike threshold (validated), audited as
    strike_threshold.changed with a before/after diff."""
    from .models import StrikeThreshold

    with transaction.atomic():
        before = {}
        if threshold.pk:
            old = StrikeThreshold.objects.select_for_update(of=("self",)).select_related("policy").get(pk=threshold.pk)
            before = _threshold_values(old)
        threshold.full_clean()
        threshold.save()
        after = _threshold_values(threshold)
        changes = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
        if changes:
            audit.record(stream=CONFIG_STREAM, action="strike_threshold.changed", actor=actor,
                         target_type="strike_threshold", target_id=str(threshold.pk),
                         data={"changes": changes, "created": not before})
        return threshold


def threshold_delete(*, threshold, actor: Actor) -> None:
    """Removes a threshold (audited); proposals it made keep their figures."""
    with transaction.atomic():
        values = _threshold_values(threshold)
        pk = threshold.pk
        threshold.delete()
        audit.record(stream=CONFIG_STREAM, action="strike_threshold.changed", actor=actor,
                     target_type="strike_threshold", target_id=str(pk), data={"deleted": values})
