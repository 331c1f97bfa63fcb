"""Compiled published rules, cached per process, and their evaluation.

The cache holds the rules in shadow or active mode with their published
version, compiled once. It is dropped on commit of a publish, retire or mode
change in this process; other processes reload it within CACHE_SECONDS
(the pattern of the policy and routing caches).
"""

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any

from .expressions import Compiled, compile_condition, context_for
from .features import FEATURE_SCHEMA, prototypes

CACHE_SECONDS = 5.0


def compile_rule_condition(expression: str) -> Compiled:
    """Checks and compiles a condition over the rule features (raises ExpressionError)."""
    return compile_condition(expression, schema=FEATURE_SCHEMA, prototypes=prototypes())


@dataclass(frozen=True)
class LoadedRule:
    rule_id: int
    slug: str
    version_id: int
    number: int
    mode: str
    condition: Compiled
    effects: list
    sample_share: float


@dataclass(frozen=True)
class Verdict:
    rule: LoadedRule
    matched: bool
    error: str = ""


_lock = threading.Lock()
_cache: dict[str, Any] = {"rules": None, "loaded_at": 0.0}


def invalidate() -> None:
    with _lock:
        _cache["rules"] = None


def _load() -> list[LoadedRule]:
    from .models import Rule, RuleMode

    loaded = []
    rules = (Rule.objects.filter(mode__in=[RuleMode.SHADOW, RuleMode.ACTIVE], published_version__isnull=False)
             .select_related("published_version").order_by("slug"))
    for rule in rules:
        version = rule.published_version
        loaded.append(LoadedRule(rule_id=rule.pk, slug=rule.slug, version_id=version.pk, number=version.number,
                                 mode=rule.mode, condition=compile_rule_condition(version.expression),
                                 effects=list(version.effects), sample_share=version.sample_share))
    return loaded


def published_rules() -> list[LoadedRule]:
    """The rules intake evaluates, compiled (cached)."""
    now = time.monotonic()
    rules = _cache["rules"]
    if rules is not None and now - _cache["loaded_at"] < CACHE_SECONDS:
        return rules
    rules = _load()
    with _lock:
        _cache["rules"] = rules
        _cache["loaded_at"] = now
    return rules


def evaluate(rules: list[LoadedRule], features: dict[str, Any]) -> list[Verdict]:
    """Every rule's verdict on one feature set. A rule whose evaluation fails
    (a regular expression over its time limit, a type error on unusual data)
    does not match and carries the error."""
    groups = frozenset().union(*(rule.condition.groups for rule in rules))
    context = context_for(features, groups)
    verdicts = []
    for rule in rules:
        try:
            verdicts.append(Verdict(rule=rule, matched=rule.condition.matches(context)))
        except Exception as exc:  # a rule's failure must never fail intake
            verdicts.append(Verdict(rule=rule, matched=False, error=str(exc)[:500]))
    return verdicts


def sampled(*, seed: str, version_id: int, case_id: Any, share: float) -> bool:
    """Whether an automated action of this rule version on this case is
    sampled into human review: a uniform draw from a hash of (seed, version,
    case), so the same case is always drawn the same way and the share of
    sampled cases converges on `share`."""
    if share <= 0:
        return False
    if share >= 1:
        return True
    digest = hashlib.sha256(f"{seed}:{version_id}:{case_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share
