"""Tailing the audit log as a transactional outbox: the watermark below
which every event that will ever exist is visible, and the (xid, id) order.
Used by the webhook dispatcher (integrations.webhooks.outbox, whose module
docstring explains the reasoning) and the DSA submission (dsa.submission)."""

from django.db import connection
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL

_XID_MASK = 0xFFFFFFFF

# Runs first: the xids of the running transactions of this database (backends and prepared
# transactions), and a bound below which every xid was assigned before they were read.
_OURS_SQL = """
SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint,
       ARRAY(SELECT backend_xid::text::bigint FROM pg_stat_activity
             WHERE datname = current_database() AND backend_xid IS NOT NULL
             UNION ALL
             SELECT transaction::text::bigint FROM pg_prepared_xacts WHERE database = current_database()),
       (SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND query = '<insufficient privilege>')
"""
# Runs second, in a new snapshot.
_SNAPSHOT_SQL = """
SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint,
       ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(s) AS x)
FROM pg_current_snapshot() AS s
"""


def watermark():
    """W for the tail (see the module docstring); None on SQLite.

    Statement 1 reads `ours` (xids of this database's running transactions)
    and `bound` (the xmax of its own snapshot: every xid below it was
    assigned before `ours` was read). Statement 2 takes snapshot S. A
    transaction x that S counts as running, with x < bound and x not in
    `ours`, was running when `ours` was read and is not ours: it can never
    write an audit event here and is skipped. So W = the smallest of xmax(S),
    `bound` and the running xids of S that are ours; never below xmin(S),
    under which everything has ended. Inside a transaction block (a single
    snapshot) or when another role's sessions hide their xids, W = xmin(S).
    """
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        if connection.in_atomic_block:
            cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            return cursor.fetchone()[0]
        cursor.execute(_OURS_SQL)
        bound, ours, hidden = cursor.fetchone()
        cursor.execute(_SNAPSHOT_SQL)
        xmin, xmax, running = cursor.fetchone()
    if hidden:
        return xmin
    ours = {x & _XID_MASK for x in ours}
    mark = min(xmax, bound)
    for x in running:
        if (x & _XID_MASK) in ours:
            mark = min(mark, x)
    return max(mark, xmin)



def after(cursor_xid, cursor_id):
    return RawSQL("(audit_auditevent.xid, audit_auditevent.id) > (%s, %s)", (cursor_xid, cursor_id), output_field=BooleanField())


def settled_batch(*, cursor: tuple[int, int], mark: int | None, actions, batch_size: int, fields, **filters):
    """The next settled events with `actions` after `cursor`, in (xid, id)
    order: (rows as dicts of `fields`, the cursor to move to, whether the
    tail is complete up to the watermark). `mark` is watermark(), taken once
    per pass; on SQLite (None) ids alone order the log."""
    from .models import AuditEvent

    query = AuditEvent.objects.filter(after(*cursor), action__in=list(actions), **filters)
    if mark is not None:
        query = query.filter(xid__lt=mark)
    rows = list(query.order_by("xid", "id").values("id", "xid", *fields)[:batch_size])
    complete = len(rows) < batch_size
    if complete and mark is not None:
        new_cursor = max((mark, 0), tuple(cursor))  # never back: a fallback watermark can be lower than the last one
    elif rows:
        new_cursor = (rows[-1]["xid"], rows[-1]["id"])
    else:
        new_cursor = tuple(cursor)
    return rows, new_cursor, complete
