from django.db import models


class Report(models.Model):
    """One report as the bench sends it, flattened into one row."""

    subject_kind = models.CharField(max_length=20)
    subject_external_id = models.CharField(max_length=200)
    subject_display_name = models.CharField(max_length=200, blank=True)
    subject_url = models.URLField(max_length=2000, blank=True)
    subject_metadata = models.JSONField(default=dict)
    policy = models.CharField(max_length=64)
    reporter_kind = models.CharField(max_length=20)
    reporter_external_id = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.subject_kind} {self.subject_external_id}: {self.policy}"
