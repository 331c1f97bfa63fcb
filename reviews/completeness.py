"""verify_audit's completeness check for decisions: every decision has its
`decision.made` / `decision.reversed` event in its case's stream (registered
in ReviewsConfig.ready)."""

from collections.abc import Iterator

from audit.models import AuditEvent
from audit.services import case_stream
from audit.verify import Problem

from .models import Decision

_ACTIONS = ("decision.made", "decision.reversed")


def decisions_have_events(chunk_size: int) -> Iterator[Problem]:
    batch = []
    for row in Decision.objects.order_by("sequence").values_list("pk", "case_id").iterator(chunk_size=chunk_size):
        batch.append(row)
        if len(batch) >= chunk_size:
            yield from _check(batch)
            batch = []
    yield from _check(batch)


def _check(rows) -> Iterator[Problem]:
    if not rows:
        return
    recorded = set(AuditEvent.objects.filter(stream__in={case_stream(c) for _d, c in rows}, action__in=_ACTIONS,
                                             target_type="decision").values_list("target_id", flat=True))
    for decision_id, case_id in rows:
        if str(decision_id) not in recorded:
            yield Problem(f"decision {decision_id} exists but has no decision event: it was removed",
                          stream=case_stream(case_id))
