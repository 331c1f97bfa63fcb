"""Escalation tiers: each stage of a workflow version may name its higher tier
(`Stage.next_tier`, an escalation stage), e.g. review → senior → lead →
policy. A stage with no higher tier is a top tier: it decides or holds.

Versions published before tiers existed name none; for them the version's
`escalation_stage_key` is the one tier above every non-escalation stage.

Pure functions over the stages of one version ({key: stage}); callers load
the stages once.
"""

from collections.abc import Mapping
from typing import Any

from .models import StageKind


def next_tier_key(stage: Any, escalation_stage_key: str = "") -> str:
    """The key of the tier above `stage`, or "" at the top."""
    if stage.next_tier:
        return stage.next_tier
    if stage.kind != StageKind.ESCALATION and escalation_stage_key and stage.key != escalation_stage_key:
        return escalation_stage_key
    return ""


def tier_chain(stages: Mapping[str, Any], start_key: str, escalation_stage_key: str = "") -> list[str]:
    """`start_key` and every tier above it, lowest first (stops at a cycle,
    which publishing refuses)."""
    chain: list[str] = []
    key = start_key
    while key and key in stages and key not in chain:
        chain.append(key)
        key = next_tier_key(stages[key], escalation_stage_key)
    return chain


def is_at_or_above(stages: Mapping[str, Any], stage_key: str, tier_key: str, escalation_stage_key: str = "") -> bool:
    """Whether the stage `stage_key` is the tier `tier_key` or one above it."""
    return stage_key in tier_chain(stages, tier_key, escalation_stage_key)


def tiers_below(stages: Mapping[str, Any], stage_key: str, escalation_stage_key: str = "") -> list[str]:
    """The stages whose next tier is `stage_key` (where a send-back can go), by position."""
    below = [s for s in stages.values() if s.key != stage_key and s.kind != StageKind.APPROVAL
             and next_tier_key(s, escalation_stage_key) == stage_key]
    return [s.key for s in sorted(below, key=lambda s: (s.position, s.key))]


def tier_problems(stages: Mapping[str, Any]) -> list[str]:
    """Why the tiers of a version are broken: a next tier that is not an
    escalation stage of the version, names itself, or a cycle (so no top)."""
    problems: list[str] = []
    for key, stage in stages.items():
        target = stage.next_tier
        if not target:
            continue
        if target == key:
            problems.append(f"stage {key!r}: next tier cannot be the stage itself")
        elif target not in stages:
            problems.append(f"stage {key!r}: next tier {target!r} is not a stage of this version")
        elif stages[target].kind != StageKind.ESCALATION:
            problems.append(f"stage {key!r}: next tier {target!r} must be an escalation stage")
        elif stage.kind == StageKind.APPROVAL:
            problems.append(f"stage {key!r}: an approval stage has no tier (a rejection goes to the proposer's next "
                            "tier)")
    if problems:
        return problems
    for key in sorted(stages):
        seen: list[str] = []
        current = key
        while current and current not in seen:
            seen.append(current)
            current = stages[current].next_tier
        if current:
            problems.append(f"tiers form a cycle ({' → '.join(seen + [current])}): there is no top tier")
            break
    return problems
