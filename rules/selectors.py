"""Reads about rules for the console (a fixed number of queries per page)."""

from datetime import timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from .models import BacktestRun, BacktestStatus, Rule, RuleHit, RuleVersion, RuleVersionState


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


def rule_backtests(rule: Rule, *, limit: int = 10) -> list[BacktestRun]:
    """The rule's latest backtest runs, newest first (one query)."""
    return list(BacktestRun.objects.filter(rule=rule).select_related("version", "started_by")
                .order_by("-created_at")[:limit])


def backtest_run(*, rule: Rule, run_id: Any) -> BacktestRun | None:
    return BacktestRun.objects.select_related("version", "started_by").filter(rule=rule, pk=run_id).first()


def _same_definition(run: BacktestRun, version: RuleVersion) -> bool:
    return (run.expression, run.effects, run.predicts) == (version.expression, version.effects, version.predicts)


def backtest_published_after(version: RuleVersion) -> BacktestRun | None:
    """The last finished backtest of exactly this definition before the
    version was published (None if it was published without one)."""
    if version.published_at is None:
        return None
    runs = (BacktestRun.objects.filter(version=version, status=BacktestStatus.DONE,
                                       finished_at__lte=version.published_at).order_by("-finished_at"))
    return next((run for run in runs[:20] if _same_definition(run, version)), None)


def versions_with_backtests(rule: Rule) -> list[RuleVersion]:
    """The rule's versions, newest first, each with `published_after`: the
    backtest it was published after, or None (two queries)."""
    versions = list(rule_versions(rule))
    runs = (BacktestRun.objects.filter(rule=rule, status=BacktestStatus.DONE).order_by("-finished_at")
            .only("id", "version_id", "expression", "effects", "predicts", "finished_at", "results"))
    by_version: dict[Any, list[BacktestRun]] = {}
    for run in runs:
        by_version.setdefault(run.version_id, []).append(run)
    for version in versions:
        version.published_after = next(
            (run for run in by_version.get(version.pk, [])
             if version.published_at is not None and run.finished_at <= version.published_at
             and _same_definition(run, version)), None)
    return versions
