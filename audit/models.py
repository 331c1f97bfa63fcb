from django.db import models
from django.utils.translation import gettext_lazy as _


class CurrentTransactionId(models.Func):
    """The id of the writing transaction, as a column default.

    On PostgreSQL the 64-bit top-level transaction id (xid8, which never
    wraps): integrations tails the audit log by it, because ids from a
    sequence commit out of order and xids tell which writers are settled
    (see integrations/webhooks/outbox.py). Elsewhere 0: SQLite serializes
    writers, so there the id alone orders commits."""

    output_field = models.BigIntegerField()
    arity = 0

    def as_sql(self, compiler, connection, **extra_context):
        return "0", []

    def as_postgresql(self, compiler, connection, **extra_context):
        return "(pg_current_xact_id()::text::bigint)", []


class AuditAction(models.TextChoices):
    CASE_OPENED = "case.opened", _("Case opened")
    REPORT_FILED = "report.filed", _("Report filed into an open case")
    CASE_STATE_CHANGED = "case.state_changed", _("Case state changed")
    CASE_ROUTED = "case.routed", _("Case routed")
    POLICY_CHANGED = "policy.changed", _("Policy created or changed")
    QUEUE_CHANGED = "queue.changed", _("Queue created or changed")
    API_CLIENT_CREATED = "api_client.created", _("API client created")
    API_CLIENT_REVOKED = "api_client.revoked", _("API client revoked")
    DEMO_DATA_LOADED = "system.demo_data_loaded", _("Demo data loaded")
    REVIEW_OPENED = "review.opened", _("Review stage opened")
    SEAT_CLAIMED = "review.seat_claimed", _("Seat claimed or assigned")
    SEAT_RELEASED = "review.seat_released", _("Seat released")
    VOTE_CAST = "vote.cast", _("Vote cast")
    REVIEW_CONSENSUS = "review.consensus", _("Stage reached consensus")
    REVIEW_SPLIT = "review.split", _("Stage split")
    APPROVAL_REJECTED = "review.approval_rejected", _("Approval rejected")
    NOTE_ADDED = "review.note_added", _("Note added")
    CASE_ESCALATED = "case.escalated", _("Case escalated")
    DECISION_MADE = "decision.made", _("Decision made")
    DECISION_REVERSED = "decision.reversed", _("Decision reversed on appeal")
    DECISION_PUBLISHED = "decision.published", _("Decision published to the platform (feed, webhooks)")
    DECISION_REASONS_AMENDED = "decision.reasons_amended", _("Statement of reasons amended")
    SLA_WARNING = "case.sla_warning", _("SLA warning time passed")
    SLA_BREACHED = "case.sla_breached", _("SLA deadline breached")
    SLA_POLICY_CHANGED = "sla_policy.changed", _("SLA policy or calendar changed")
    APPEAL_OPENED = "appeal.opened", _("Appeal opened")
    APPEAL_DECIDED = "appeal.decided", _("Appeal decided")
    WORKFLOW_PUBLISHED = "workflow.published", _("Workflow version published")
    WORKFLOW_DRAFT_CREATED = "workflow.draft_created", _("Workflow draft created")
    OUTCOME_CHANGED = "outcome.changed", _("Outcome created or changed")
    ROUTING_RULE_CHANGED = "routing_rule.changed", _("Routing rule created or changed")
    MODERATOR_IDENTITY_CHANGED = "moderator_identity.changed", _("Moderator platform identity created or changed")
    MODERATOR_IDENTITY_DELETED = "moderator_identity.deleted", _("Moderator platform identity deleted")
    MODERATOR_IDENTITIES_IMPORTED = "moderator_identity.imported", _("Moderator platform identities imported")
    WEBHOOK_ENDPOINT_CHANGED = "webhook_endpoint.changed", _("Webhook endpoint created, changed or deleted")
    WEBHOOK_ENDPOINT_PAUSED = "webhook_endpoint.paused", _("Webhook endpoint paused after continuous failures")
    ADAPTER_CONFIG_CHANGED = "adapter_config.changed", _("Platform adapter configured")
    CASE_VIEWED = "case.viewed", _("Case page opened in the console")
    MEDIA_REVEALED = "case.media_revealed", _("Blurred media revealed in the console")
    CASE_ACCESS_DENIED = "case.access_denied", _("Console refused a case hidden from the user")
    USER_SIGNED_IN = "user.signed_in", _("Signed in")
    USER_SIGNED_OUT = "user.signed_out", _("Signed out of the console")
    USER_SIGN_IN_FAILED = "user.sign_in_failed", _("Sign-in failed")
    USER_CREATED = "user.created", _("User created")
    USER_CHANGED = "user.changed", _("User's name or e-mail changed")
    USER_PRIVILEGES_CHANGED = "user.privileges_changed", _("User's staff or superuser flag changed")
    USER_DEACTIVATED = "user.deactivated", _("User deactivated")
    USER_REACTIVATED = "user.reactivated", _("User reactivated")
    USER_DELETED = "user.deleted", _("User deleted")
    USER_PASSWORD_CHANGED = "user.password_changed", _("Password set or reset")
    USER_GROUPS_CHANGED = "user.groups_changed", _("Group membership changed")
    USER_PERMISSIONS_CHANGED = "user.permissions_changed", _("User's permissions changed")
    GROUP_CHANGED = "group.changed", _("Group created or renamed")
    GROUP_DELETED = "group.deleted", _("Group deleted")
    GROUP_PERMISSIONS_CHANGED = "group.permissions_changed", _("Group's permissions changed")
    API_CLIENT_RESCOPED = "api_client.rescoped", _("API client's scopes or limits changed")
    RULE_DRAFT_SAVED = "rule.draft_saved", _("Rule draft saved")
    RULE_PUBLISHED = "rule.published", _("Rule version published")
    RULE_RETIRED = "rule.retired", _("Rule retired")
    RULE_MODE_CHANGED = "rule.mode_changed", _("Rule mode changed")
    RULE_DRIFT_ALERT = "rule.drift_alert", _("Rule disagrees with human reviews")
    RULE_APPLIED = "rule.applied", _("Rule applied to a case")
    RULE_BACKTEST_STARTED = "rule.backtest_started", _("Rule backtest started")
    RULE_BACKTEST_RETRIED = "rule.backtest_retried", _("Rule backtest re-queued after its worker was lost")
    RULE_BACKTEST_FINISHED = "rule.backtest_finished", _("Rule backtest finished or failed")
    CASE_PRIORITY_CHANGED = "case.priority_changed", _("Case priority changed")
    REVIEW_REQUIREMENT_RAISED = "review.requirement_raised", _("More reviewers required by a rule")
    SIGNAL_FLAG_CHANGED = "case.signal_flag_changed", _("Possible coordinated reporting flagged or cleared")
    REPUTATION_UPDATED = "signals.reputation_updated", _("Reporters' reputation updated by a decision")
    HASH_LIST_CHANGED = "signals.hash_list_changed", _("Hash list created, loaded or changed")
    SIGNALS_SWEPT = "signals.retention_swept", _("Expired identifier links deleted")
    TRUSTED_FLAGGER_CHANGED = "trusted_flagger.changed", _("Trusted flagger registered, changed or removed")
    STRIKE_THRESHOLD_CHANGED = "strike_threshold.changed", _("Strike threshold created, changed or deleted")
    STRIKE_ADDED = "strike.added", _("Strike recorded against an account")
    STRIKE_REMOVED = "strike.removed", _("Strike removed")
    STRIKE_PROPOSAL_MADE = "strike.proposal_made", _("Repeat-offender proposal put to review")
    REPORTER_SANCTIONED = "reporter.sanctioned", _("Reporter warned or suspended for unfounded notices")
    REPORTER_SUSPENSION_PROPOSED = "reporter.suspension_proposed", _("Suspension of a reporter's notices proposed")
    REPORTER_SUSPENSION_CONFIRMED = "reporter.suspension_confirmed", _("Suspension of a reporter's notices confirmed")
    REPORTER_SUSPENSION_REJECTED = "reporter.suspension_rejected", _("Suspension of a reporter's notices rejected")
    REPORTER_SUSPENSION_LIFTED = "reporter.suspension_lifted", _("Suspension of a reporter's notices lifted early")
    NOTICE_HELD = "notice.held", _("Notice held: its reporter's notices are suspended")
    DSA_MAPPING_CHANGED = "dsa_mapping.changed", _("DSA mapping or public reason created, changed or deleted")
    STATEMENT_PUBLISHED = "statement.published", _("Statement of reasons published")
    STATEMENT_HELD = "statement.held", _("Statement of reasons held: it does not validate")
    STATEMENT_CORRECTED = "statement.corrected", _("Statement of reasons corrected by a lead")
    STATEMENT_SUBMITTED = "statement.submitted", _("Statement of reasons accepted by the transparency database")
    STATEMENT_SUBMISSION_FAILED = "statement.submission_failed", _("Transparency database refused a statement")
    NOTICE_CREATED = "notice.created", _("Notice to a reporter or the affected user made")
    PARTITION_ARCHIVED = "audit.partition_archived", _("Audit partition exported and detached")


