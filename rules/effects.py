"""What a matching rule does. Effects are checked when a draft is saved
(`effect_problems`) and applied through the services of the layers below
(`effects_apply`); a shadow rule only describes them."""

import re
from collections.abc import Callable
from typing import Any

from audit.context import Actor
from cases.adjust import case_priority_set
from cases.models import Queue
from cases.priority import PRIORITY_MAX, PRIORITY_MIN, priority_raise
from reviews.services import sync_priority
from reviews.services.automation import case_hold_automated, case_move_to_queue

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
MAX_EFFECTS = 10

# type -> {parameter: (type, low, high) or "slug"}
EFFECT_TYPES: dict[str, dict[str, Any]] = {
    "raise_priority": {"by": (int, 1, PRIORITY_MAX)},
    "set_priority": {"to": (int, PRIORITY_MIN, PRIORITY_MAX)},
    "label": {"label": "slug"},
    "route": {"queue": "slug"},
    "hold": {},
    # Act automatically: decide the case with this outcome (e.g. label, restrict_visibility, or no_violation to
    # close it as no action), unless the case is drawn into human review (sample_share).
    "decide": {"outcome": "slug"},
}


def effect_problems(effects: Any) -> list[str]:
    """Why `effects` cannot be saved; empty when they can."""
    if not isinstance(effects, list):
        return ["effects must be a list of objects"]
    if len(effects) > MAX_EFFECTS:
        return [f"at most {MAX_EFFECTS} effects"]
    problems = []
    types = [e.get("type") for e in effects if isinstance(e, dict)]
    if types.count("decide") > 1:
        problems.append("at most one \"decide\" effect")
    if "decide" in types and "hold" in types:
        problems.append("\"hold\" and \"decide\" exclude each other: a held case is left to people")
    for i, effect in enumerate(effects):
        where = f"effects[{i}]"
        if not isinstance(effect, dict) or not isinstance(effect.get("type"), str):
            problems.append(f"{where}: an object with a \"type\"")
            continue
        spec = EFFECT_TYPES.get(effect["type"])
        if spec is None:
            problems.append(f"{where}: unknown effect type {effect['type']!r} (known: {', '.join(EFFECT_TYPES)})")
            continue
        extra = set(effect) - set(spec) - {"type"}
        if extra:
            problems.append(f"{where}: unknown parameter(s) {', '.join(sorted(extra))}")
        for name, rule in spec.items():
            value = effect.get(name)
            if rule == "slug":
                if not isinstance(value, str) or not _SLUG.match(value):
                    problems.append(f"{where}.{name}: a lower-case slug of at most 50 characters")
            else:
                kind, low, high = rule
                if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
                    problems.append(f"{where}.{name}: an integer from {low} to {high}")
    return problems


def effects_preview(effects: list[dict], *, priority: int) -> list[dict]:
    """What the effects would do to a case of this priority (shadow hits, backtests)."""
    out = []
    for effect in effects:
        if effect["type"] == "raise_priority":
            priority = priority_raise(priority, effect["by"])
            out.append({**effect, "priority": priority})
        elif effect["type"] == "set_priority":
            priority = effect["to"]
            out.append({**effect, "priority": priority})
        else:
            out.append(dict(effect))
    return out


def effects_apply(*, effects: list[dict], case_id: Any, priority: int, actor: Actor, reason: str,
                  label_add: Callable[..., None], decide: Callable[[str], dict]) -> list[dict]:
    """Applies effects to a case whose row the caller holds; returns what was
    done. A "decide" effect runs last, after the priority and labels."""
    done = []
    start = priority
    ordered = sorted(effects_preview(effects, priority=priority), key=lambda e: e["type"] == "decide")
    for effect in ordered:
        if "priority" in effect:
            _before, priority = case_priority_set(case_id=case_id, priority=effect["priority"], actor=actor,
                                                  reason=reason)
            done.append({**effect, "priority": priority})
        elif effect["type"] == "label":
            label_add(case_id=case_id, label=effect["label"])
            done.append(effect)
        elif effect["type"] == "route":
            queue = Queue.objects.get(slug=effect["queue"])
            moved = case_move_to_queue(case_id=case_id, queue=queue, actor=actor, reason=reason)
            done.append({**effect, "moved": moved})
        elif effect["type"] == "hold":
            done.append({**effect, "held": case_hold_automated(case_id=case_id, actor=actor, reason=reason)})
        elif effect["type"] == "decide":
            if priority != start:
                sync_priority(case_id=case_id, priority=priority)
                start = priority
            done.append({**effect, **decide(effect["outcome"])})
    if priority != start:
        sync_priority(case_id=case_id, priority=priority)
    return done
