"""The review process: workflows of stages in which M of N independent
reviewers must agree, the reviews that carry stages out on cases, their seats
and votes, the decisions they produce, and appeals."""

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cases.ids import uuid7
from cases.models import Case, Policy, Queue
from cases.translations import NAME_TRANSLATIONS_HELP, translated_name, validate_name_translations


class Outcome(models.Model):
    """What a reviewer can decide. Admin-managed; `requires_approval` sends a
    consensus on it through the workflow's approval stage (four eyes)."""

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=200)
    name_translations = models.JSONField(_("name translations"), default=dict, blank=True,
                                         validators=[validate_name_translations],
                                         help_text=NAME_TRANSLATIONS_HELP)
    description = models.TextField(_("description"), blank=True)
    is_violation = models.BooleanField(_("is violation"), default=True, help_text=_("false only for outcomes like no_violation"))
    requires_approval = models.BooleanField(_("requires approval"), default=False)
    time_limited = models.BooleanField(_("time limited"), default=False, help_text=_("a vote for it must carry a duration"))
    approval_over_days = models.PositiveIntegerField(
        _("approval over days"), null=True, blank=True,
        help_text=_("a time-limited outcome longer than this many days requires approval (e.g. long suspensions)"))
    requires_public_explanation = models.BooleanField(
        _("requires public explanation"), default=False,
        help_text=_("a vote for it must carry a public explanation: the reviewer's words to the affected user, "
                    "published in the statement of reasons (the rationale stays internal)"))
    active = models.BooleanField(_("active"), default=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["position", "code"]

    def __str__(self):
        return self.code

    @property
    def local_name(self) -> str:
        """The name in the active language (name_translations), else the name."""
        return translated_name(self)


class Workflow(models.Model):
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    published_version = models.ForeignKey(
        "WorkflowVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="the version new cases get",
    )

    def __str__(self):
        return self.name


class VersionState(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    SUPERSEDED = "superseded", "Superseded"


class WorkflowVersion(models.Model):
    """An immutable-once-published list of stages. A case runs on the version
    it started with."""

    workflow = models.ForeignKey(Workflow, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=VersionState.choices, default=VersionState.DRAFT)
    first_stage_key = models.SlugField(max_length=50)
    approval_stage_key = models.SlugField(max_length=50, blank=True, help_text="four-eyes stage for outcomes requiring approval")
    escalation_stage_key = models.SlugField(max_length=50, blank=True, help_text="where manual escalations go")
    appeal_stage_key = models.SlugField(max_length=50, blank=True, help_text="where appeals are reviewed")
    final_appeal_stage_key = models.SlugField(
        max_length=50, blank=True,
        help_text="where an appeal of an appeal decision is reviewed; its decision is final (empty: one appeal only)")
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workflow", "number"], name="workflow_version_number_unique")]
        ordering = ["workflow", "number"]

    def __str__(self):
        return f"{self.workflow.slug} v{self.number} ({self.state})"

    def stage(self, key):
        return self.stages.get(key=key)


class StageKind(models.TextChoices):
    REVIEW = "review", "Review"
    APPROVAL = "approval", "Approval (four eyes)"
    ESCALATION = "escalation", "Escalation"
    APPEAL = "appeal", "Appeal"


DECIDE = "decide"
# A stage's timeout target may also be this: keep the stage, raise the case's priority.
RAISE_PRIORITY = "raise_priority"


MAX_SEATS = 50  # N of a stage (and of a review a rule raised) is at most this (stage_m_n_positive)


class Stage(models.Model):
    """One step of a workflow version. Targets name another stage's key, or
    "decide" (record the decision and end the workflow)."""

    version = models.ForeignKey(WorkflowVersion, verbose_name=_("version"), on_delete=models.CASCADE, related_name="stages")
    key = models.SlugField(_("key"), max_length=50)
    name = models.CharField(_("name"), max_length=200)
    name_translations = models.JSONField(_("name translations"), default=dict, blank=True,
                                         validators=[validate_name_translations],
                                         help_text=NAME_TRANSLATIONS_HELP)
    kind = models.CharField(_("kind"), max_length=16, choices=StageKind.choices, default=StageKind.REVIEW)
    group = models.ForeignKey(Group, verbose_name=_("group"), on_delete=models.PROTECT, related_name="+",
                              help_text=_("who may review"))
    seats = models.PositiveSmallIntegerField(_("seats"), default=1, help_text=_("N: reviewers taking part"))
    quorum = models.PositiveSmallIntegerField(_("quorum"), default=1, help_text=_("M: matching votes needed"))
    blind = models.BooleanField(_("blind"), default=True)
    allowed_outcomes = models.ManyToManyField(Outcome, verbose_name=_("allowed outcomes"), related_name="+", blank=True)
    sla_seconds = models.PositiveIntegerField(_("sla seconds"), default=86400)
    on_consensus = models.SlugField(_("on consensus"), max_length=50, default=DECIDE)
    on_split = models.SlugField(_("on split"), max_length=50, blank=True)
    on_timeout = models.SlugField(_("on timeout"), max_length=50, blank=True,
                                  help_text=_('a stage key, "raise_priority", or empty (record the breach only)'))
    exclude_earlier_reviewers = models.BooleanField(_("exclude earlier reviewers"), default=False)
    next_tier = models.SlugField(
        _("next tier"), max_length=50, blank=True,
        help_text=_("the higher tier (an escalation stage): where 'escalate' and a rejected proposal from this stage "
                    "go; empty at the top tier"))
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["version", "position", "key"]
        constraints = [
            models.UniqueConstraint(fields=["version", "key"], name="stage_key_unique_in_version"),
            models.CheckConstraint(condition=Q(quorum__gte=1, seats__gte=1, seats__lte=50), name="stage_m_n_positive"),
        ]

    def __str__(self):
        return f"{self.key} ({self.quorum} of {self.seats}{', blind' if self.blind else ''})"

    @property
    def local_name(self) -> str:
        """The name in the active language (name_translations), else the name."""
        return translated_name(self)

    @property
    def rule(self):
        return f"{self.quorum} of {self.seats}{', blind' if self.blind else ''}"


class RoutingSignal(models.TextChoices):
    COORDINATED = "coordinated_reporting", _("possible coordinated reporting")
    EVASION = "possible_ban_evasion", _("possible ban evasion")
    HASH_MATCH = "hash_list_match", _("hash list match")


class RoutingRule(models.Model):
    """Chooses the workflow of a new case: the first active rule (by position)
    whose conditions all hold; a rule without conditions matches everything."""

    position = models.PositiveIntegerField(default=0)
    workflow = models.ForeignKey(Workflow, on_delete=models.PROTECT, related_name="routing_rules")
    policy = models.ForeignKey(Policy, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    jurisdiction = models.CharField(max_length=2, blank=True)
    min_priority = models.IntegerField(null=True, blank=True)
    # G4: a signal the report that opens the case must carry (signals.intake.FLAGS).
    signal = models.CharField(_("signal"), max_length=30, blank=True, choices=RoutingSignal.choices,
                              help_text=_("only cases opened by a report with this signal"))
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return f"#{self.position} → {self.workflow.slug}"


class ReviewState(models.TextChoices):
    OPEN = "open", _("Open")
    ON_HOLD = "on_hold", _("On hold")
    CONSENSUS = "consensus", _("Consensus")
    SPLIT = "split", _("Split")
    CANCELLED = "cancelled", _("Cancelled (escalated or superseded)")
    TIMED_OUT = "timed_out", _("Timed out")


class Review(models.Model):
    """One stage being carried out on one case. At most one review per case is
    open or on hold (database constraint). Queue, priority and opening time
    are copied from the case so that "claim next" is one index scan."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="reviews")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="reviews")
    state = models.CharField(max_length=16, choices=ReviewState.choices, default=ReviewState.OPEN)
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="+", db_index=False)
    group = models.ForeignKey(Group, on_delete=models.PROTECT, related_name="+", db_index=False)
    priority = models.IntegerField()
    case_opened_at = models.DateTimeField()
    free_seats = models.PositiveSmallIntegerField()
    # For approval stages: the result awaiting approval. For appeal stages: the appeal.
    proposed_outcome = models.ForeignKey(Outcome, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    proposed_policy = models.ForeignKey(Policy, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    proposed_duration_days = models.PositiveIntegerField(null=True, blank=True)
    proposed_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    appeal = models.ForeignKey("Appeal", null=True, blank=True, on_delete=models.PROTECT, related_name="reviews")
    # The decision a re-review round (re-opened after it by the re-review rules) may supersede.
    follows_decision = models.ForeignKey("Decision", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # Who may not sit in this review although the stage would let them: the
    # proposer and the rejecting approvers of a rejected proposal.
    barred_user_ids = models.JSONField(default=list, blank=True)
    result_outcome = models.ForeignKey(Outcome, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    result_policy = models.ForeignKey(Policy, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    result_duration_days = models.PositiveIntegerField(null=True, blank=True)
    close_reason = models.CharField(max_length=500, blank=True)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    # SLA clock (F3): computed when the stage opens, moved by holds.
    sla_seconds = models.PositiveIntegerField(null=True, blank=True, help_text="open time allowed, after SLA policies")
    calendar = models.ForeignKey("BusinessCalendar", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    warn_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    warned_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    held_at = models.DateTimeField(null=True, blank=True)
    # A rule's "require_reviewers" effect (rules.effects): this review needs more matching votes (M) or seats
    # (N) than its stage says, never fewer; empty: the stage's. consensus.requirement combines them.
    required_quorum = models.PositiveSmallIntegerField(null=True, blank=True)
    required_seats = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case"], condition=Q(state__in=["open", "on_hold"]),
                                    name="one_active_review_per_case"),
        ]
        indexes = [
            models.Index(fields=["queue", "-priority", "case_opened_at"], name="review_claim_idx",
                         condition=Q(state="open", free_seats__gt=0)),
            models.Index(fields=["case", "opened_at"], name="review_case_idx"),
            models.Index(fields=["warn_at"], name="review_warn_due_idx",
                         condition=Q(state="open", warned_at__isnull=True, warn_at__isnull=False)),
            models.Index(fields=["due_at"], name="review_breach_due_idx",
                         condition=Q(state="open", breached_at__isnull=True, due_at__isnull=False)),
            # The console's queue list sorted "due soonest": active reviews with a deadline, in list order.
            models.Index(fields=["queue", "due_at", "case_opened_at", "case"], name="review_queue_due_idx",
                         condition=Q(state__in=["open", "on_hold"], due_at__isnull=False)),
        ]

    def __str__(self):
        return f"review {self.id} ({self.stage.key}, {self.state})"

    @property
    def requirement(self) -> tuple[int, int]:
        """(M, N) this review needs: its stage's, raised by a rule (never lowered)."""
        from .consensus import requirement

        return requirement(stage_quorum=self.stage.quorum, stage_seats=self.stage.seats,
                           required_quorum=self.required_quorum, required_seats=self.required_seats)


class SeatState(models.TextChoices):
    CLAIMED = "claimed", _("Claimed")
    VOTED = "voted", _("Voted")
    RELEASED = "released", _("Released")


class Seat(models.Model):
    """A reviewer's place in a review. Created when claimed or assigned; a
    released seat stays as history and frees its place."""

    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="seat_set")
    moderator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="seats")
    state = models.CharField(max_length=16, choices=SeatState.choices, default=SeatState.CLAIMED)
    claimed_at = models.DateTimeField()
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["review", "moderator"], condition=Q(state__in=["claimed", "voted"]),
                                    name="one_seat_per_moderator_per_review"),
        ]
        indexes = [
            models.Index(fields=["lease_expires_at"], name="seat_lease_idx", condition=Q(state="claimed")),
            models.Index(fields=["moderator", "state"], name="seat_moderator_idx"),
        ]

    def __str__(self):
        return f"seat of {self.moderator_id} in {self.review_id} ({self.state})"


