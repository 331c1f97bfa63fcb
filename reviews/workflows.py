"""Workflow definitions: validation before publishing, publishing, drafts,
routing of new cases, and the default workflows."""

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

import audit
from audit.services import CONFIG_STREAM

from .errors import WorkflowInvalid
from .models import DECIDE, RAISE_PRIORITY, Outcome, RoutingRule, Stage, StageKind, VersionState, Workflow, WorkflowVersion
from .tiers import tier_problems


def definition_of(version):
    """A plain, comparable description of a version (for audit diffs)."""
    stages = []
    for s in version.stages.select_related("group").prefetch_related("allowed_outcomes").order_by("position", "key"):
        stages.append({
            "key": s.key, "name": s.name, "kind": s.kind, "group": s.group.name, "seats": s.seats,
            "quorum": s.quorum, "blind": s.blind, "outcomes": sorted(o.code for o in s.allowed_outcomes.all()),
            "sla_seconds": s.sla_seconds, "on_consensus": s.on_consensus, "on_split": s.on_split,
            "on_timeout": s.on_timeout, "exclude_earlier_reviewers": s.exclude_earlier_reviewers,
            "next_tier": s.next_tier,
        })
    return {
        "first_stage": version.first_stage_key, "approval_stage": version.approval_stage_key,
        "escalation_stage": version.escalation_stage_key, "appeal_stage": version.appeal_stage_key,
        "final_appeal_stage": version.final_appeal_stage_key, "stages": stages,
    }


def version_problems(version):
    """Everything that could leave a case stuck on this version; empty when
    it is safe to publish."""
    problems = []
    stages = {s.key: s for s in version.stages.select_related("group").prefetch_related("allowed_outcomes")}
    if not stages:
        return ["the version has no stages"]
    if version.first_stage_key not in stages:
        problems.append(f"first stage {version.first_stage_key!r} is not a stage of this version")
    for label, key, kind in (("approval", version.approval_stage_key, StageKind.APPROVAL),
                             ("escalation", version.escalation_stage_key, None),
                             ("appeal", version.appeal_stage_key, StageKind.APPEAL),
                             ("final appeal", version.final_appeal_stage_key, StageKind.APPEAL)):
        if key and key not in stages:
            problems.append(f"{label} stage {key!r} is not a stage of this version")
        elif key and kind and stages[key].kind != kind:
            problems.append(f"{label} stage {key!r} must be of kind {kind}")

    if version.final_appeal_stage_key and version.final_appeal_stage_key == version.appeal_stage_key:
        problems.append("the final appeal stage must differ from the appeal stage (a second appeal goes to a higher "
                        "tier)")
    problems.extend(tier_problems(stages))

    needs_approval = False
    for key, s in stages.items():
        where = f"stage {key!r}"
        if not 1 <= s.quorum <= s.seats:
            problems.append(f"{where}: M={s.quorum} must be between 1 and N={s.seats}")
        members = s.group.user_set.filter(is_active=True).count()
        if members == 0:
            problems.append(f"{where}: group {s.group.name!r} has no active members")
        elif members < s.seats:
            # N, not M: with fewer people than seats a split can never be settled by the missing votes,
            # and a 1-1 vote on 2 of 3 waits out its SLA.
            problems.append(f"{where}: group {s.group.name!r} has {members} active member(s), "
                            f"fewer than N={s.seats} seats")
        outcomes = list(s.allowed_outcomes.all())
        if s.kind != StageKind.APPROVAL and not outcomes:
            problems.append(f"{where}: no allowed outcomes")
        if s.kind != StageKind.APPROVAL and any(o.requires_approval for o in outcomes):
            needs_approval = True
        for label, target, allow_decide in (("on consensus", s.on_consensus, True), ("on split", s.on_split, False),
                                            ("on timeout", s.on_timeout, False)):
            if label == "on timeout" and target == RAISE_PRIORITY:
                continue
            if target and target != DECIDE and target not in stages:
                problems.append(f"{where}: {label} target {target!r} is not a stage of this version")
            if target == DECIDE and not allow_decide:
                problems.append(f"{where}: {label} must name a stage (there is no result to decide)")
        timeout_stage = stages.get(s.on_timeout)
        if timeout_stage is not None and timeout_stage.kind == StageKind.APPROVAL:
            problems.append(f"{where}: on timeout cannot go to an approval stage (there is no result to approve)")
        can_split = s.quorum > 1 or s.kind == StageKind.APPROVAL
        if can_split and not s.on_split:
            problems.append(f"{where}: M={s.quorum} of N={s.seats} can split (or be rejected) but has no split target")
        if not s.on_consensus:
            problems.append(f"{where}: no consensus target")
    if needs_approval and not version.approval_stage_key:
        problems.append("an allowed outcome requires approval but the version has no approval stage")
    if problems:
        return problems

    # Every stage reachable from the first must be able to reach a decision.
    def edges(s):
        out = [t for t in (s.on_consensus, s.on_split, s.on_timeout) if t and t != RAISE_PRIORITY]
        if s.kind != StageKind.APPROVAL and any(o.requires_approval for o in s.allowed_outcomes.all()):
            out.append(version.approval_stage_key)
        return out

    reach_decide = set()
    changed = True
    while changed:
        changed = False
        for key, s in stages.items():
            if key not in reach_decide and any(t == DECIDE or t in reach_decide for t in edges(s)):
                reach_decide.add(key)
                changed = True
    reachable, todo = set(), [version.first_stage_key]
    for extra in (version.escalation_stage_key, version.appeal_stage_key, version.final_appeal_stage_key,
                  *(s.next_tier for s in stages.values())):
        if extra:
            todo.append(extra)
    while todo:
        key = todo.pop()
        if key in reachable or key == DECIDE:
            continue
        reachable.add(key)
        todo.extend(edges(stages[key]))
    for key in sorted(reachable - reach_decide):
        problems.append(f"stage {key!r} is in a cycle with no way out: no path from it leads to a decision")
    if version.first_stage_key not in reach_decide and not problems:
        problems.append("no decision path: the first stage never leads to a decision")
    return problems


