"""DSA statements of reasons: the admin-configured mappings from Quorum's
outcomes and policies to the Commission's schema, the public reason texts,
the statements built for decisions and their submission to the
transparency database (docs/dsa.md)."""

import string

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from cases.ids import uuid7

from . import vocabulary as v


def _check_list(value, allowed, field, errors, *, required=False):
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        errors.setdefault(field, []).append(_("must be a list of codes"))
        return []
    unknown = [x for x in value if x not in allowed]
    if unknown:
        errors.setdefault(field, []).append(_("not known values: %(values)s") % {"values": ", ".join(unknown)})
    if len(set(value)) != len(value):
        errors.setdefault(field, []).append(_("values must be distinct"))
    if required and not value:
        errors.setdefault(field, []).append(_("required: at least one value"))
    return value


class OutcomeMapping(models.Model):
    """What an outcome restricts, in the schema's terms. An outcome that is a
    violation and has no mapping produces a statement that does not validate
    (held, naming the missing mapping)."""

    outcome = models.OneToOneField("reviews.Outcome", verbose_name=_("outcome"), on_delete=models.CASCADE,
                                   related_name="dsa_mapping")
    no_restriction = models.BooleanField(
        _("restricts nothing"), default=False,
        help_text=_("the outcome is a violation but restricts nothing on the platform (e.g. a referral): no "
                    "statement of reasons"))
    decision_visibility = models.JSONField(_("visibility restrictions"), default=list, blank=True,
                                           help_text=_("list of DECISION_VISIBILITY_* codes"))
    decision_visibility_other = models.CharField(_("other visibility restriction"), max_length=500, blank=True)
    decision_account = models.CharField(_("account restriction"), max_length=60, blank=True,
                                        choices=v.choices(v.DECISION_ACCOUNT))
    decision_provision = models.CharField(_("service restriction"), max_length=60, blank=True,
                                          choices=v.choices(v.DECISION_PROVISION))
    decision_monetary = models.CharField(_("monetary restriction"), max_length=60, blank=True,
                                         choices=v.choices(v.DECISION_MONETARY))
    decision_monetary_other = models.CharField(_("other monetary restriction"), max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("DSA outcome mapping")
        verbose_name_plural = _("DSA outcome mappings")

    def __str__(self):
        return f"DSA mapping of {self.outcome}"

    def clean(self):
        errors: dict = {}
        visibility = _check_list(self.decision_visibility, v.DECISION_VISIBILITY, "decision_visibility", errors)
        restrictions = visibility or self.decision_account or self.decision_provision or self.decision_monetary
        if self.no_restriction:
            if restrictions:
                errors.setdefault("no_restriction", []).append(
                    _("an outcome that restricts nothing cannot name restrictions"))
        elif not visibility and not (self.decision_account or self.decision_provision or self.decision_monetary):
            errors.setdefault("decision_visibility", []).append(
                _("name at least one restriction: visibility, account, service or monetary"))
        if v.VISIBILITY_OTHER in visibility and not self.decision_visibility_other.strip():
            errors.setdefault("decision_visibility_other", []).append(_("required for DECISION_VISIBILITY_OTHER"))
        if self.decision_monetary == v.MONETARY_OTHER and not self.decision_monetary_other.strip():
            errors.setdefault("decision_monetary_other", []).append(_("required for DECISION_MONETARY_OTHER"))
        if errors:
            raise ValidationError(errors)


class PolicyMapping(models.Model):
    """The legal side of a policy: category specifications, the decision
    ground with its legal ground or terms clause and explanation, and where
    the decision applies. The category itself is `Policy.dsa_category`."""

    policy = models.OneToOneField("cases.Policy", verbose_name=_("policy"), on_delete=models.CASCADE,
                                  related_name="dsa_mapping")
    category_addition = models.JSONField(_("additional categories"), default=list, blank=True)
    category_specification = models.JSONField(_("category specifications"), default=list, blank=True,
                                              help_text=_("list of KEYWORD_* codes"))
    category_specification_other = models.CharField(_("other specification"), max_length=500, blank=True)
    decision_ground = models.CharField(_("decision ground"), max_length=60, choices=v.choices(v.DECISION_GROUND))
    illegal_content_legal_ground = models.CharField(_("legal ground"), max_length=500, blank=True)
    illegal_content_explanation = models.TextField(_("why the content is illegal"), max_length=2000, blank=True)
    incompatible_content_ground = models.CharField(_("terms clause"), max_length=500, blank=True)
    incompatible_content_explanation = models.TextField(_("why the content breaks the terms"), max_length=2000,
                                                        blank=True)
    incompatible_content_illegal = models.CharField(_("also illegal"), max_length=3, blank=True,
                                                    choices=[(x, x) for x in v.YES_NO])
    decision_ground_reference_url = models.URLField(_("reference URL"), max_length=500, blank=True)
    territorial_scope = models.JSONField(
        _("territorial scope"), default=list,
        help_text=_("EEA country codes where the decision applies: for illegal content, where it is illegal; for "
                    "the terms, where they apply"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("DSA policy mapping")
        verbose_name_plural = _("DSA policy mappings")

    def __str__(self):
        return f"DSA mapping of {self.policy}"

    def clean(self):
        errors: dict = {}
        _check_list(self.category_addition, v.CATEGORY, "category_addition", errors)
        _check_list(self.category_specification, v.CATEGORY_SPECIFICATION, "category_specification", errors)
        _check_list(self.territorial_scope, v.EEA_COUNTRIES, "territorial_scope", errors, required=True)
        required = []
        if self.decision_ground == v.GROUND_ILLEGAL:
            required = ["illegal_content_legal_ground", "illegal_content_explanation"]
        elif self.decision_ground == v.GROUND_INCOMPATIBLE:
            required = ["incompatible_content_ground", "incompatible_content_explanation"]
        for field in required:
            if not getattr(self, field).strip():
                errors.setdefault(field, []).append(_("required for this decision ground"))
        if errors:
            raise ValidationError(errors)


class PublicReason(models.Model):
    """The reason text the affected user reads, per policy and outcome (the
    row without a policy is the outcome's default). Maintained by admins;
    never written by reviewers."""

    outcome = models.ForeignKey("reviews.Outcome", verbose_name=_("outcome"), on_delete=models.CASCADE,
                                related_name="+")
    policy = models.ForeignKey("cases.Policy", verbose_name=_("policy"), null=True, blank=True,
                               on_delete=models.CASCADE, related_name="+",
                               help_text=_("empty: for every policy without its own text"))
    text = models.TextField(_("text (English)"), max_length=3000)
    text_de = models.TextField(_("text (German)"), max_length=3000)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("public reason")
        verbose_name_plural = _("public reasons")
        constraints = [
            models.UniqueConstraint(F("outcome"), Coalesce(F("policy"), Value(0)), name="one_public_reason_per_pair"),
        ]

    def __str__(self):
        return f"{self.outcome} / {self.policy or '*'}"

    def in_language(self, language: str) -> str:
        return self.text_de if (language or "").lower().startswith("de") and self.text_de else self.text


class StatementState(models.TextChoices):
    HELD = "held", _("Held: does not validate")
    PUBLISHED = "published", _("Published")
    SUPERSEDED = "superseded", _("Corrected by a later statement")


class SubmissionState(models.TextChoices):
    UNSENT = "unsent", _("Not queued for submission")
    PENDING = "pending", _("Waiting to be submitted")
    SUBMITTED = "submitted", _("Accepted by the transparency database")
    DEAD = "dead", _("Refused by the transparency database")


class Statement(models.Model):
    """A statement of reasons for one decision that restricts something.
    Held while it does not validate (errors name each field); a lead may
    correct a held statement. Once published it is never edited: a
    correction is a new statement that `corrects` it."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    decision = models.ForeignKey("reviews.Decision", on_delete=models.PROTECT, related_name="dsa_statements")
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="+", db_index=False)
    puid = models.CharField(max_length=500, unique=True)
    state = models.CharField(max_length=16, choices=StatementState.choices)
    payload = models.JSONField()
    errors = models.JSONField(default=dict, blank=True)
    corrects = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    published_at = models.DateTimeField(null=True, blank=True)
    # Submission to the transparency database (dsa/submission.py).
    submission_state = models.CharField(max_length=16, choices=SubmissionState.choices, default=SubmissionState.UNSENT)
    submission_attempts = models.PositiveIntegerField(default=0)
    submission_next_at = models.DateTimeField(null=True, blank=True)
    submission_error = models.TextField(blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    tdb_uuid = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["decision"], condition=Q(state__in=["held", "published"]),
                                    name="one_live_statement_per_decision"),
        ]
        indexes = [
            models.Index(fields=["submission_next_at", "id"], name="statement_submission_due_idx",
                         condition=Q(submission_state="pending")),
            models.Index(fields=["case", "created_at"], name="statement_case_idx"),
        ]

    def __str__(self):
        return f"statement {self.puid} ({self.state})"


class TailCursor(models.Model):
    """Where a tail of the audit log stands: the (xid, id) of the last event
    it processed (integrations.webhooks.outbox explains the pair). One row
    per tail: "submission" (dsa.submission), "notices" (dsa.notices, which
    also keeps the last notice sequence it handed out)."""

    name = models.CharField(max_length=30, primary_key=True)
    cursor_xid = models.BigIntegerField(default=0)
    cursor_event_id = models.BigIntegerField(default=0)
    last_sequence = models.BigIntegerField(default=0)

    def __str__(self):
        return f"{self.name} ({self.cursor_xid}, {self.cursor_event_id})"


class NoticeKind(models.TextChoices):
    RECEIPT = "receipt", _("Receipt of a notice (Art. 16(5))")
    OUTCOME = "outcome", _("Outcome of a notice (Art. 16(5))")
    STATEMENT = "statement", _("Statement of reasons to the affected user (Art. 17)")
    REVERSAL = "reversal", _("Decision reversed, restriction lifted, to the affected user (Art. 17, 20)")


class NoticeRecipient(models.TextChoices):
    REPORTER = "reporter", _("Reporter")
    AFFECTED_USER = "affected_user", _("Affected user")


# The placeholders a notice template may use (dsa.notices fills them).
NOTICE_PLACEHOLDERS = frozenset({
    "reference", "subject", "policy", "outcome", "duration", "statement", "ground", "territorial_scope",
    "end_date", "automated", "appeal_deadline", "dispute_settlement", "received_at", "reason", "explanation",
})


def _check_placeholders(text: str) -> list[str]:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        return [str(exc)]
    unknown = sorted(n for n in names if n not in NOTICE_PLACEHOLDERS)
    return [_("unknown placeholders: %(names)s (known: %(known)s)") % {
        "names": ", ".join("{" + n + "}" for n in unknown), "known": ", ".join(sorted(NOTICE_PLACEHOLDERS))}] if unknown else []


class NoticeTemplate(models.Model):
    """The words of a notice, per kind and language (admin-editable; English
    is the fallback). Placeholders in braces, e.g. {outcome}."""

    kind = models.CharField(_("kind"), max_length=16, choices=NoticeKind.choices)
    language = models.CharField(_("language"), max_length=8, help_text=_("e.g. en, de"))
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("body"), max_length=5000)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("notice template")
        verbose_name_plural = _("notice templates")
        constraints = [models.UniqueConstraint(fields=["kind", "language"], name="one_notice_template_per_language")]

    def __str__(self):
        return f"{self.kind} ({self.language})"

    def clean(self):
        errors = {}
        for field in ("subject", "body"):
            problems = _check_placeholders(getattr(self, field))
            if problems:
                errors[field] = problems
        if errors:
            raise ValidationError(errors)


class Notice(models.Model):
    """A notice the platform renders or forwards to a person: a reporter
    (receipt, outcome) or the affected user (the statement of reasons with
    redress). Numbered in the order they were made (the notices feed)."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    sequence = models.BigIntegerField(unique=True)
    source = models.ForeignKey("cases.Source", on_delete=models.PROTECT, related_name="+", db_index=False)
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=NoticeKind.choices)
    recipient = models.CharField(max_length=16, choices=NoticeRecipient.choices)
    # The platform's own id of the person: the platform needs it to deliver; never sent to the Commission.
    recipient_external_id = models.CharField(max_length=255)
    report = models.ForeignKey("cases.Report", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decision = models.ForeignKey("reviews.Decision", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+")
    statement = models.ForeignKey(Statement, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    language = models.CharField(max_length=8)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["source", "sequence"], name="notice_source_sequence_idx")]

    def __str__(self):
        return f"notice {self.sequence} ({self.kind})"
