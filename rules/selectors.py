"""Reads about rules for the console (a fixed number of queries per page)."""

from datetime import timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from .models import Rule, RuleHit, RuleVersion, RuleVersionState


def rules_for_list() -> QuerySet[Rule]:
    """Every rule with its published version and its hits of the last 7 days (shadow, active)."""
    since = timezone.now() - timedelta(days=7)
    return (Rule.objects.select_related("published_version")
            .annotate(shadow_hits=Count("hits", filter=Q(hits__mode="shadow", hits__created_at__gte=since)),
                      active_hits=Count("hits", filter=Q(hits__mode="active", hits__created_at__gte=since)))
            .order_by("slug"))


def rules_drifting() -> QuerySet[Rule]:
    """Rules with an open drift alert (for the dashboard)."""
    return Rule.objects.filter(drift_alert_at__isnull=False).order_by("-drift_alert_at")


def rule_draft(rule: Rule) -> RuleVersion | None:
    return rule.versions.filter(state=RuleVersionState.DRAFT).order_by("-number").first()


def rule_versions(rule: Rule) -> QuerySet[RuleVersion]:
    return rule.versions.order_by("-number")


def rule_recent_hits(rule: Rule, *, mode: str, limit: int = 50) -> list[Any]:
    return list(RuleHit.objects.filter(rule=rule, mode=mode).select_related("version").order_by("-created_at")[:limit])