def version_warnings(version) -> list[str]:
    """What publishing allows but an admin should know: a stage whose group
    has exactly N active members (one absence, or one member excluded as an
    earlier reviewer or the subject, stalls it until its SLA runs out)."""
    warnings = []
    for s in version.stages.select_related("group").order_by("position", "key"):
        members = s.group.user_set.filter(is_active=True).count()
        if members == s.seats:
            warnings.append(f"stage {s.key!r}: group {s.group.name!r} has exactly N={s.seats} active member(s); "
                            "one absence or exclusion stalls the stage")
    return warnings


def workflow_publish(*, version, actor):
    """Publishes a draft: validates it, makes it the version new cases get
    (cases already running keep theirs), audits the definition diff."""
    with transaction.atomic():
        workflow = Workflow.objects.select_for_update().get(pk=version.workflow_id)
        version = WorkflowVersion.objects.select_for_update().get(pk=version.pk)
        if version.state == VersionState.PUBLISHED and workflow.published_version_id == version.pk:
            return version
        if version.state != VersionState.DRAFT:
            raise WorkflowInvalid([f"version {version.number} is {version.state}; only a draft can be published"])
        problems = version_problems(version)
        if problems:
            raise WorkflowInvalid(problems)
        previous = workflow.published_version
        before = definition_of(previous) if previous else None
        if previous:
            previous.state = VersionState.SUPERSEDED
            previous.save(update_fields=["state"])
        version.state = VersionState.PUBLISHED
        version.published_at = timezone.now()
        version.save(update_fields=["state", "published_at"])
        workflow.published_version = version
        workflow.save(update_fields=["published_version"])
        after = definition_of(version)
        audit.record(stream=CONFIG_STREAM, action="workflow.published", actor=actor, target_type="workflow",
                     target_id=workflow.slug, data={"version": version.number, "before": before, "after": after,
                                                    "warnings": version_warnings(version)})
        transaction.on_commit(invalidate_routing_cache)
        return version


