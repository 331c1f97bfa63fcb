from django.conf import settings
from django.db import models

from cases.ids import uuid7
from cases.models import Source

SCOPES = {
    "reports:write": "file reports",
    "cases:read": "read the client's own cases",
    "appeals:write": "file appeals",
    "webhooks:manage": "manage the client's own webhook endpoints",
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
