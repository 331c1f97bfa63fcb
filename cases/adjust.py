"""Adjustments to a case made outside intake and the review process (a rule's
effect): each locks the case, writes and records one audit event."""

from typing import Any

from django.db import transaction
from django.utils import timezone

import audit
from audit.context import Actor
from audit.services import case_stream

from .models import Case
from .priority import PRIORITY_MAX, PRIORITY_MIN


def case_priority_set(*, case_id: Any, priority: int, actor: Actor, reason: str) -> tuple[int, int]:
    """Sets the case's priority (clamped to the formula's range). Returns
    (before, after); records "case.priority_changed" only when it changed.
    The next report recomputes the priority from the formula."""
    priority = max(PRIORITY_MIN, min(PRIORITY_MAX, int(priority)))
    with transaction.atomic():
        before = Case.objects.select_for_update().filter(pk=case_id).values_list("priority", flat=True).get()
        if before == priority:
            return before, before
        Case.objects.filter(pk=case_id).update(priority=priority, updated_at=timezone.now())
        audit.record(stream=case_stream(case_id), action="case.priority_changed", actor=actor, target_type="case",
                     target_id=case_id, data={"priority": [before, priority], "reason": reason})
        return before, priority