class Vote(models.Model):
    """Final once cast. In approval stages the outcome is the proposed one
    (approve) or empty with `approved=False` (reject)."""

    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="votes")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="votes")
    outcome = models.ForeignKey(Outcome, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    policy = models.ForeignKey(Policy, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    approved = models.BooleanField(null=True, blank=True)
    duration_days = models.PositiveIntegerField(null=True, blank=True)
    rationale = models.TextField(blank=True, help_text="internal: reviewers, leads and auditors only; never published")
    # What the reviewer tells the affected user; published in the statement of reasons.
    public_explanation = models.TextField(blank=True, default="", db_default="")
    cast_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["review", "reviewer"], name="one_vote_per_reviewer_per_review")]

    def __str__(self):
        return f"vote {self.pk} in {self.review_id}"


class ReviewNote(models.Model):
    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField()

    def __str__(self):
        return f"note {self.pk}"


class DecisionKind(models.TextChoices):
    ORIGINAL = "original", "Original decision"
    APPEAL_UPHELD = "appeal_upheld", "Upheld on appeal"
    # Reversed either way: a violation found to be none, or "no action" found to be a violation.
    APPEAL_OVERTURNED = "appeal_overturned", "Reversed on appeal"
    APPEAL_MODIFIED = "appeal_modified", "Modified on appeal"
    # A later review round (re-opened by the re-review rules) decided again; supersedes the previous decision.
    REREVIEW = "rereview", "Decided again after a re-review"


