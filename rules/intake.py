"""Rules at intake: evaluated per filed report inside the intake transaction
(registered with reviews.intake.register_after_filing). Shadow rules record a
RuleHit of what they would have done and change nothing else; active rules
apply their effects through the services below and record the hit and one
"rule.applied" audit event on the case's stream."""

from typing import Any

from django.conf import settings
from django.utils import timezone

import audit
from audit.context import Actor
from audit.services import case_stream
from cases.models import Case, Policy
from reviews.models import Decision, Outcome
from reviews.services.decisions import decision_automated

from . import engine
from .effects import effects_apply, effects_preview
from .features import report_features
from .models import CaseLabel, RuleHit, RuleMode
from .signal_flags import flag_changes


def _label_add(*, case_id: Any, label: str, version_id: int, now) -> None:
    CaseLabel.objects.bulk_create([CaseLabel(case_id=case_id, label=label, rule_version_id=version_id,
                                             created_at=now)], ignore_conflicts=True)


def _decide(*, rule, case_id: Any, outcome_code: str, policy_code: str, sampled: bool, actor: Actor,
            now) -> dict:
    """The "decide" effect: an automated decision, unless this case was drawn into human review."""
    if sampled:
        return {"decided": False, "sampled": True}
    outcome = Outcome.objects.get(code=outcome_code)
    policy = Policy.objects.filter(code=policy_code).first()
    facts = (f"Decision: {outcome.name}.\nTaken automatically by the rule {rule.slug} (version {rule.number}), "
             "without human review. It can be appealed; appeals are reviewed by people.")
    decision = decision_automated(case_id=case_id, outcome=outcome, policy=policy, facts=facts, actor=actor, now=now)
    if decision is None:
        return {"decided": False, "reason": "already decided, under appeal or not under review: left to people"}
    return {"decided": True, "decision_id": str(decision.pk)}


def rules_on_report(*, report_id: Any, case_id: Any, now=None, signals_changed: list[str] = (),
                    opened: bool | None = None) -> list[RuleHit]:
    """Evaluates the published shadow/active rules on one stored report. The
    caller's transaction holds the case row (intake). `opened`: the report
    opened the case (default: it is the case's only report). Returns the hits."""
    rules = engine.published_rules()
    if not rules:
        return []
    now = now or timezone.now()
    features = report_features(report_id=report_id, now=now, signals_changed=signals_changed)
    hits = []
    priority = features["case"]["priority"]
    for verdict in engine.evaluate(rules, features):
        rule = verdict.rule
        if not verdict.matched and not verdict.error:
            continue
        hit = RuleHit(rule_id=rule.rule_id, version_id=rule.version_id, case_id=case_id, report_id=report_id,
                      mode=rule.mode, error=verdict.error, created_at=now)
        if verdict.error:
            hit.effects = []
        elif rule.mode == RuleMode.SHADOW:
            hit.effects = effects_preview(rule.effects, priority=priority)
        else:
            actor = Actor.system(f"rule {rule.slug} v{rule.number}")
            hit.sampled = engine.sampled(seed=settings.RULES_SAMPLING_SEED, version_id=rule.version_id,
                                         case_id=case_id, share=rule.sample_share)
            hit.effects = effects_apply(
                effects=rule.effects, case_id=case_id, priority=priority, actor=actor,
                case_opened=features["case"]["is_new"] if opened is None else opened,
                reason=f"rule {rule.slug} v{rule.number}",
                label_add=lambda case_id, label, _v=rule.version_id: _label_add(case_id=case_id, label=label,
                                                                                 version_id=_v, now=now),
                decide=lambda outcome, _r=rule, _hit=hit, _a=actor: _decide(rule=_r, case_id=case_id, outcome_code=outcome,
                                                                   policy_code=features["report"]["policy"],
                                                                   sampled=_hit.sampled, actor=_a, now=now))
            priority = next((e["priority"] for e in reversed(hit.effects) if "priority" in e), priority)
            hit.applied = True
            audit.record(stream=case_stream(case_id), action="rule.applied", actor=actor, target_type="case",
                         target_id=case_id, data={"rule": rule.slug, "version": rule.number, "report_id": str(report_id),
                                                  "effects": hit.effects, "sampled": hit.sampled})
        hits.append(hit)
    RuleHit.objects.bulk_create(hits)
    return hits


def case_as_left(case_id: Any) -> dict[str, Any]:
    """The case's state and priority, and its current decision if it has one
    (what the intake response reports after active rules changed the case)."""
    state, priority = Case.objects.filter(pk=case_id).values_list("state", "priority").get()
    out: dict[str, Any] = {"state": state, "priority": priority}
    decision_id = Decision.objects.filter(case_id=case_id, is_current=True).values_list("pk", flat=True).first()
    if decision_id is not None:
        out["decision_id"] = str(decision_id)
    return out


def rules_after_filing(*, report_id: Any, case_id: Any, replayed: bool, opened: bool = False,
                       signals: Any = None) -> dict | None:
    """The intake hook: notes the signal flags the report changed on its case
    (audited), then evaluates the rules. Returns the case as the active rules
    left it when one applied (reviews.intake puts it in the response), else
    None. A replayed idempotent request filed nothing new: nothing runs."""
    if replayed:
        return None
    now = timezone.now()
    changed = flag_changes(case_id=case_id, report_id=report_id, found=signals, now=now)
    hits = rules_on_report(report_id=report_id, case_id=case_id, now=now, signals_changed=changed, opened=opened)
    if any(hit.applied for hit in hits):
        return case_as_left(case_id)
    return None
