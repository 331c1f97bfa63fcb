from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from .extensions import policy_problems
from .ids import uuid7
from .translations import NAME_TRANSLATIONS_HELP, translated_name, validate_name_translations


class Source(models.Model):
    """An external platform whose subjects Quorum handles. API clients (keys)
    belong to a source; a client sees only its source's subjects and cases."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class Policy(models.Model):
    """An entry in the rule book."""

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=200)
    name_translations = models.JSONField(_("name translations"), default=dict, blank=True,
                                         validators=[validate_name_translations],
                                         help_text=NAME_TRANSLATIONS_HELP)
    description = models.TextField(_("description"), blank=True)
    severity = models.PositiveSmallIntegerField(_("severity"), validators=[MinValueValidator(1), MaxValueValidator(5)])
    # The EU DSA statement-of-reasons category this policy maps to (see shared/reference).
    dsa_category = models.CharField(_("dsa category"), max_length=100, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("policy")
        verbose_name_plural = _("policies")
        ordering = ["code"]
        constraints = [models.CheckConstraint(condition=Q(severity__gte=1, severity__lte=5), name="policy_severity_1_5")]

    def __str__(self):
        return self.code

    def clean(self):
        problems = policy_problems(self)
        if problems:
            raise ValidationError(problems)

    @property
    def local_name(self) -> str:
        """The name in the active language (name_translations), else the name."""
        return translated_name(self)


class Queue(models.Model):
    """A named work list. New cases land in the queue that lists the policy of
    their first report, or in the default queue."""

    slug = models.SlugField(_("slug"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=200)
    name_translations = models.JSONField(_("name translations"), default=dict, blank=True,
                                         validators=[validate_name_translations],
                                         help_text=NAME_TRANSLATIONS_HELP)
    description = models.TextField(_("description"), blank=True)
    policies = models.ManyToManyField(Policy, verbose_name=_("policies"), blank=True, related_name="queues")
    is_default = models.BooleanField(_("is default"), default=False)
    lease_seconds = models.PositiveIntegerField(_("lease seconds"), null=True, blank=True,
                                                help_text=_("how long a claimed seat is held without activity; "
                                                            "empty: REVIEW_LEASE_SECONDS"))
    # Per-team visibility (cases.visibility): empty, every console user sees the queue's cases; else only
    # members of one of these groups (and admins, superusers and, unless configured otherwise, auditors).
    restricted_to = models.ManyToManyField(
        "auth.Group", verbose_name=_("restricted to"), blank=True, related_name="restricted_queues",
        help_text=_("only members of these groups (and admins, superusers and auditors) see this queue and its "
                    "cases in the console; empty: every console user"))

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_queue"),
        ]

    def __str__(self):
        return self.name

    @property
    def local_name(self) -> str:
        """The name in the active language (name_translations), else the name."""
        return translated_name(self)


class SubjectKind(models.TextChoices):
    ACCOUNT = "account", "Account"
    CONTENT = "content", "Content"


class Subject(models.Model):
    """An account or a piece of content on a source platform. The latest
    snapshot is kept here; each report keeps the snapshot it was filed with."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="subjects")
    kind = models.CharField(max_length=16, choices=SubjectKind.choices)
    external_id = models.CharField(max_length=255)
    url = models.CharField(max_length=2048, blank=True, default="")
    author = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="content")
    display_name = models.CharField(max_length=255, blank=True, default="")
    latest_text = models.TextField(blank=True, default="")
    latest_media = models.JSONField(default=list, blank=True)
    language = models.CharField(max_length=35, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "kind", "external_id"], name="subject_unique_per_source"),
        ]

    def __str__(self):
        return f"{self.kind}:{self.external_id}"


class CaseState(models.TextChoices):
    OPEN = "open", _("Open")
    IN_REVIEW = "in_review", _("In review")
    ESCALATED = "escalated", _("Escalated")
    ON_HOLD = "on_hold", _("On hold")
    DECIDED = "decided", _("Decided")
    CLOSED = "closed", _("Closed")


