from django.conf import settings
from django.db import models
from django.db.models import Q

from cases.ids import uuid7
from cases.models import Source

SCOPES = {
    "reports:write": "file reports",
    "cases:read": "read the client's own cases",
    "appeals:write": "file appeals",
    "webhooks:manage": "manage the client's own webhook endpoints",
    "audit:read": "read the latest audit checkpoint (GET /api/v1/audit/head), to keep as a witness",
    # Not an endpoint permission: what trust.intake believes. Without it a report claiming reporter kind "staff" is
    # filed as a user report that keeps the claim (docs/dsa-trust.md, "Staff reports").
    "reports:staff": "file reports as the platform's own staff (reporter kind staff, priority weight 2)",
}


def default_rate():
    return settings.API_DEFAULT_RATE_PER_SECOND


def default_burst():
    return settings.API_DEFAULT_BURST


class ApiClient(models.Model):
    """A key an external system authenticates with. Only a SHA-256 hash of
    the key is stored (keys are 256-bit random, so a slow hash adds nothing);
    the prefix finds the row. A client acts for one source: it sees only that
    source's subjects and cases."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    name = models.CharField(max_length=100, unique=True)
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="api_clients")
    key_prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    rate_per_second = models.PositiveIntegerField(default=default_rate)
    burst = models.PositiveIntegerField(default=default_burst)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    # DRF treats request.user as the authenticated principal.
    is_authenticated = True


# ---- outbound webhooks --------------------------------------------------------------------------------------

# The events a platform can subscribe to, with what each means. Their payloads are documented in
# docs/webhooks.md; integrations/webhooks/events.py turns audit events into them.
WEBHOOK_EVENT_TYPES = {
    "case.opened": "a case was opened about one of the platform's subjects",
    "case.escalated": "a case went to its workflow's escalation stage (by hand, on a split or on a missed deadline)",
    "case.sla_warning": "a case's current stage passed its SLA warning time",
    "case.sla_breached": "a case's current stage missed its SLA deadline",
    "decision.made": "a decision was made (also the result of an appeal that upheld or modified a decision)",
    "decision.reversed": "an appeal overturned a decision",
    "appeal.opened": "an appeal against a decision was opened",
    "appeal.decided": "an appeal was decided",
    "notice.created": "a notice to a reporter (receipt, outcome; DSA Art. 16(5)) or to the affected user (statement "
                      "of reasons; Art. 17) is ready to deliver; the same notices are in GET /api/v1/notices",
}


class EndpointPurpose(models.TextChoices):
    WEBHOOK = "webhook", "Webhook"
    # The audit witness (integrations/witness.py): gets every audit checkpoint through the same
    # deliveries, attempts and sender as webhooks; one row at most, kept in step with AUDIT_WITNESS_URL.
    AUDIT_WITNESS = "audit_witness", "Audit witness"


class WebhookEndpoint(models.Model):
    """Where a source's events are sent. API clients of the source manage
    their endpoints over /api/v1/webhooks; admins manage all of them.

    The dispatcher tails the audit log with a cursor per endpoint:
    (cursor_xid, cursor_event_id) is the position in (AuditEvent.xid, id)
    order up to which every event has been turned into deliveries. A paused
    endpoint keeps its cursor, so the events it missed are delivered once it
    is resumed. The signing secrets are kept as given: signing needs them.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    purpose = models.CharField(max_length=16, choices=EndpointPurpose.choices, default=EndpointPurpose.WEBHOOK)
    # Every webhook endpoint has a source; the audit witness has none (a check constraint says so).
    source = models.ForeignKey(Source, null=True, on_delete=models.PROTECT, related_name="webhook_endpoints")
    created_by_client = models.ForeignKey(ApiClient, null=True, blank=True, on_delete=models.SET_NULL,
                                          related_name="+", help_text="the API client that created it, if any")
    url = models.CharField(max_length=2048)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list)
    active = models.BooleanField(default=True, help_text="inactive endpoints receive nothing, not even later")
    paused_at = models.DateTimeField(null=True, blank=True,
                                     help_text="set when the endpoint kept failing; its events wait until it is resumed")
    pause_reason = models.CharField(max_length=500, blank=True)
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    cursor_xid = models.BigIntegerField(default=0)
    cursor_event_id = models.BigIntegerField(default=0)
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    # At most one sender per endpoint (a lease that a killed worker's successor takes over when it runs out).
    sender_token = models.CharField(max_length=32, blank=True)
    sender_lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["source", "created_at"], name="webhook_endpoint_source_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(purpose=EndpointPurpose.WEBHOOK, source__isnull=False)
                | Q(purpose=EndpointPurpose.AUDIT_WITNESS, source__isnull=True),
                name="webhook_endpoint_source_iff_webhook"),
            models.UniqueConstraint(fields=["purpose"], condition=Q(purpose=EndpointPurpose.AUDIT_WITNESS),
                                    name="webhook_endpoint_one_witness"),
        ]

    def __str__(self):
        return self.url


class WebhookEvent(models.Model):
    """One audit event as a webhook: its public id and the exact body sent,
    rendered once, so every attempt and every endpoint gets the same bytes."""

    public_id = models.CharField(max_length=40, unique=True)
    # No database constraint: audit events are never deleted (a trigger refuses it), and a foreign key
    # would make the audit table impossible to TRUNCATE on its own, which its trigger must be the one to refuse.
    # Both empty for an audit checkpoint sent to the witness (stream "audit:checkpoints", seq = its number).
    audit_event = models.OneToOneField("audit.AuditEvent", null=True, on_delete=models.DO_NOTHING, db_constraint=False,
                                       related_name="+")
    type = models.CharField(max_length=40)
    case_id = models.UUIDField(null=True)
    stream = models.CharField(max_length=100)
    seq = models.BigIntegerField()
    body = models.TextField()
    created_at = models.DateTimeField(help_text="when the change it reports happened")

    def __str__(self):
        return f"{self.public_id} {self.type}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    DEAD = "dead", "Dead-lettered"


class WebhookDelivery(models.Model):
    """One event to one endpoint, retried until it succeeds or its retry
    time runs out (dead-lettered). `attempts` numbers the attempts: taking
    one is a compare-and-swap on it, so no attempt is made twice. (stream,
    seq) is the event's place in its case, for ordering per case."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(WebhookEvent, on_delete=models.PROTECT, related_name="deliveries")
    stream = models.CharField(max_length=100)
    seq = models.BigIntegerField()
    state = models.CharField(max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    dead_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_delivery_once_per_endpoint"),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="webhook_delivery_due_idx", condition=Q(state="pending")),
            models.Index(fields=["endpoint", "stream", "seq"], name="webhook_delivery_order_idx",
                         condition=Q(state="pending")),
            models.Index(fields=["endpoint", "-id"], name="webhook_delivery_log_idx"),
            models.Index(fields=["endpoint", "state", "-id"], name="webhook_delivery_state_idx"),
        ]

    def __str__(self):
        return f"delivery {self.pk} ({self.state})"


class WebhookAttempt(models.Model):
    """The delivery log: one HTTP attempt and what came back."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    succeeded = models.BooleanField()
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["delivery", "number"], name="webhook_attempt_delivery_idx")]

    def __str__(self):
        return f"attempt {self.number} of delivery {self.delivery_id}"
