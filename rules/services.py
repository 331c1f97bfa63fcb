"""Writes about rules: drafts, publishing, retiring, modes, drift alerts. Each
runs in a transaction, locks the rule, and records an audit event on the
configuration stream (the pattern of reviews.workflows for workflow versions)."""

from typing import Any

from django.db import transaction
from django.utils import timezone

import audit
from audit.context import Actor
from audit.services import CONFIG_STREAM
from cases.models import Queue
from reviews.models import Outcome, Workflow

from . import engine
from .effects import effect_problems
from .errors import RuleInvalid, RuleNotAllowed
from .expressions import ExpressionError
from .models import Rule, RuleMode, RuleVersion, RuleVersionState
from .selectors import backtest_published_after

_DRAFT_FIELDS = ("description", "expression", "effects", "predicts", "agreement_threshold", "fallback_to_shadow",
                 "sample_share")


def definition_of(version: RuleVersion | None) -> dict | None:
    """A plain description of a version (for audit diffs)."""
    if version is None:
        return None
    return {"number": version.number, **{name: getattr(version, name) for name in _DRAFT_FIELDS}}


def draft_problems(*, expression: str, effects: Any, predicts: str, agreement_threshold: Any,
                   sample_share: Any) -> dict[str, list[str]]:
    """Everything wrong with a draft, by field; empty when it can be saved."""
    problems: dict[str, list[str]] = {}
    try:
        engine.compile_rule_condition(expression)
    except ExpressionError as exc:
        problems["expression"] = exc.problems
    effect_reasons = effect_problems(effects)
    if effect_reasons:
        problems["effects"] = effect_reasons
    if not isinstance(predicts, str) or not Outcome.objects.filter(code=predicts, active=True).exists():
        problems["predicts"] = [f"no active outcome with code {predicts!r}"]
    if not effect_reasons:
        decide_reasons = _effect_reference_problems(effects)
        if decide_reasons:
            problems["effects"] = decide_reasons
    for name, value in (("agreement_threshold", agreement_threshold), ("sample_share", sample_share)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            problems[name] = ["a number from 0 to 1"]
    return problems


def _effect_reference_problems(effects: list) -> list[str]:
    """A route needs an existing queue, a route_workflow a published workflow; a rule may decide only with an
    active outcome that needs neither four-eyes approval nor a duration."""
    problems = []
    for i, effect in enumerate(effects):
        if effect["type"] == "route" and not Queue.objects.filter(slug=effect["queue"]).exists():
            problems.append(f"effects[{i}].queue: no queue with slug {effect['queue']!r}")
        if effect["type"] == "route_workflow" and not Workflow.objects.filter(
                slug=effect["workflow"], published_version__isnull=False).exists():
            problems.append(f"effects[{i}].workflow: no published workflow with slug {effect['workflow']!r}")
        if effect["type"] != "decide":
            continue
        outcome = Outcome.objects.filter(code=effect["outcome"], active=True).first()
        if outcome is None:
            problems.append(f"effects[{i}].outcome: no active outcome with code {effect['outcome']!r}")
        elif outcome.requires_approval or outcome.time_limited:
            problems.append(f"effects[{i}].outcome: {outcome.code} needs four-eyes approval or a duration; "
                            "only people decide it")
    return problems


def rule_create(*, slug: str, name: str, actor: Actor) -> Rule:
    """A new rule, off and without versions."""
    with transaction.atomic():
        rule = Rule(slug=slug, name=name)
        rule.full_clean()
        rule.save()
        audit.record(stream=CONFIG_STREAM, action="rule.draft_saved", actor=actor, target_type="rule",
                     target_id=slug, data={"created": True, "name": name})
        return rule


def rule_draft_save(*, rule: Rule, actor: Actor, user=None, expression: str, effects: list, predicts: str,
                    description: str = "", agreement_threshold: float = 0.9, fallback_to_shadow: bool = False,
                    sample_share: float = 0.1) -> RuleVersion:
    """Creates the rule's draft version or updates it. Requires a condition
    that compiles and type-checks, valid effects and an existing outcome
    (raises RuleInvalid naming each problem; nothing is written). Audits
    "rule.draft_saved" with the before/after definition."""
    problems = draft_problems(expression=expression, effects=effects, predicts=predicts,
                              agreement_threshold=agreement_threshold, sample_share=sample_share)
    if problems:
        raise RuleInvalid(problems)
    with transaction.atomic():
        rule = Rule.objects.select_for_update().get(pk=rule.pk)
        draft = rule.versions.filter(state=RuleVersionState.DRAFT).order_by("-number").first()
        before = definition_of(draft)
        if draft is None:
            number = (rule.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
            draft = RuleVersion(rule=rule, number=number, created_at=timezone.now(), created_by=user)
        for name, value in (("description", description), ("expression", expression), ("effects", effects),
                            ("predicts", predicts), ("agreement_threshold", float(agreement_threshold)),
                            ("fallback_to_shadow", bool(fallback_to_shadow)), ("sample_share", float(sample_share))):
            setattr(draft, name, value)
        draft.save()
        audit.record(stream=CONFIG_STREAM, action="rule.draft_saved", actor=actor, target_type="rule",
                     target_id=rule.slug, data={"version": draft.number, "before": before,
                                                "after": definition_of(draft)})
        return draft


def rule_publish(*, version: RuleVersion, actor: Actor) -> RuleVersion:
    """Publishes a draft: checks it again, retires the version it replaces,
    makes it the one intake evaluates (in the rule's mode) and drops the
    compiled-rules cache after commit. Audits "rule.published" with the
    before/after definition. Publishing the published version again does nothing."""
    with transaction.atomic():
        rule = Rule.objects.select_for_update().get(pk=version.rule_id)
        version = RuleVersion.objects.select_for_update().get(pk=version.pk)
        if version.state == RuleVersionState.PUBLISHED:
            return version
        if version.state != RuleVersionState.DRAFT:
            raise RuleNotAllowed(f"version {version.number} is {version.state}; only a draft can be published")
        problems = draft_problems(expression=version.expression, effects=version.effects, predicts=version.predicts,
                                  agreement_threshold=version.agreement_threshold, sample_share=version.sample_share)
        if problems:
            raise RuleInvalid(problems)
        previous = rule.published_version
        if previous is not None:
            RuleVersion.objects.filter(pk=previous.pk).update(state=RuleVersionState.RETIRED)
        version.state = RuleVersionState.PUBLISHED
        version.published_at = timezone.now()
        version.save(update_fields=["state", "published_at"])
        rule.published_version = version
        rule.drift_alert_at = None
        rule.drift_agreement = None
        rule.save(update_fields=["published_version", "drift_alert_at", "drift_agreement"])
        backtested = backtest_published_after(version)
        audit.record(stream=CONFIG_STREAM, action="rule.published", actor=actor, target_type="rule",
                     target_id=rule.slug, data={"version": version.number, "mode": rule.mode,
                                                "before": definition_of(previous), "after": definition_of(version),
                                                "backtest": str(backtested.pk) if backtested else None})
        transaction.on_commit(engine.invalidate)
        return version


def rule_retire(*, rule: Rule, actor: Actor) -> Rule:
    """Retires the published version: the rule stops running. Audited."""
    with transaction.atomic():
        rule = Rule.objects.select_for_update().get(pk=rule.pk)
        version = rule.published_version
        if version is None:
            return rule
        RuleVersion.objects.filter(pk=version.pk).update(state=RuleVersionState.RETIRED)
        rule.published_version = None
        rule.save(update_fields=["published_version"])
        audit.record(stream=CONFIG_STREAM, action="rule.retired", actor=actor, target_type="rule",
                     target_id=rule.slug, data={"version": version.number})
        transaction.on_commit(engine.invalidate)
        return rule


def rule_mode_set(*, rule: Rule, mode: str, actor: Actor, reason: str = "") -> Rule:
    """Runs the rule off, in shadow or active. Audits "rule.mode_changed"."""
    if mode not in RuleMode.values:
        raise RuleInvalid({"mode": [f"one of {', '.join(RuleMode.values)}"]})
    with transaction.atomic():
        rule = Rule.objects.select_for_update().get(pk=rule.pk)
        if rule.mode == mode:
            return rule
        before = rule.mode
        rule.mode = mode
        rule.save(update_fields=["mode"])
        audit.record(stream=CONFIG_STREAM, action="rule.mode_changed", actor=actor, target_type="rule",
                     target_id=rule.slug, data={"mode": [before, mode], "reason": reason})
        transaction.on_commit(engine.invalidate)
        return rule