class Decision(models.Model):
    """The case's outcome. An appeal writes a new Decision that supersedes the
    previous one, so the history keeps every version; only the statement of
    reasons can be amended by a lead (audited with the previous text)."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="decisions")
    review = models.ForeignKey(Review, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    stage_key = models.CharField(max_length=50, blank=True)
    kind = models.CharField(max_length=20, choices=DecisionKind.choices, default=DecisionKind.ORIGINAL)
    outcome = models.ForeignKey(Outcome, on_delete=models.PROTECT, related_name="+")
    policy = models.ForeignKey(Policy, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    duration_days = models.PositiveIntegerField(null=True, blank=True)
    reviewers = models.JSONField(default=list, help_text="ids and votes of the reviewers; never shown to platforms")
    automated_detection = models.BooleanField(default=False)
    automated_decision = models.BooleanField(default=False)
    # The public statement of reasons: the admins' reason text for the policy and outcome and the reviewers'
    # public explanations; never the reviewers' rationales.
    facts_and_reasons = models.TextField()
    public_explanation = models.TextField(blank=True, default="", db_default="")
    territorial_scope = models.JSONField(default=list)
    decided_at = models.DateTimeField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", help_text="the lead who resolved or edited it, if any")
    supersedes = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    is_current = models.BooleanField(default=True)
    # Taken when the decision is published (reviews.services.decisions.decision_publish); empty while a
    # layer above holds its publication (DSA: a statement of reasons that does not validate).
    sequence = models.BigIntegerField(unique=True, null=True, blank=True,
                                      help_text="position in the decision feed; empty while its publication is held")
    appeals_exhausted = models.BooleanField(
        default=False, help_text="decided in the final appeal tier: only out-of-court dispute settlement remains")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case"], condition=Q(is_current=True), name="one_current_decision_per_case"),
            models.UniqueConstraint(fields=["review"], condition=Q(review__isnull=False), name="one_decision_per_review"),
        ]

    def __str__(self):
        return f"decision {self.id} ({self.outcome_id})"


class AppealState(models.TextChoices):
    OPEN = "open", "Open"
    DECIDED = "decided", "Decided"


class AppealResult(models.TextChoices):
    UPHELD = "upheld", "Upheld"
    OVERTURNED = "overturned", "Overturned"
    MODIFIED = "modified", "Modified"


class AppellantKind(models.TextChoices):
    AFFECTED_USER = "affected_user", "The affected user"
    REPORTER = "reporter", "The reporter"


class Appeal(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="appeals")
    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="appeals")
    appellant_kind = models.CharField(max_length=20, choices=AppellantKind.choices)
    appellant_external_id = models.CharField(max_length=255, blank=True)
    statement = models.TextField()
    state = models.CharField(max_length=16, choices=AppealState.choices, default=AppealState.OPEN)
    result = models.CharField(max_length=16, choices=AppealResult.choices, blank=True)
    result_decision = models.ForeignKey(Decision, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    level = models.PositiveSmallIntegerField(default=1, help_text="1: appeal of the original decision; 2: final tier")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["decision"], condition=Q(state="open"), name="one_open_appeal_per_decision"),
        ]

    def __str__(self):
        return f"appeal {self.id} ({self.state})"


class DecisionSequence(models.Model):
    """A single-row counter. Taking the next decision number locks the row
    until the transaction commits, so decision numbers become visible in
    order and a platform polling `since=<n>` can never skip one."""

    value = models.BigIntegerField(default=0)

    def __str__(self):
        return str(self.value)


class ModeratorIdentity(models.Model):
    """A moderator's own account on a source platform: they may not review
    cases about it or reported by it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="platform_identities")
    source = models.ForeignKey("cases.Source", on_delete=models.CASCADE, related_name="+")
    external_id = models.CharField(max_length=255)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "source", "external_id"], name="moderator_identity_unique")]

    def __str__(self):
        return f"{self.user_id}@{self.source_id}:{self.external_id}"


