"""Trusted flaggers (DSA Art. 22), strikes against accounts and sanctions
against reporters who abuse the notice system (Art. 23). See docs/dsa-trust.md."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cases.ids import uuid7
from cases.models import Case, Policy, Source, Subject


class FlaggerStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")


class TrustedFlagger(models.Model):
    """An organisation awarded trusted-flagger status (Art. 22). Only an
    active flagger's reports under its areas of expertise are treated as a
    trusted flagger's; every other claim is recorded as a user report."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    status = models.CharField(_("status"), max_length=16, choices=FlaggerStatus.choices, default=FlaggerStatus.ACTIVE)
    expertise = models.ManyToManyField(Policy, verbose_name=_("areas of expertise"), related_name="trusted_flaggers",
                                       help_text=_("the policies under which its notices get trusted priority"))
    # Recognised when it files through its own API client (integrations.ApiClient; no foreign key: integrations
    # sits above trust, as Report.api_client_id does).
    api_client_id = models.UUIDField(_("own API client id"), null=True, blank=True, unique=True,
                                     help_text=_("the id of the API client the organisation files with itself"))
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("trusted flagger")
        verbose_name_plural = _("trusted flaggers")
        ordering = ["name"]

    def __str__(self):
        return self.name


class FlaggerIdentity(models.Model):
    """A reporter identity a platform vouches for: reports from any API
    client of `source` naming this external reporter id are the flagger's."""

    flagger = models.ForeignKey(TrustedFlagger, on_delete=models.CASCADE, related_name="identities")
    source = models.ForeignKey(Source, verbose_name=_("source"), on_delete=models.PROTECT, related_name="+")
    reporter_external_id = models.CharField(_("external reporter id"), max_length=255)

    class Meta:
        verbose_name = _("vouched identity")
        verbose_name_plural = _("vouched identities")
        constraints = [models.UniqueConstraint(fields=["source", "reporter_external_id"],
                                               name="flagger_identity_unique_per_source")]

    def __str__(self):
        return f"{self.source}:{self.reporter_external_id}"


class Strike(models.Model):
    """One upheld violation against an account (Art. 23(1)). Exactly one per
    decision (unique); removed when the decision is reversed or superseded,
    ignored once expired."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    account = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="strikes")
    decision = models.OneToOneField("reviews.Decision", on_delete=models.PROTECT, related_name="strike")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="+")
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="+")
    weight = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_reason = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["account", "expires_at"], name="strike_active_idx",
                                condition=Q(removed_at__isnull=True))]

    def __str__(self):
        return f"strike {self.id} ({self.weight})"


class ProposalAction(models.TextChoices):
    WARN = "warn", _("Warn")
    SUSPEND = "suspend", _("Suspend")
    BAN = "ban", _("Ban")


class StrikeThreshold(models.Model):
    """When an account's active strike points (under `policy`, or under every
    policy when empty) reach `points`, a proposal is put to review."""

    policy = models.ForeignKey(Policy, null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                               verbose_name=_("policy"), help_text=_("count only strikes under this policy; "
                                                                      "empty: every policy"))
    points = models.PositiveSmallIntegerField(_("points"), validators=[MinValueValidator(1), MaxValueValidator(1000)])
    action = models.CharField(_("action"), max_length=16, choices=ProposalAction.choices)
    suspend_days = models.PositiveSmallIntegerField(_("suspend for days"), null=True, blank=True,
                                                    validators=[MinValueValidator(1), MaxValueValidator(3650)])

    class Meta:
        verbose_name = _("strike threshold")
        verbose_name_plural = _("strike thresholds")
        ordering = ["policy_id", "points"]
        constraints = [
            models.CheckConstraint(condition=Q(points__gte=1), name="strike_threshold_points_positive"),
            models.CheckConstraint(condition=~Q(action="suspend") | Q(suspend_days__isnull=False),
                                   name="strike_threshold_suspend_has_days"),
        ]

    def __str__(self):
        scope = self.policy.code if self.policy_id else "all"
        days = f" {self.suspend_days}d" if self.action == ProposalAction.SUSPEND else ""
        return f"{scope} ≥ {self.points}: {self.action}{days}"


class ProposalState(models.TextChoices):
    PENDING = "pending", _("Pending")
    FILED = "filed", _("Filed for review")


class StrikeProposal(models.Model):
    """A threshold crossed by a strike: a proposal (never an action) that is
    filed as a staff report on the account, so it is reviewed like any case."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    account = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="strike_proposals")
    strike = models.ForeignKey(Strike, on_delete=models.PROTECT, related_name="proposals")
    threshold = models.ForeignKey(StrikeThreshold, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=16, choices=ProposalAction.choices)
    suspend_days = models.PositiveSmallIntegerField(null=True, blank=True)
    points = models.PositiveIntegerField()
    threshold_points = models.PositiveIntegerField()
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=16, choices=ProposalState.choices, default=ProposalState.PENDING)
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["strike", "threshold"], name="one_proposal_per_strike_threshold")]
        indexes = [models.Index(fields=["created_at"], name="strike_proposal_pending_idx",
                                condition=Q(state="pending"))]

    def __str__(self):
        return f"proposal {self.id}: {self.action}"


