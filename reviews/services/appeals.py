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
    Stage,
    Workflow,
)
from ._common import _lock_case
from .lifecycle import review_open


def appeal_file(*, case_id, appellant_kind, statement, actor, appellant_external_id="", now=None):
    """Opens an appeal against the case's current decision, reviewed in the
    appeal stage by people who took no part in it. Refused outside the
    window (APPEAL_WINDOW_DAYS from the decision) or when one is open."""
    now = now or timezone.now()
    if not statement.strip():
        raise AppealRefused("an appeal needs the appellant's statement", field="statement")
    with transaction.atomic(), audit.batch():
        case = _lock_case(case_id)
        decision = Decision.objects.filter(case=case, is_current=True).select_related("review__stage__version").first()
        if decision is None:
            raise AppealRefused("the case has no decision to appeal")
        if case.state == CaseState.CLOSED:
            # A closed case cannot reopen (a new report about the subject opens a new case).
            raise AppealRefused("the case is closed; its decision can no longer be appealed here", code="case_closed")
        deadline = decision.decided_at + timedelta(days=settings.APPEAL_WINDOW_DAYS)
        if now > deadline:
            raise AppealRefused(f"the appeal window closed on {deadline.date().isoformat()} "
                                f"({settings.APPEAL_WINDOW_DAYS} days after the decision)", code="appeal_window_closed")
        if Appeal.objects.filter(decision=decision, state=AppealState.OPEN).exists():
            raise AppealRefused("an appeal of this decision is already open", code="appeal_already_open")
        stage = _appeal_stage(decision)
        appeal = Appeal.objects.create(case=case, decision=decision, appellant_kind=appellant_kind,
                                       appellant_external_id=appellant_external_id, statement=statement, opened_at=now)
        audit.record(stream=case_stream(case.pk), action="appeal.opened", actor=actor, target_type="appeal",
                     target_id=appeal.pk, data={"decision_id": str(decision.pk), "appellant_kind": appellant_kind,
                                                     "trigger": T.APPEAL})
        case_change_state(case_id=case.pk, to_state=CaseState.IN_REVIEW, actor=actor, reason="appeal",
                          trigger=T.APPEAL)
        case.refresh_from_db()
        review_open(case=case, stage=stage, actor=actor, now=now, appeal=appeal, reason="appeal", trigger=T.APPEAL)
        return appeal


def _appeal_stage(decision):
    version = decision.review.stage.version if decision.review else None
    if version is not None and version.appeal_stage_key:
        return version.stages.get(key=version.appeal_stage_key)
    workflow = Workflow.objects.filter(slug=settings.APPEAL_WORKFLOW_SLUG).select_related("published_version").first()
    if workflow is None or workflow.published_version is None:
        raise AppealRefused("no appeal workflow is published")
    version = workflow.published_version
    return Stage.objects.get(version=version, key=version.appeal_stage_key or version.first_stage_key)

