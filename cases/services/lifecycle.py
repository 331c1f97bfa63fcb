"""Case state changes outside intake: the transition table applied under the
case's row lock, audited."""

from django.db import transaction
from django.utils import timezone

import audit
from audit.services import case_stream

from ..models import Case, CaseState, Subject
from ..rereview import content_hash
from ..states import check_transition


def case_change_state(*, case_id, to_state, actor, reason="", trigger=""):
    """Moves a case to `to_state` if the transition table allows it.

    Locks the case; a repeated call that finds the case already there returns
    it unchanged and writes nothing. Raises TransitionNotAllowed otherwise."""
    with transaction.atomic(), audit.batch():
        case = Case.objects.select_for_update().get(pk=case_id)
        if not check_transition(case.state, to_state):
            return case
        before = case.state
        now = timezone.now()
        case.state = to_state
        case.updated_at = now
        fields = ["state", "updated_at"]
        if to_state == CaseState.CLOSED:
            case.closed_at = now
            fields.append("closed_at")
        if to_state == CaseState.DECIDED:
            # What the re-review rules compare later reports with (cases/rereview.py).
            text, media = Subject.objects.filter(pk=case.subject_id).values_list("latest_text", "latest_media").get()
            case.decided_at = now
            case.decided_severity = case.max_severity
            case.decided_content_hash = content_hash(text, media)
            case.post_decision_report_count = 0
            fields += ["decided_at", "decided_severity", "decided_content_hash", "post_decision_report_count"]
        case.save(update_fields=fields)
        audit.record(
            stream=case_stream(case.pk), action="case.state_changed", actor=actor, target_type="case",
            target_id=case.pk, data={"from": before, "to": to_state, "reason": reason, "trigger": trigger},
        )
        return case


def case_close(*, case_id, actor, reason="", trigger="close"):
    return case_change_state(case_id=case_id, to_state=CaseState.CLOSED, actor=actor, reason=reason, trigger=trigger)


