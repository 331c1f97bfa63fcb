"""Appeals against a case's current decision."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

import audit
from audit.services import case_stream
from cases.models import CaseState
from cases.services import case_change_state

from .. import triggers as T
from ..errors import AppealRefused
from ..models import (
    Appeal,
    AppealState,
    Decision,
    DecisionKind,
    Stage,
    Workflow,
)
from ._common import _lock_case
from .lifecycle import review_open

_APPEAL_KINDS = (DecisionKind.APPEAL_UPHELD, DecisionKind.APPEAL_OVERTURNED, DecisionKind.APPEAL_MODIFIED)


def original_decision(decision: Decision) -> Decision:
    """The decision an appeal chain started from: appeal decisions are walked
    back through `supersedes` to the first decision that was not one."""
    seen = set()
    while decision.kind in _APPEAL_KINDS and decision.supersedes_id and decision.pk not in seen:
        seen.add(decision.pk)
        decision = Decision.objects.select_related("supersedes").get(pk=decision.supersedes_id)
    return decision


def appeal_file(*, case_id, appellant_kind, statement, actor, appellant_external_id="", now=None) -> Appeal:
    """Opens an appeal against the case's current decision, reviewed in the
    appeal stage by people who took no part in it.

    Refused (AppealRefused, a 409 with its code) outside the window
    (APPEAL_WINDOW_DAYS counted from the original decision, not from an
    appeal decision), when an appeal is open, when the same appellant has
    used their APPEALS_PER_APPELLANT appeals of this decision, and when the
    decision came from the final appeal tier (or there is none to go to):
    appeals have an end, then only out-of-court dispute settlement remains.
    An appeal of an appeal decision goes only to the final appeal tier."""
    now = now or timezone.now()
    if not statement.strip():
        raise AppealRefused("an appeal needs the appellant's statement", field="statement")
    with transaction.atomic(), audit.batch():
        case = _lock_case(case_id)  # serialises appeals of one case: the limits below cannot race
        decision = Decision.objects.filter(case=case, is_current=True).select_related("review__stage__version").first()
        if decision is None:
            raise AppealRefused("the case has no decision to appeal")
        if case.state == CaseState.CLOSED:
            # A closed case cannot reopen (a new report about the subject opens a new case).
            raise AppealRefused("the case is closed; its decision can no longer be appealed here", code="case_closed")
        if decision.appeals_exhausted:
            raise AppealRefused("this decision was taken in the final appeal tier; no further appeal is possible. "
                                "It can be referred to a certified out-of-court dispute settlement body (DSA Art. 21)",
                                code="appeals_exhausted")
        original = original_decision(decision)
        deadline = original.decided_at + timedelta(days=settings.APPEAL_WINDOW_DAYS)
        if now > deadline:
            raise AppealRefused(f"the appeal window closed on {deadline.date().isoformat()} "
                                f"({settings.APPEAL_WINDOW_DAYS} days after the original decision)",
                                code="appeal_window_closed")
        if Appeal.objects.filter(decision=decision, state=AppealState.OPEN).exists():
            raise AppealRefused("an appeal of this decision is already open", code="appeal_already_open")
        used = Appeal.objects.filter(decision=decision, appellant_kind=appellant_kind,
                                     appellant_external_id=appellant_external_id).count()
        if used >= settings.APPEALS_PER_APPELLANT:
            raise AppealRefused(f"this appellant has already appealed this decision ({used} of "
                                f"{settings.APPEALS_PER_APPELLANT} allowed)", code="appeal_limit_reached")
        level = 2 if decision.kind in _APPEAL_KINDS else 1
        stage = _appeal_stage(decision) if level == 1 else _final_appeal_stage(decision)
        appeal = Appeal.objects.create(case=case, decision=decision, appellant_kind=appellant_kind,
                                       appellant_external_id=appellant_external_id, statement=statement, opened_at=now,
                                       level=level)
        audit.record(stream=case_stream(case.pk), action="appeal.opened", actor=actor, target_type="appeal",
                     target_id=appeal.pk, data={"decision_id": str(decision.pk), "appellant_kind": appellant_kind,
                                                "level": level, "stage": stage.key, "trigger": T.APPEAL})
        case_change_state(case_id=case.pk, to_state=CaseState.IN_REVIEW, actor=actor, reason="appeal",
                          trigger=T.APPEAL)
        case.refresh_from_db()
        review_open(case=case, stage=stage, actor=actor, now=now, appeal=appeal, trigger=T.APPEAL,
                    reason="appeal" if level == 1 else "appeal of an appeal decision (final tier)")
        return appeal


def _appeal_workflow_version():
    workflow = Workflow.objects.filter(slug=settings.APPEAL_WORKFLOW_SLUG).select_related("published_version").first()
    if workflow is None or workflow.published_version is None:
        raise AppealRefused("no appeal workflow is published")
    return workflow.published_version


def _appeal_stage(decision):
    version = decision.review.stage.version if decision.review else None
    if version is not None and version.appeal_stage_key:
        return version.stages.get(key=version.appeal_stage_key)
    version = _appeal_workflow_version()
    return Stage.objects.get(version=version, key=version.appeal_stage_key or version.first_stage_key)


def _final_appeal_stage(decision):
    """The final appeal tier for an appeal of `decision` (itself an appeal
    decision): the deciding version's, else the appeal workflow's."""
    version = decision.review.stage.version if decision.review else None
    if version is None or not version.final_appeal_stage_key:
        version = _appeal_workflow_version()
    if not version.final_appeal_stage_key:
        raise AppealRefused("this decision was already reviewed on appeal and no final appeal tier is configured; it "
                            "can be referred to a certified out-of-court dispute settlement body (DSA Art. 21)",
                            code="appeals_exhausted")
    return version.stages.get(key=version.final_appeal_stage_key)