def workflow_draft_from(*, version, actor):
    """A new draft copying `version`; edit it, then publish it."""
    with transaction.atomic():
        workflow = Workflow.objects.select_for_update().get(pk=version.workflow_id)
        number = (workflow.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
        draft = WorkflowVersion.objects.create(
            workflow=workflow, number=number, first_stage_key=version.first_stage_key,
            approval_stage_key=version.approval_stage_key, escalation_stage_key=version.escalation_stage_key,
            appeal_stage_key=version.appeal_stage_key, final_appeal_stage_key=version.final_appeal_stage_key,
        )
        for s in version.stages.all():
            outcomes = list(s.allowed_outcomes.all())
            s.pk = None
            s.version = draft
            s.save()
            s.allowed_outcomes.set(outcomes)
        audit.record(stream=CONFIG_STREAM, action="workflow.draft_created", actor=actor, target_type="workflow",
                     target_id=workflow.slug, data={"version": number, "copied_from": version.number})
        return draft


# ---- routing -----------------------------------------------------------------

_routing = {"rules": None}


def invalidate_routing_cache():
    _routing["rules"] = None


def _rules():
    rules = _routing["rules"]
    if rules is None:
        rules = []
        for r in RoutingRule.objects.filter(active=True, workflow__published_version__isnull=False).select_related(
            "workflow__published_version"
        ).order_by("position", "id"):
            version = r.workflow.published_version
            first = version.stages.select_related("group").get(key=version.first_stage_key)
            rules.append((r.policy_id, r.queue_id, r.jurisdiction, r.min_priority, r.signal, version, first))
        _routing["rules"] = rules
    return rules


def choose_first_stage(*, policy_id, queue_id, jurisdictions, priority, signal_flags=()):
    """The first stage of the published version of the first matching rule,
    or None when no rule matches. Rules are cached until a publish or a
    routing-rule change in this process (other processes: see selectors)."""
    for rule_policy, rule_queue, rule_jurisdiction, min_priority, signal, _version, first in _rules():
        if rule_policy is not None and rule_policy != policy_id:
            continue
        if rule_queue is not None and rule_queue != queue_id:
            continue
        if rule_jurisdiction and rule_jurisdiction not in jurisdictions:
            continue
        if min_priority is not None and priority < min_priority:
            continue
        if signal and signal not in signal_flags:
            continue
        return first
    return None


# ---- defaults ----------------------------------------------------------------

DEFAULT_OUTCOMES = [
    # code, name, is_violation, requires_approval, time_limited
    ("no_violation", "No violation", False, False, False),
    ("label", "Label", True, False, False),
    ("restrict_visibility", "Restrict visibility", True, False, False),
    ("remove_content", "Remove content", True, False, False),
    ("suspend_account", "Suspend account", True, False, True),  # longer than 30 days: approval (see below)
    ("ban_account", "Ban account", True, True, False),
    ("refer_to_law_enforcement", "Refer to law enforcement", True, True, False),
]

# German names of the defaults (admins maintain these per language: Outcome/Stage.name_translations).
DEFAULT_OUTCOME_NAMES_DE = {
    "no_violation": "Kein Verstoß",
    "label": "Kennzeichnen",
    "restrict_visibility": "Sichtbarkeit einschränken",
    "remove_content": "Inhalt entfernen",
    "suspend_account": "Konto sperren (befristet)",
    "ban_account": "Konto dauerhaft sperren",
    "refer_to_law_enforcement": "An Strafverfolgung übergeben",
}
DEFAULT_STAGE_NAMES_DE = {
    "Review": "Prüfung",
    "Senior review": "Senior-Prüfung",
    "Approval (four eyes)": "Freigabe (Vier-Augen-Prinzip)",
    "Lead decision": "Entscheidung der Leitung",
    "Appeal review": "Prüfung des Einspruchs",
    "Senior appeal review": "Senior-Prüfung des Einspruchs",
}

GROUPS = ("moderator", "senior_moderator", "admin", "auditor")


# Time-limited outcomes longer than this many days need four eyes.
DEFAULT_APPROVAL_OVER_DAYS = {"suspend_account": 30}


def install_default_outcomes():
    for position, (code, name, violation, approval, limited) in enumerate(DEFAULT_OUTCOMES):
        Outcome.objects.get_or_create(code=code, defaults=dict(
            name=name, name_translations={"de": DEFAULT_OUTCOME_NAMES_DE[code]}, is_violation=violation,
            requires_approval=approval, time_limited=limited, position=position,
            approval_over_days=DEFAULT_APPROVAL_OVER_DAYS.get(code)))


def _stage(version, key, name, kind, group, seats, quorum, *, blind=True, sla_hours=24, on_consensus=DECIDE,
           on_split="", on_timeout="", exclude_earlier=None, next_tier="", position=0):
    if exclude_earlier is None:
        # a higher tier is a second opinion: nobody who already reviewed the case sits there
        exclude_earlier = kind == StageKind.ESCALATION
    stage = Stage.objects.create(
        version=version, key=key, name=name,
        name_translations={"de": DEFAULT_STAGE_NAMES_DE[name]} if name in DEFAULT_STAGE_NAMES_DE else {},
        kind=kind, group=group, seats=seats, quorum=quorum, blind=blind,
        sla_seconds=int(sla_hours * 3600), on_consensus=on_consensus, on_split=on_split, on_timeout=on_timeout,
        exclude_earlier_reviewers=exclude_earlier, next_tier=next_tier, position=position,
    )
    if kind != StageKind.APPROVAL:
        stage.allowed_outcomes.set(Outcome.objects.filter(active=True))
    return stage


def install_default_workflows(*, actor):
    """Outcomes, groups, and the workflows "Standard", "Child safety" and
    "Appeal" with their routing rules, each published (the groups need
    members first: publishing refuses a stage whose group is empty).
    Idempotent: a workflow that exists is left alone."""
    from cases.models import Policy

    install_default_outcomes()
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in GROUPS}
    mod, senior = groups["moderator"], groups["senior_moderator"]
    created = []
    with transaction.atomic():
        if not Workflow.objects.filter(slug="standard").exists():
            wf = Workflow.objects.create(slug="standard", name="Standard",
                                         description="2 of 3 blind review; tiers review → senior → lead")
            v = WorkflowVersion.objects.create(workflow=wf, number=1, first_stage_key="review",
                                               approval_stage_key="approval", escalation_stage_key="senior")
            _stage(v, "review", "Review", StageKind.REVIEW, mod, 3, 2, on_split="senior", on_timeout="senior",
                   next_tier="senior", position=0)
            _stage(v, "senior", "Senior review", StageKind.ESCALATION, senior, 1, 1, blind=False, sla_hours=8,
                   on_timeout="senior", next_tier="lead", position=1)
            _stage(v, "approval", "Approval (four eyes)", StageKind.APPROVAL, senior, 1, 1, blind=False, sla_hours=8,
                   on_split="senior", position=2)
            # the top tier: decides or holds; a senior who took part earlier never sits here
            _stage(v, "lead", "Lead review", StageKind.ESCALATION, senior, 1, 1, blind=False, sla_hours=8,
                   on_timeout=RAISE_PRIORITY, position=3)
            created.append(v)
        if not Workflow.objects.filter(slug="child-safety").exists():
            wf = Workflow.objects.create(slug="child-safety", name="Child safety",
                                         description="2 of 2 seniors, then approval")
            v = WorkflowVersion.objects.create(workflow=wf, number=1, first_stage_key="senior-review",
                                               approval_stage_key="approval", escalation_stage_key="lead")
            _stage(v, "senior-review", "Senior review", StageKind.REVIEW, senior, 2, 2, sla_hours=1,
                   on_consensus="approval", on_split="lead", on_timeout="lead", next_tier="lead", position=0)
            _stage(v, "approval", "Approval (four eyes)", StageKind.APPROVAL, senior, 1, 1, blind=False, sla_hours=1,
                   on_split="lead", position=1)
            _stage(v, "lead", "Lead decision", StageKind.ESCALATION, senior, 1, 1, blind=False, sla_hours=1,
                   on_consensus="approval", on_timeout="lead", exclude_earlier=True, position=2)
            created.append(v)
        if not Workflow.objects.filter(slug=settings.APPEAL_WORKFLOW_SLUG).exists():
            wf = Workflow.objects.create(slug=settings.APPEAL_WORKFLOW_SLUG, name="Appeal",
                                         description="2 of 3 fresh reviewers")
            v = WorkflowVersion.objects.create(workflow=wf, number=1, first_stage_key="appeal",
                                               appeal_stage_key="appeal", escalation_stage_key="appeal-senior",
                                               approval_stage_key="approval", final_appeal_stage_key="appeal-final")
            _stage(v, "appeal", "Appeal review", StageKind.APPEAL, mod, 3, 2, on_split="appeal-senior",
                   on_timeout="appeal-senior", exclude_earlier=True, next_tier="appeal-senior", position=0)
            _stage(v, "appeal-senior", "Senior appeal review", StageKind.ESCALATION, senior, 1, 1, blind=False,
                   sla_hours=8, exclude_earlier=True, on_timeout="appeal-senior", position=1)
            _stage(v, "approval", "Approval (four eyes)", StageKind.APPROVAL, senior, 1, 1, blind=False, sla_hours=8,
                   on_split="appeal-senior", position=2)
            # an appeal of an appeal decision: seniors who took no part so far; its decision is final (DSA Art. 21)
            _stage(v, "appeal-final", "Final appeal review", StageKind.APPEAL, senior, 1, 1, blind=False,
                   sla_hours=72, exclude_earlier=True, on_timeout=RAISE_PRIORITY, position=3)
            created.append(v)
        if not RoutingRule.objects.exists():
            child = Policy.objects.filter(code="child_safety").first()
            if child:
                RoutingRule.objects.create(position=10, workflow=Workflow.objects.get(slug="child-safety"), policy=child)
            RoutingRule.objects.create(position=1000, workflow=Workflow.objects.get(slug="standard"))
    for version in created:
        workflow_publish(version=version, actor=actor)
    invalidate_routing_cache()
    return created