class SanctionKind(models.TextChoices):
    WARNING = "warning", _("Warning")
    SUSPENSION = "suspension", _("Suspension of notice processing")


class SanctionState(models.TextChoices):
    PROPOSED = "proposed", _("Proposed, awaiting a lead")
    CONFIRMED = "confirmed", _("In force")
    REJECTED = "rejected", _("Rejected by a lead")
    LIFTED = "lifted", _("Lifted early by a lead")


class ReporterSanction(models.Model):
    """A step against a reporter whose notices are frequently manifestly
    unfounded (Art. 23(2)): a warning (recorded automatically, `confirmed`),
    then a suspension of processing that a lead takes: it is `proposed`
    (no end yet), and a lead confirms it (it runs `days` from then) or rejects
    it; a lead may lift a confirmed suspension early. `reason` is the
    statement for the reporter; `lead_note` the lead's reason to reject or lift."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="+")
    reporter_external_id = models.CharField(max_length=255)
    kind = models.CharField(max_length=16, choices=SanctionKind.choices)
    reason = models.TextField()
    notices = models.PositiveIntegerField(help_text="decided notices in the window")
    unfounded = models.PositiveIntegerField(help_text="of which decided no violation")
    decision = models.ForeignKey("reviews.Decision", null=True, on_delete=models.PROTECT, related_name="+",
                                 help_text="the decision whose outcome made the figures cross the limit")
    created_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=SanctionState.choices, default=SanctionState.CONFIRMED,
                             db_default=SanctionState.CONFIRMED)
    days = models.PositiveSmallIntegerField(null=True, blank=True, help_text="a suspension's length")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", help_text="the lead who confirmed or rejected the proposal")
    decided_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+")
    lifted_at = models.DateTimeField(null=True, blank=True)
    lead_note = models.TextField(blank=True, default="", db_default="")

    class Meta:
        indexes = [models.Index(fields=["source", "reporter_external_id", "-created_at"], name="sanction_reporter_idx"),
                   models.Index(fields=["created_at"], name="sanction_proposed_idx", condition=Q(state="proposed"))]
        constraints = [models.CheckConstraint(
            condition=~Q(kind="suspension", state__in=["confirmed", "lifted"]) | Q(ends_at__isnull=False),
            name="sanction_suspension_in_force_has_end")]

    def __str__(self):
        return f"{self.kind} of {self.reporter_external_id}"


class HeldNotice(models.Model):
    """A notice from a reporter whose notices are suspended: stored as
    received (nothing is lost), not filed into a case, not counted."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="+")
    api_client_id = models.UUIDField(null=True, blank=True)
    sanction = models.ForeignKey(ReporterSanction, on_delete=models.PROTECT, related_name="held_notices")
    reporter_kind = models.CharField(max_length=20)
    reporter_external_id = models.CharField(max_length=255)
    subject_kind = models.CharField(max_length=16)
    subject_external_id = models.CharField(max_length=255)
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="+")
    description = models.TextField(blank=True, default="")
    snapshot = models.JSONField(default=dict)
    received_at = models.DateTimeField()
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "idempotency_key"],
                                               condition=Q(idempotency_key__isnull=False),
                                               name="held_notice_idempotency_key_unique")]

    def __str__(self):
        return f"held notice {self.id}"
