"""Reads of the audit trail for people (the console's audit view)."""

from dataclasses import dataclass

from .models import AuditEvent
from .services import case_stream

PAGE_SIZE = 50


@dataclass(frozen=True)
class EventPage:
    events: list
    next_cursor: int | None  # pass as `before` for the next (older) page


def audit_event_search(*, case_id=None, actor_name="", action="", since=None, until=None, before=None,
                       page_size=PAGE_SIZE, hidden_streams=None):
    """Audit events matching every given filter, newest first, one page of
    `page_size`. Keyset pagination on id (`before` = the last id of the
    previous page), so every page is one query whatever its depth.

    `actor_name` matches exactly (it is the recorded username or client
    name); `since` is inclusive, `until` exclusive. `hidden_streams` (a
    subquery of stream names, e.g. the streams of the cases a user may not
    see: cases.visibility.hidden_case_streams) leaves those streams out;
    the audit layer does not know who may see what, its caller does."""
    events = AuditEvent.objects.all()
    if hidden_streams is not None:
        events = events.exclude(stream__in=hidden_streams)
    if case_id is not None:
        events = events.filter(stream=case_stream(case_id))
    if actor_name:
        events = events.filter(actor_name=actor_name)
    if action:
        events = events.filter(action=action)
    if since is not None:
        events = events.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lt=until)
    if before is not None:
        events = events.filter(pk__lt=before)
    rows = list(events.order_by("-pk")[: page_size + 1])
    more = len(rows) > page_size
    rows = rows[:page_size]
    return EventPage(events=rows, next_cursor=rows[-1].pk if more else None)


def audit_head():
    """The latest checkpoint (what platforms fetch and keep as witnesses), or None."""
    from .models import AuditCheckpoint

    return AuditCheckpoint.objects.order_by("-number").first()
