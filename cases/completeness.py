"""verify_audit's completeness check for cases: every case has an audit
stream, and it starts with `case.opened` (registered in CasesConfig.ready)."""

from collections.abc import Iterator

from audit.models import AuditEvent
from audit.services import case_stream
from audit.verify import Problem

from .models import Case


def cases_have_streams(chunk_size: int) -> Iterator[Problem]:
    batch = []
    for case_id in Case.objects.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=chunk_size):
        batch.append(case_id)
        if len(batch) >= chunk_size:
            yield from _check(batch)
            batch = []
    yield from _check(batch)


def _check(case_ids) -> Iterator[Problem]:
    if not case_ids:
        return
    streams = {case_stream(c): c for c in case_ids}
    first = dict(AuditEvent.objects.filter(stream__in=list(streams), seq=1).values_list("stream", "action"))
    for stream, case_id in streams.items():
        action = first.get(stream)
        if action is None:
            yield Problem(f"case {case_id} exists but its audit stream has no first event: the stream was removed",
                          stream=stream, seq=1)
        elif action != "case.opened":
            yield Problem(f"case {case_id}'s audit stream starts with {action!r}, not case.opened", stream=stream, seq=1)