class Case(models.Model):
    """The dossier for one subject while it is handled. At most one case per
    subject is not closed (database constraint); a report after the case
    closed opens a new one linked to it."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="cases")
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="cases", db_index=False)
    previous_case = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=16, choices=CaseState.choices, default=CaseState.OPEN)
    priority = models.IntegerField(default=0)
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="cases")
    report_count = models.PositiveIntegerField(default=0)
    reporter_count = models.PositiveIntegerField(default=0)
    # Aggregates the priority formula needs, kept current under the case lock.
    max_severity = models.PositiveSmallIntegerField(default=1)
    # Reputation-weighted (cases.priority): a float since G4.
    reporter_weight = models.FloatField(default=0)
    max_classifier_score = models.FloatField(null=True, blank=True)
    opened_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    # SLA (F3): when the current stage passed its warning time, and how many deadlines the case has missed.
    at_risk_since = models.DateTimeField(null=True, blank=True)
    breach_count = models.PositiveIntegerField(default=0, db_default=0)  # db_default: intake inserts by SQL
    # Lifecycle after a decision (cases/states.py). Set by the layer that decides (reviews) when the case
    # becomes `decided`: when, the most severe policy the decided round judged, and a hash of the subject's
    # content as it was judged. Intake reads them (in the statement that finds the case) to apply the
    # re-review rules; the auto-close sweep reads decided_at.
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_severity = models.PositiveSmallIntegerField(null=True, blank=True)
    decided_content_hash = models.CharField(max_length=64, blank=True, default="", db_default="")
    # Reports that joined the decided case without re-opening it (since the current decision).
    post_decision_report_count = models.PositiveIntegerField(default=0, db_default=0)
    # How many review rounds re-opened the case after a decision (0: never re-opened).
    reopen_count = models.PositiveIntegerField(default=0, db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subject"], condition=Q(closed_at__isnull=True), name="one_open_case_per_subject"),
            models.CheckConstraint(
                condition=(Q(state="closed", closed_at__isnull=False) | (~Q(state="closed") & Q(closed_at__isnull=True))),
                name="case_closed_iff_closed_at",
            ),
            models.CheckConstraint(condition=Q(report_count__gte=0, reporter_count__gte=0), name="case_counts_non_negative"),
            models.CheckConstraint(condition=~Q(state="decided") | Q(decided_at__isnull=False),
                                   name="case_decided_has_decided_at"),
        ]
        indexes = [
            models.Index(fields=["source", "opened_at"], name="case_source_opened_idx"),
            models.Index(
                fields=["queue", "-priority", "opened_at"], name="case_queue_work_idx", condition=Q(closed_at__isnull=True)
            ),
            # The console's queue list sorted "oldest/newest first" (read forwards or backwards). Costs one more
            # index entry per case intake.
            models.Index(
                fields=["queue", "opened_at", "id"], name="case_queue_opened_idx", condition=Q(closed_at__isnull=True)
            ),
            # "At risk or breached only": the few cases the SLA sweeps flagged. Its condition is exactly the
            # filter's (reviews.worklists.AT_RISK); a new case is never in it, so intake does not pay for it.
            models.Index(
                fields=["queue", "-priority", "opened_at", "id"], name="case_queue_at_risk_idx",
                condition=Q(closed_at__isnull=True) & (Q(at_risk_since__isnull=False) | Q(breach_count__gt=0)),
            ),
            # The queue list filtered by a state few open cases are in (escalated, on hold, decided): walking the
            # priority index for them reads the whole queue. New cases are "open", so intake does not pay for it.
            models.Index(
                fields=["queue", "-priority", "opened_at", "id"], name="case_queue_rare_state_idx",
                condition=Q(closed_at__isnull=True, state__in=["escalated", "on_hold", "decided"]),
            ),
            # The auto-close sweep walks decided cases by decision time (cases that re-open or close leave it).
            models.Index(fields=["decided_at", "id"], name="case_decided_sweep_idx", condition=Q(state="decided")),
        ]

    def __str__(self):
        return str(self.id)


class RereviewRule(models.Model):
    """What a report about a subject whose case is already decided does
    (README, "Re-review rules"). One row per policy (the policy of the new
    report); the row without a policy is the default for every other policy,
    and with no row at all the built-in defaults below apply. A report that
    meets none of the enabled conditions joins the decided case as a
    post-decision report: counted and shown, no new review."""

    policy = models.OneToOneField(Policy, null=True, blank=True, on_delete=models.CASCADE, related_name="rereview_rule",
                                  help_text="the new report's policy; empty: the default rule")
    on_more_severe = models.BooleanField(default=True, help_text="re-open when the new report's policy is more "
                                                                  "severe than any the decided round judged")
    on_trusted_flagger = models.BooleanField(default=True, help_text="re-open on a trusted flagger's report (once per "
                                                                      "flagger and decision)")
    on_content_change = models.BooleanField(default=True, help_text="re-open when the subject's text or media "
                                                                     "changed since the decision")
    new_reporters = models.PositiveSmallIntegerField(default=5, validators=[MaxValueValidator(1000)],
                                                     help_text="re-open when this many new distinct, identified "
                                                               "reporters arrived within the window; 0: never")
    window_hours = models.PositiveIntegerField(default=24, validators=[MinValueValidator(1), MaxValueValidator(24 * 365)],
                                               help_text="the window for new reporters, in hours")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # One rule per policy and one default (a NULL policy would not collide in a plain unique key).
            models.UniqueConstraint(Coalesce(F("policy"), Value(0)), name="one_rereview_rule_per_policy"),
            models.CheckConstraint(condition=Q(window_hours__gte=1), name="rereview_window_positive"),
        ]

    def __str__(self):
        return f"re-review rule for {self.policy.code if self.policy_id else 'every other policy'}"


class ReporterKind(models.TextChoices):
    USER = "user", _("User")
    TRUSTED_FLAGGER = "trusted_flagger", _("Trusted flagger")
    AUTOMATED = "automated", _("Automated classifier")
    STAFF = "staff", _("Staff")


class Report(models.Model):
    """One notice about a subject, with the evidence as it was reported."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # Served by report_case_reporter_idx, which starts with case.
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="reports", db_index=False)
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="reports")
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="reports", db_index=False)
    # The integrations.ApiClient that filed it (no foreign key: integrations
    # sits above cases). Null for reports not filed over the API.
    api_client_id = models.UUIDField(null=True, blank=True)
    reporter_kind = models.CharField(max_length=20, choices=ReporterKind.choices)
    reporter_external_id = models.CharField(max_length=255, blank=True, default="")
    # What the client claimed the reporter was when that differs from reporter_kind: a trusted-flagger claim
    # that the registry (trust.flaggers) did not confirm is filed as a user report and the claim is kept here.
    claimed_reporter_kind = models.CharField(max_length=20, blank=True, default="", db_default="")
    # The reporter's language (BCP 47) as the platform sent it: the reporter's notices are written in it (dsa.notices).
    reporter_language = models.CharField(max_length=35, blank=True, default="", db_default="")
    # Served by report_policy_case_idx, which starts with policy.
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="reports", db_index=False)
    description = models.TextField(blank=True, default="")
    jurisdiction = models.JSONField(default=list, blank=True)
    classifier_score = models.FloatField(null=True, blank=True)
    snapshot = models.JSONField(default=dict)
    received_at = models.DateTimeField()
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True, default="")
    response = models.JSONField(null=True, blank=True)
    # The intake signals judged the reporter new, low-reputation or part of a
    # coordinated wave: the report does not count towards re-opening a decided case.
    discounted = models.BooleanField(default=False, db_default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="report_idempotency_key_unique",
            ),
            models.CheckConstraint(
                condition=Q(classifier_score__isnull=True) | Q(classifier_score__gte=0, classifier_score__lte=1),
                name="report_classifier_score_0_1",
            ),
        ]
        indexes = [
            models.Index(fields=["case", "reporter_kind", "reporter_external_id"], name="report_case_reporter_idx"),
            # Replaces the policy foreign key's own index (same intake cost): the console's policy filter reads
            # the distinct cases reported under a policy from it without touching the table.
            models.Index(fields=["policy", "case"], name="report_policy_case_idx"),
        ]

    def __str__(self):
        return f"report {self.id}"

    @property
    def reporter_is_anonymous(self):
        return not self.reporter_external_id
