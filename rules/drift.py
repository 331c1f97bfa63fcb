"""Drift: an active rule keeps being measured against the human decisions on
the cases its actions were sampled into human review for. Agreement below the
version's threshold alerts leads (the rule carries the alert; the console
shows it; audited) and, if the version says so, falls back to shadow."""

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

import audit
from audit.context import Actor
from audit.services import CONFIG_STREAM
from reviews.models import Decision

from . import engine
from .models import Rule, RuleHit, RuleMode

DRIFT = Actor.system("rules drift check")
MIN_SAMPLE = 20


@dataclass(frozen=True)
class Agreement:
    sampled: int
    agreed: int

    @property
    def share(self) -> float | None:
        return self.agreed / self.sampled if self.sampled else None


def agreement_of(rule: Rule) -> Agreement:
    """Sampled cases of the published version that people decided, and how
    many of those decisions are the outcome the rule predicts."""
    version = rule.published_version
    human = Decision.objects.filter(case_id=OuterRef("case_id"), is_current=True, automated_decision=False)
    cases = (RuleHit.objects.filter(version=version, mode=RuleMode.ACTIVE, sampled=True)
             .filter(Exists(human)).values_list("case_id", flat=True).distinct())
    decided = dict(Decision.objects.filter(case_id__in=cases, is_current=True, automated_decision=False)
                   .values_list("case_id", "outcome__code"))
    agreed = sum(1 for code in decided.values() if code == version.predicts)
    return Agreement(sampled=len(decided), agreed=agreed)


def rule_drift_check(*, rule: Rule, min_sample: int = MIN_SAMPLE, now: Any = None) -> Agreement | None:
    """Measures an active rule; below its threshold (with at least
    `min_sample` human decisions) records a drift alert once and, if
    configured, puts the rule in shadow. Returns the agreement, or None for
    a rule that is not active."""
    now = now or timezone.now()
    with transaction.atomic():
        rule = Rule.objects.select_for_update(of=("self",)).select_related("published_version").get(pk=rule.pk)
        if rule.mode != RuleMode.ACTIVE or rule.published_version is None:
            return None
        version = rule.published_version
        agreement = agreement_of(rule)
        rule.drift_agreement = agreement.share
        fields = ["drift_agreement"]
        drifting = agreement.sampled >= min_sample and agreement.share < version.agreement_threshold
        if drifting and rule.drift_alert_at is None:
            rule.drift_alert_at = now
            fields.append("drift_alert_at")
            fallback = version.fallback_to_shadow
            audit.record(stream=CONFIG_STREAM, action="rule.drift_alert", actor=DRIFT, target_type="rule",
                         target_id=rule.slug, data={"version": version.number, "agreement": agreement.share,
                                                    "sampled": agreement.sampled,
                                                    "threshold": version.agreement_threshold,
                                                    "fallback_to_shadow": fallback})
            if fallback:
                rule.mode = RuleMode.SHADOW
                fields.append("mode")
                audit.record(stream=CONFIG_STREAM, action="rule.mode_changed", actor=DRIFT, target_type="rule",
                             target_id=rule.slug, data={"mode": [RuleMode.ACTIVE, RuleMode.SHADOW],
                                                        "reason": "agreement with human reviews below threshold"})
                transaction.on_commit(engine.invalidate)
        rule.save(update_fields=fields)
        return agreement


def rules_drift_sweep() -> int:
    """Checks every active rule; returns how many were checked."""
    rules = list(Rule.objects.filter(mode=RuleMode.ACTIVE, published_version__isnull=False))
    for rule in rules:
        rule_drift_check(rule=rule)
    return len(rules)