class BusinessCalendar(models.Model):
    """Opening hours for SLA clocks: a time zone, weekly hours and holidays.
    See reviews.clock.Calendar.from_config for the format."""

    name = models.CharField(max_length=100, unique=True)
    timezone = models.CharField(max_length=64, default="UTC")
    weekly_hours = models.JSONField(default=dict, help_text='e.g. {"mon": [["09:00", "17:00"]], "sat": []}')
    holidays = models.JSONField(default=list, blank=True, help_text='e.g. ["2026-12-25"]')

    def __str__(self):
        return self.name

    def as_clock(self):
        from .clock import Calendar

        return Calendar.from_config(tz=self.timezone, weekly_hours=self.weekly_hours, holidays=self.holidays)


class SlaPolicy(models.Model):
    """Refines a stage's SLA. The first active policy (by position) whose
    conditions all hold applies to a stage when it opens; a stage with no
    matching policy runs its own SLA around the clock."""

    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveIntegerField(_("position"), default=0)
    active = models.BooleanField(_("active"), default=True)
    policy = models.ForeignKey(Policy, verbose_name=_("policy"), null=True, blank=True,
                               on_delete=models.PROTECT, related_name="+")
    stage_kind = models.CharField(_("stage kind"), max_length=16, choices=StageKind.choices, blank=True)
    min_priority = models.IntegerField(_("min priority"), null=True, blank=True)
    max_priority = models.IntegerField(_("max priority"), null=True, blank=True)
    reporter_kind = models.CharField(_("reporter kind"), max_length=20, blank=True,
                                     help_text=_("applies when the case has a report from this kind of reporter"))
    duration_seconds = models.PositiveIntegerField(_("duration seconds"), null=True, blank=True,
                                                   help_text=_("replaces the stage's SLA"))
    factor = models.FloatField(_("factor"), null=True, blank=True, help_text=_("multiplies the SLA, e.g. 0.5 for half the time"))
    calendar = models.ForeignKey(BusinessCalendar, verbose_name=_("calendar"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+",
                                 help_text=_("empty: 24/7"))
    warn_fraction = models.FloatField(_("warn fraction"), default=0.75)

    class Meta:
        ordering = ["position", "id"]
        verbose_name_plural = "SLA policies"
        constraints = [
            models.CheckConstraint(condition=Q(warn_fraction__gt=0, warn_fraction__lte=1), name="sla_warn_fraction_0_1"),
            models.CheckConstraint(condition=Q(factor__isnull=True) | Q(factor__gt=0), name="sla_factor_positive"),
        ]

    def __str__(self):
        return self.name


class Heartbeat(models.Model):
    """When each periodic sweep last ran; /readyz and /metrics read it."""

    name = models.CharField(max_length=50, primary_key=True)
    last_run_at = models.DateTimeField()
    processed = models.PositiveIntegerField(default=0)
    duration_ms = models.FloatField(default=0)

    def __str__(self):
        return f"{self.name} @ {self.last_run_at}"
