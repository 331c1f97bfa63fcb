"""Signals about reports and reporters (G4 part A): reporter reputation,
per-subject brigading counters, keyed identifier links, sanctioned accounts
and admin-loaded hash lists. Formulas: docs/rules.md, "Reputation and
brigading formulas". `signals` sits between `cases` and `reviews`: it reads
cases' tables, reviews calls it; cases reaches it only through IntakeHooks."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cases.models import Source


class ReporterReputation(models.Model):
    """Decided reports of one reporter: `upheld` cases ended in a violation,
    `rejected` in none. Accuracy is the Beta posterior mean (signals.reputation)."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="+")
    reporter_kind = models.CharField(max_length=20)
    # The external reporter id; for automated reporters the API client's id.
    reporter_key = models.CharField(max_length=255)
    upheld = models.FloatField(default=0)
    rejected = models.FloatField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "reporter_kind", "reporter_key"],
                                               name="reputation_reporter_unique")]

    def __str__(self):
        return f"{self.reporter_kind}:{self.reporter_key}"


class ReputationCredit(models.Model):
    """What one case's current decision credited to one reporter, so that a
    later decision of the case (re-review, appeal) moves the credit instead of
    adding a second one."""

    case_id = models.UUIDField()
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="+")
    reporter_kind = models.CharField(max_length=20)
    reporter_key = models.CharField(max_length=255)
    upheld = models.FloatField(default=0)
    rejected = models.FloatField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case_id", "reporter_kind", "reporter_key"],
                                               name="reputation_credit_unique")]

    def __str__(self):
        return f"{self.case_id} {self.reporter_kind}:{self.reporter_key}"


class SubjectSignals(models.Model):
    """Running counters of the reports about one subject, for the case
    currently open about it (`case_id`; reset when a new case starts), and
    what they concluded. Updated per report by the intake statement
    (signals.intake); the subject row lock that intake holds serialises it."""

    subject_id = models.UUIDField(primary_key=True)
    case_id = models.UUIDField(null=True)
    last_report_at = models.DateTimeField()
    # Exponentially decayed report counts: fast (1 h) and slow (7 days, the baseline).
    rate_fast = models.FloatField(default=0)
    rate_slow = models.FloatField(default=0)
    reports = models.IntegerField(default=0)
    weak_reports = models.IntegerField(default=0)  # from new or low-reputation reporters
    near_duplicate_reports = models.IntegerField(default=0)
    co_report_hits = models.IntegerField(default=0)
    # The highest burst ratio the case saw (signals.brigade.burst_ratio): the flag outlives the burst.
    burst_ratio = models.FloatField(default=0)
    # Bounded rings: the last reporters ("kind:key") and description simhashes (signed 64-bit).
    recent_reporters = models.JSONField(default=list)
    recent_simhashes = models.JSONField(default=list)
    # Evidence: linked sanctioned accounts and hash-list matches, as found at intake.
    linked_sanctioned = models.JSONField(default=list)
    hash_matches = models.JSONField(default=list)
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["case_id"], name="subjectsignals_case_idx")]

    def __str__(self):
        return str(self.subject_id)


class CoReportPair(models.Model):
    """How often two reporters (a < b, "kind:key") reported the same subject
    within a few reports of each other."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="+")
    reporter_a = models.CharField(max_length=280)
    reporter_b = models.CharField(max_length=280)
    count = models.IntegerField(default=0)
    last_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "reporter_a", "reporter_b"],
                                               name="coreport_pair_unique")]

    def __str__(self):
        return f"{self.reporter_a} + {self.reporter_b}"


class IdentifierKind(models.TextChoices):
    EMAIL = "email", _("e-mail address")
    PHONE = "phone", _("phone number")
    DEVICE = "device", _("device")
    PAYMENT = "payment", _("payment fingerprint")
    IP_PREFIX = "ip_prefix", _("IP prefix")


class IdentifierLink(models.Model):
    """An account subject carried an identifier whose keyed hash
    (HMAC-SHA256 under the source's key) is `digest`. Accounts sharing a
    digest are linked. The raw value is never stored. Deleted after
    `expires_at` (SIGNALS_RETENTION_DAYS after it was last seen)."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=IdentifierKind.choices)
    digest = models.CharField(max_length=64)
    subject_id = models.UUIDField()
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "kind", "digest", "subject_id"],
                                               name="identifier_link_unique")]
        indexes = [models.Index(fields=["subject_id"], name="identifier_subject_idx"),
                   models.Index(fields=["expires_at"], name="identifier_expiry_idx")]

    def __str__(self):
        return f"{self.kind} {self.digest[:12]}… {self.subject_id}"


