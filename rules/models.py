"""Rules: admin-written conditions over the features of a report, with
effects, versioned like workflows (draft → published → retired) and run off,
in shadow or active (docs/rules.md)."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cases.ids import uuid7
from cases.models import Case, Report


class RuleMode(models.TextChoices):
    OFF = "off", _("Off")
    SHADOW = "shadow", _("Shadow (records only)")
    ACTIVE = "active", _("Active")


class RuleVersionState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")
    RETIRED = "retired", _("Retired")


class Rule(models.Model):
    slug = models.SlugField(_("slug"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=200)
    mode = models.CharField(_("mode"), max_length=16, choices=RuleMode.choices, default=RuleMode.OFF)
    published_version = models.ForeignKey("RuleVersion", null=True, blank=True, on_delete=models.PROTECT,
                                          related_name="+", verbose_name=_("published version"))
    drift_alert_at = models.DateTimeField(_("drift alert at"), null=True, blank=True)
    drift_agreement = models.FloatField(_("agreement with human reviews"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("rule")
        verbose_name_plural = _("rules")
        ordering = ["slug"]

    def __str__(self):
        return self.slug


class RuleVersion(models.Model):
    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, related_name="versions", verbose_name=_("rule"))
    number = models.PositiveIntegerField(_("number"))
    state = models.CharField(_("state"), max_length=16, choices=RuleVersionState.choices,
                             default=RuleVersionState.DRAFT)
    description = models.TextField(_("description"), blank=True)
    expression = models.TextField(_("condition"))
    effects = models.JSONField(_("effects"), default=list, blank=True)
    # The outcome a match stands for, compared with the human decisions by backtests and drift.
    predicts = models.SlugField(_("predicted outcome"), max_length=50)
    agreement_threshold = models.FloatField(
        _("agreement threshold"), default=0.9, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    fallback_to_shadow = models.BooleanField(_("fall back to shadow on drift"), default=False)
    sample_share = models.FloatField(
        _("share sampled into human review"), default=0.1, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(_("created at"))
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)

    class Meta:
        verbose_name = _("rule version")
        verbose_name_plural = _("rule versions")
        constraints = [
            models.UniqueConstraint(fields=["rule", "number"], name="rule_version_number_unique"),
            models.UniqueConstraint(fields=["rule"], condition=Q(state="published"), name="one_published_rule_version"),
            models.CheckConstraint(condition=Q(agreement_threshold__gte=0, agreement_threshold__lte=1),
                                   name="rule_agreement_threshold_0_1"),
            models.CheckConstraint(condition=Q(sample_share__gte=0, sample_share__lte=1), name="rule_sample_share_0_1"),
        ]

    def __str__(self):
        return f"{self.rule_id} v{self.number}"


class RuleHit(models.Model):
    """A published rule matched a report: what it did (active) or would have
    done (shadow). Shadow hits are the only trace a shadow rule leaves."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, related_name="hits")
    version = models.ForeignKey(RuleVersion, on_delete=models.PROTECT, related_name="hits")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="+")
    report = models.ForeignKey(Report, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                               db_index=False)
    mode = models.CharField(max_length=16, choices=RuleMode.choices)
    effects = models.JSONField(default=list)
    applied = models.BooleanField(default=False)
    # An automated action picked for human quality review (the rule's sample_share).
    sampled = models.BooleanField(default=False)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["rule", "created_at"], name="rule_hit_rule_time_idx"),
            models.Index(fields=["case"], name="rule_hit_case_idx"),
        ]

    def __str__(self):
        return f"{self.rule_id} on {self.case_id} ({self.mode})"


class CaseLabel(models.Model):
    """A label a rule put on a case (effect "label")."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="+")
    label = models.SlugField(max_length=50)
    rule_version = models.ForeignKey(RuleVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "label"], name="case_label_unique")]

    def __str__(self):
        return self.label


class CaseSignalFlags(models.Model):
    """The signal flags last seen on a case (today: possible coordinated
    reporting), so that intake notices when a report sets or clears one:
    it audits the change with its evidence and hands it to the rules
    (feature `case.signals_changed`) once, not on every report. Written only
    while the subject's counters could flag the case (rules.signal_flags)."""

    case = models.OneToOneField(Case, primary_key=True, on_delete=models.PROTECT, related_name="+")
    coordinated = models.BooleanField(default=False)
    changed_at = models.DateTimeField()

    def __str__(self):
        return f"{self.case_id}: coordinated={self.coordinated}"


class BacktestStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class BacktestRun(models.Model):
    """One backtest of a rule version, run by a Celery job (rules.backtest_runs).
    The definition is copied when the run starts, so a draft edited meanwhile
    does not change what the run measures; `results` is what the run page
    shows and what the rule page shows beside the version published after it."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, related_name="backtests")
    version = models.ForeignKey(RuleVersion, on_delete=models.PROTECT, related_name="backtests")
    expression = models.TextField()
    effects = models.JSONField(default=list)
    predicts = models.SlugField(max_length=50)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    status = models.CharField(max_length=16, choices=BacktestStatus.choices, default=BacktestStatus.QUEUED)
    # Which execution owns the run: a worker lost mid-run is detected by the sweep and the run re-queued
    # with the next attempt; a late delivery of an older attempt finds the number moved and does nothing.
    attempt = models.PositiveSmallIntegerField(default=1)
    total = models.IntegerField(default=0)  # decided cases in the period + open cases, counted at the start
    processed = models.IntegerField(default=0)
    results = models.JSONField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField()
    queued_at = models.DateTimeField()  # the latest (re-)queueing
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("backtest")
        verbose_name_plural = _("backtests")
        indexes = [
            models.Index(fields=["rule", "-created_at"], name="backtest_rule_time_idx"),
            models.Index(fields=["status"], condition=Q(status__in=["queued", "running"]),
                         name="backtest_active_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["queued", "running", "done", "failed"]),
                                   name="backtest_status_valid"),
            models.CheckConstraint(condition=Q(period_start__lt=models.F("period_end")),
                                   name="backtest_period_ordered"),
        ]

    def __str__(self):
        return f"backtest {self.pk} ({self.status})"

    @property
    def active(self) -> bool:
        return self.status in (BacktestStatus.QUEUED, BacktestStatus.RUNNING)

    @property
    def percent(self) -> int:
        return min(100, int(100 * self.processed / self.total)) if self.total else 0
