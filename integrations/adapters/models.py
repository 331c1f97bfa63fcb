from django.db import models

from cases.ids import uuid7
from cases.models import Policy
from integrations.models import ApiClient


class AdapterConfig(models.Model):
    """Lets one API client receive one platform's webhooks at
    /api/v1/adapters/<platform>/<client name>. Reports arrive as if the
    client had filed them over the REST API (its source, its idempotency
    keys, its rate limit).

    The webhook secret is the platform's signing key. It must be kept as
    given, since verifying an HMAC needs the key itself (the platform stores it
    the same way); the admin accepts it but never displays it again."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    api_client = models.ForeignKey(ApiClient, on_delete=models.PROTECT, related_name="adapter_configs")
    platform = models.CharField(max_length=32, help_text="a registered adapter, e.g. mastodon")
    webhook_secret = models.CharField(max_length=255)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "adapter configuration"
        ordering = ["platform", "api_client__name"]
        constraints = [
            models.UniqueConstraint(fields=["api_client", "platform"], name="adapter_config_one_per_client_platform"),
        ]

    def __str__(self):
        return f"{self.platform} → {self.api_client.name}"

    @property
    def webhook_path(self):
        return f"/api/v1/adapters/{self.platform}/{self.api_client.name}"


class MappingKind(models.TextChoices):
    CATEGORY = "category", "Report category"
    RULE = "rule", "Rule id"


class PolicyMapping(models.Model):
    """One platform value (a report category, a rule id) and the Quorum
    policy reports citing it are filed under."""

    config = models.ForeignKey(AdapterConfig, on_delete=models.CASCADE, related_name="policy_mappings")
    kind = models.CharField(max_length=16, choices=MappingKind.choices)
    value = models.CharField(max_length=100, help_text="e.g. spam, or a rule id like 2")
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["kind", "value"]
        constraints = [
            models.UniqueConstraint(fields=["config", "kind", "value"], name="policy_mapping_unique_value"),
        ]

    def __str__(self):
        return f"{self.kind} {self.value} → {self.policy.code}"