class AccountSanction(models.Model):
    """An account banned or suspended by the current decision of a case."""

    subject_id = models.UUIDField()
    case_id = models.UUIDField()
    outcome = models.CharField(max_length=50)
    decided_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subject_id", "case_id"], name="sanction_unique")]
        indexes = [models.Index(fields=["subject_id"], name="sanction_subject_idx")]

    def __str__(self):
        return f"{self.outcome} {self.subject_id}"


class HashAlgorithm(models.TextChoices):
    SHA256 = "sha256", "SHA-256"
    PDQ = "pdq", "PDQ"


class HashList(models.Model):
    """A list of known media hashes (e.g. shared known-abuse imagery)."""

    name = models.SlugField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    pdq_threshold = models.PositiveSmallIntegerField(
        _("PDQ distance threshold"), default=31,
        help_text=_("a PDQ hash within this many differing bits (0–31) of a listed one matches"))
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("hash list")
        verbose_name_plural = _("hash lists")
        constraints = [models.CheckConstraint(condition=Q(pdq_threshold__lte=31), name="hashlist_threshold_max_31")]

    def __str__(self):
        return self.name


class HashListEntry(models.Model):
    """One listed hash: 64 lowercase hex digits (SHA-256 or PDQ's 256 bits)."""

    hash_list = models.ForeignKey(HashList, on_delete=models.CASCADE, related_name="entries")
    algorithm = models.CharField(max_length=10, choices=HashAlgorithm.choices)
    value = models.CharField(max_length=64)
    label = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hash_list", "algorithm", "value"], name="hashlist_entry_unique")]
        indexes = [models.Index(fields=["algorithm", "value"], name="hashlist_value_idx")]

    def __str__(self):
        return f"{self.algorithm}:{self.value}"


class PdqBand(models.Model):
    """One of the 16 16-bit bands of a listed PDQ hash: a hash within
    Hamming distance 31 shares at least one band up to one bit
    (pigeonhole), so a lookup probes 16 × 17 band values in an index."""

    entry = models.ForeignKey(HashListEntry, on_delete=models.CASCADE, related_name="bands")
    band = models.PositiveSmallIntegerField()
    value = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["band", "value"], name="pdqband_lookup_idx")]

    def __str__(self):
        return f"{self.band}:{self.value}"


class ReportSignals(models.Model):
    """The signals one report had at intake, written by the intake statement
    (signals.intake) under the report's id: the subject's counters after the
    report, the reporter's record before it, the linked sanctioned accounts
    and hash-list matches the case had. Backtests read these instead of
    today's values (signals.features.from_snapshot), so a reporter's later
    record — built partly from the very decision a backtest compares with —
    does not leak into it. Reports filed before this table have none."""

    report_id = models.UUIDField(primary_key=True)
    reports = models.IntegerField()
    weak_reports = models.IntegerField()
    near_duplicate_reports = models.IntegerField()
    co_report_hits = models.IntegerField()
    burst_ratio = models.FloatField()
    # The reporter's decided record when the report arrived; null: no record (or an anonymous report).
    upheld = models.FloatField(null=True)
    rejected = models.FloatField(null=True)
    linked_sanctioned = models.JSONField(default=list)
    hash_matches = models.JSONField(default=list)
    created_at = models.DateTimeField()

    def __str__(self):
        return str(self.report_id)
