"""Per-user console settings."""
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ConsolePreference(models.Model):
    """How one user wants the console shown. An empty time zone means: the
    browser's zone (sent by console.js in the quorum_tz cookie), else the
    site's TIME_ZONE."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="console_preference",
                                verbose_name=_("user"))
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True,
                                 help_text=_("An IANA zone such as Europe/Berlin; empty: the browser's zone."))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("console preference")
        verbose_name_plural = _("console preferences")

    def __str__(self):
        return f"{self.user_id}: {self.time_zone or '-'}"