class ActorType(models.TextChoices):
    USER = "user", _("User")
    API_CLIENT = "api_client", _("API client")
    SYSTEM = "system", _("System task")


class AuditEvent(models.Model):
    """One immutable record of something that happened.

    Events form one hash chain per stream ("case:<id>" for a case, "config"
    for configuration, "system" for system work). On PostgreSQL a trigger
    rejects UPDATE, DELETE and TRUNCATE of this table, and the table is
    partitioned by month of `created_at` (audit.0015, audit/partitions.py):
    there the primary key is (id, created_at) and the position is unique on
    (stream, seq, created_at), the stream head keeping (stream, seq) unique.
    """

    stream = models.CharField(max_length=100)
    seq = models.BigIntegerField()
    action = models.CharField(max_length=64, choices=AuditAction.choices)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_name = models.CharField(max_length=200)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    data = models.JSONField(default=dict)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.CharField(max_length=45, blank=True)
    created_at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    # The audit key the hash is an HMAC under (audit.keys); "" = legacy unkeyed SHA-256.
    key_id = models.CharField(max_length=32, blank=True, default="", db_default="")
    # Not part of the hashed content: which transaction wrote the event (the outbox tail's order).
    xid = models.BigIntegerField(db_default=CurrentTransactionId(), editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stream", "seq"], name="audit_event_stream_seq_unique")]
        indexes = [
            models.Index(fields=["xid", "id"], name="audit_event_xid_idx"),
            models.Index(fields=["created_at"], name="audit_event_created_idx"),
            models.Index(fields=["actor_type", "actor_id", "created_at"], name="audit_event_actor_idx"),
        ]

    def __str__(self):
        return f"{self.stream}#{self.seq} {self.action}"


class AuditStreamHead(models.Model):
    """The latest (seq, hash) of each stream. Writers lock it to append; the
    checkpoint task records and clears the `dirty` ones. It is a working
    index, not evidence: verification trusts only events and checkpoints."""

    stream = models.CharField(max_length=100, primary_key=True)
    seq = models.BigIntegerField()
    hash = models.CharField(max_length=64)
    dirty = models.BooleanField(default=True)

    class Meta:
        indexes = [
            models.Index(fields=["stream"], name="audit_head_dirty_idx", condition=models.Q(dirty=True)),
        ]

    def __str__(self):
        return f"{self.stream}@{self.seq}"


class AuditCheckpoint(models.Model):
    """Chains the heads of the streams that changed since the previous
    checkpoint, so that removing a whole stream, or the tail of one, is
    detected. Append-only like the events."""

    number = models.BigIntegerField(unique=True)
    created_at = models.DateTimeField()
    heads = models.JSONField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    key_id = models.CharField(max_length=32, blank=True, default="", db_default="")
    # Not hashed: the highest event id when it was taken, for "a checkpoint at least every N events".
    max_event_id = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        ordering = ["number"]

    def __str__(self):
        return f"checkpoint {self.number}"

    def anchor_record(self):
        """What the anchor sinks keep of this checkpoint (docs/security.md)."""
        return {
            "number": self.number, "created_at": self.created_at.isoformat(timespec="microseconds"),
            "prev_hash": self.prev_hash, "hash": self.hash, "key_id": self.key_id, "streams": len(self.heads or {}),
        }


class AuditAnchorCursor(models.Model):
    """How far each anchor sink ("file", "witness") has taken the checkpoints.
    A working table, not evidence: the sinks themselves are the evidence, and
    a sink that is behind is caught up in checkpoint order."""

    sink = models.CharField(max_length=32, primary_key=True)
    number = models.BigIntegerField(default=0)
    failures = models.IntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.sink}@{self.number}"



