"""The audit log as transactional outbox, tailed into webhook deliveries.

Every change writes its audit event in its own transaction, so an event
exists exactly when its change committed. The dispatcher reads the events
after a cursor per endpoint and creates one WebhookDelivery per subscribed
event; lower layers import nothing to "send" anything.

The watermark and the (xid, id) order live in audit.tail, which the DSA
submission (dsa/submission.py) tails the same way. Why not `id > cursor`: ids come from a sequence and are taken when a row is
inserted, but rows become visible when their transaction commits, in
another order. A reader that has seen id 12 may later see id 11 commit, and
a plain id cursor would skip it for good. So every event carries the id of
the transaction that wrote it (AuditEvent.xid, a column default), and the
dispatcher reads in (xid, id) order only the events below a watermark W
with this property: every transaction of this database with an xid below W
has ended, so every event with xid < W that will ever exist is visible now,
and any event that becomes visible later has xid >= W and sorts after the
cursor. (A transaction gets its xid before it writes anything, and keeps
it; it cannot commit a row with a smaller xid later.)

W is the snapshot's xmin, sharpened: PostgreSQL transaction ids are
cluster-wide, so a long transaction in *another* database of the cluster
would hold xmin back without ever writing here. W therefore skips the
in-progress transactions that belong to other databases (see watermark()).
On SQLite, which runs one writer at a time (IMMEDIATE transactions), ids
commit in order and the id alone is the cursor (xid is 0).
"""

import logging
import time
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.tail import after as _after
from audit.tail import watermark
from cases.models import Case

from ..models import DeliveryState, EndpointPurpose, WebhookDelivery, WebhookEndpoint, WebhookEvent
from . import events

log = logging.getLogger(__name__)

def initial_cursor():
    """Where a new (or re-activated) endpoint starts: at the present, so it
    receives what happens from now on, not the history."""
    mark = watermark()
    if mark is not None:
        return mark, 0
    last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    return 0, last or 0


_ROW_FIELDS = ("id", "xid", "stream", "seq", "action", "data", "target_id", "created_at")


def dispatch(*, batch_size=None, max_seconds=10.0):
    """One pass of the tail: turns the settled audit events after each
    active, unpaused endpoint's cursor into deliveries and moves the cursor.
    Returns the ids of the endpoints that got new deliveries.

    Endpoints at the same cursor (the usual case: all caught up) share one
    read of the log. Each endpoint's deliveries and cursor move are written
    in one transaction under its row lock, with a compare-and-swap on the cursor and the
    subscription it read: two dispatchers never create an event twice (the
    delivery is also unique per endpoint and event), and a dispatcher killed
    half-way leaves the cursor where its last commit put it."""
    batch_size = batch_size or settings.WEBHOOK_DISPATCH_BATCH
    mark = watermark()
    endpoints = list(WebhookEndpoint.objects.filter(active=True, paused_at__isnull=True, purpose=EndpointPurpose.WEBHOOK)
                     .values("id", "source_id", "event_types", "cursor_xid", "cursor_event_id"))
    groups = defaultdict(list)
    for endpoint in endpoints:
        groups[(endpoint["cursor_xid"], endpoint["cursor_event_id"])].append(endpoint)
    touched = set()
    started = time.monotonic()
    for cursor, group in groups.items():
        touched |= _dispatch_group(cursor, group, mark, batch_size, started + max_seconds)
    return touched


def _dispatch_group(cursor, group, mark, batch_size, deadline):
    touched = set()
    while group:
        actions = events.audit_actions({t for e in group for t in e["event_types"]})
        rows = []
        if actions:
            query = AuditEvent.objects.filter(_after(*cursor), action__in=actions)
            if mark is not None:
                query = query.filter(xid__lt=mark)
            rows = list(query.order_by("xid", "id").values(*_ROW_FIELDS)[:batch_size])
        complete = len(rows) < batch_size
        if complete and mark is not None:
            new_cursor = max((mark, 0), cursor)  # never back (a fallback watermark can be lower than the last one)
        elif rows:
            new_cursor = (rows[-1]["xid"], rows[-1]["id"])
        else:
            new_cursor = cursor
        types, wanted = _wanted(rows, group)
        event_ids = _webhook_events(rows, types, wanted)
        still = []
        for endpoint in group:
            if _advance(endpoint, cursor, new_cursor, [event_ids[a] for a in wanted[endpoint["id"]] if a in event_ids]):
                if wanted[endpoint["id"]]:
                    touched.add(endpoint["id"])
                endpoint["cursor_xid"], endpoint["cursor_event_id"] = new_cursor
                still.append(endpoint)
        group, cursor = still, new_cursor
        if complete or time.monotonic() > deadline:
            break
    return touched


