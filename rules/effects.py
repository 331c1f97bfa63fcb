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
from reviews.models import MAX_SEATS, Workflow
from reviews.services import sync_priority
from reviews.services.automation import (
    case_hold_automated,
    case_move_to_queue,
    case_start_in_workflow,
    review_require_more,
)

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
MAX_EFFECTS = 10
# Parameters an effect may leave out.
OPTIONAL: dict[str, set[str]] = {"require_reviewers": {"quorum", "seats"}}
# Applied first (a new workflow, then its requirement), "decide" last; the rest in the order written.
_ORDER = {"route_workflow": 0, "require_reviewers": 1, "decide": 3}

# type -> {parameter: (type, low, high) or "slug"}
EFFECT_TYPES: dict[str, dict[str, Any]] = {
    "raise_priority": {"by": (int, 1, PRIORITY_MAX)},
    "set_priority": {"to": (int, PRIORITY_MIN, PRIORITY_MAX)},
    "label": {"label": "slug"},
    "route": {"queue": "slug"},
    "hold": {},
    # Start a case this report opens in the first stage of another (published) workflow; later reports: nothing.
    "route_workflow": {"workflow": "slug"},
    # Raise M and/or N of the case's current review (never lower them); at least one of the two.
    "require_reviewers": {"quorum": (int, 1, MAX_SEATS), "seats": (int, 1, MAX_SEATS)},
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
    if types.count("route_workflow") > 1:
        problems.append("at most one \"route_workflow\" effect")
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
        optional = OPTIONAL.get(effect["type"], set())
        if optional and not optional & set(effect):
            problems.append(f"{where}: at least one of {', '.join(sorted(optional))}")
        for name, rule in spec.items():
            if name in optional and name not in effect:
                continue
            value = effect.get(name)
            if rule == "slug":
                if not isinstance(value, str) or not _SLUG.match(value):
                    problems.append(f"{where}.{name}: a lower-case slug of at most 50 characters")
            else:
                kind, low, high = rule
                if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
                    problems.append(f"{where}.{name}: an integer from {low} to {high}")
        if (effect["type"] == "require_reviewers" and isinstance(effect.get("quorum"), int)
                and isinstance(effect.get("seats"), int) and effect["quorum"] > effect["seats"]):
            problems.append(f"{where}.quorum: M={effect['quorum']} matching votes need at least as many seats "
                            f"(N={effect['seats']})")
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
                  label_add: Callable[..., None], decide: Callable[[str], dict], case_opened: bool) -> list[dict]:
    """Applies effects to a case whose row the caller holds; returns what was
    done. "route_workflow" runs first and only when this report opened the
    case (`case_opened`), then "require_reviewers" (on the review the case
    is in by then), the rest in order, and "decide" last."""
    done = []
    start = priority
    ordered = sorted(effects_preview(effects, priority=priority), key=lambda e: _ORDER.get(e["type"], 2))
    for effect in ordered:
        if effect["type"] == "route_workflow":
            if not case_opened:
                done.append({**effect, "routed": False, "reason": "only when the report opens the case"})
                continue
            workflow = Workflow.objects.select_related("published_version").filter(slug=effect["workflow"]).first()
            if workflow is None:  # checked when saved; gone since
                done.append({**effect, "routed": False, "reason": f"no workflow {effect['workflow']!r}"})
                continue
            done.append({**effect, **case_start_in_workflow(case_id=case_id, workflow=workflow, actor=actor,
                                                            reason=reason)})
            continue
        if effect["type"] == "require_reviewers":
            done.append({**effect, **review_require_more(case_id=case_id, quorum=effect.get("quorum"),
                                                         seats=effect.get("seats"), actor=actor, reason=reason)})
            continue
        if "priority" in effect:
            _before, priority = case_priority_set(case_id=case_id, priority=effect["priority"], actor=actor,
                                                  reason=reason)
            done.append({**effect, "priority": priority})
        elif effect["type"] == "label":
            label_add(case_id=case_id, label=effect["label"])
            done.append(effect)
        elif effect["type"] == "route":
            queue = Queue.objects.filter(slug=effect["queue"]).first()
            if queue is None:  # checked when saved; renamed or deleted since: the report is still filed
                done.append({**effect, "moved": False, "reason": f"no queue {effect['queue']!r}"})
                continue
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