class AuditArchive(models.Model):
    """A monthly partition of the audit events that `archive_partition`
    exported (with the checkpoints covering it) and detached. Written once,
    never changed (the application role may not UPDATE or DELETE it); its
    `audit.partition_archived` event in the "system" stream carries the same
    figures and the digest of its ends, under the audit key."""

    number = models.IntegerField(unique=True)
    partition = models.CharField(max_length=63, unique=True)
    range_start = models.DateTimeField()
    range_end = models.DateTimeField()
    archived_at = models.DateTimeField()
    events = models.BigIntegerField()
    streams = models.BigIntegerField()
    file_name = models.CharField(max_length=500)
    file_sha256 = models.CharField(max_length=64)
    # SHA-256 of the canonical JSON of [[stream, seq, hash], ...] of `ends`, sorted by stream.
    ends_sha256 = models.CharField(max_length=64)
    dropped = models.BooleanField(default=False)

    class Meta:
        ordering = ["number"]

    def __str__(self):
        return f"archive {self.number} ({self.partition})"


class AuditArchiveEnd(models.Model):
    """The last archived event of a stream in one archive: where the live
    chain of that stream starts (the latest archive that has the stream wins).
    Verification takes a live stream's first event as chained to it."""

    archive = models.ForeignKey(AuditArchive, on_delete=models.PROTECT, related_name="ends")
    stream = models.CharField(max_length=100)
    seq = models.BigIntegerField()
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stream", "archive"], name="audit_archive_end_unique")]

    def __str__(self):
        return f"{self.stream}@{self.seq} (archive {self.archive_id})"