def _wanted(rows, group):
    """The webhook type of each row that is a webhook event ({audit event
    id: type}), and {endpoint id: [audit event ids it subscribed to]}."""
    types = events.classify(rows)
    case_ids = {events.case_id_of(r["stream"]) for r in rows if r["id"] in types}
    sources = {str(pk): source for pk, source in Case.objects.filter(pk__in=case_ids).values_list("pk", "source_id")}
    by_source = defaultdict(list)  # in log order
    for r in rows:
        if r["id"] in types:
            by_source[sources.get(events.case_id_of(r["stream"]))].append((r["id"], types[r["id"]]))
    wanted = {}
    for endpoint in group:
        subscribed = set(endpoint["event_types"])
        wanted[endpoint["id"]] = [a for a, kind in by_source.get(endpoint["source_id"], ()) if kind in subscribed]
    return types, wanted


def _webhook_events(rows, types, wanted):
    """{audit event id: (webhook event id, stream, seq)} for every wanted
    event, rendering (and storing) the ones not rendered yet."""
    needed = {a for ids in wanted.values() for a in ids}
    if not needed:
        return {}
    found = {a: (pk, stream, seq) for pk, a, stream, seq in
             WebhookEvent.objects.filter(audit_event_id__in=needed).values_list("pk", "audit_event_id", "stream", "seq")}
    missing = needed - set(found)
    if missing:
        subset = [r for r in rows if r["id"] in missing]
        bodies = events.render(subset, types)
        WebhookEvent.objects.bulk_create([
            WebhookEvent(public_id=events.public_id(r["id"]), audit_event_id=r["id"], type=types[r["id"]],
                         case_id=events.case_id_of(r["stream"]), stream=r["stream"], seq=r["seq"],
                         body=bodies[r["id"]].decode("utf-8"), created_at=r["created_at"])
            for r in subset
        ], ignore_conflicts=True)
        found.update({a: (pk, stream, seq) for pk, a, stream, seq in
                      WebhookEvent.objects.filter(audit_event_id__in=missing).values_list("pk", "audit_event_id", "stream",
                                                                                       "seq")})
    return found


def _advance(endpoint, cursor, new_cursor, event_rows):
    """Creates the endpoint's deliveries and moves its cursor, if nobody
    else moved it (or changed what it subscribes to) meanwhile."""
    now = timezone.now()
    with transaction.atomic():
        # Waits (briefly) for a sender's short write on the row rather than skipping the endpoint until
        # the next tick; a concurrent dispatcher then finds the cursor moved and leaves it.
        locked = (WebhookEndpoint.objects.select_for_update()
                  .filter(pk=endpoint["id"], active=True, paused_at__isnull=True, cursor_xid=cursor[0],
                          cursor_event_id=cursor[1], event_types=endpoint["event_types"])
                  .values_list("pk", flat=True).first())
        if locked is None:
            return False
        if event_rows:
            WebhookDelivery.objects.bulk_create([
                WebhookDelivery(endpoint_id=endpoint["id"], event_id=pk, stream=stream, seq=seq,
                                state=DeliveryState.PENDING, next_attempt_at=now, created_at=now)
                for pk, stream, seq in event_rows
            ], ignore_conflicts=True)
        if new_cursor != cursor:
            WebhookEndpoint.objects.filter(pk=endpoint["id"]).update(cursor_xid=new_cursor[0],
                                                                      cursor_event_id=new_cursor[1])
    return True
