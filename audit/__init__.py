"""Append-only, hash-chained audit trail.

`audit.record(...)` is the only way to write an event; services call it inside
their own transaction so the event commits or rolls back with the change.
"""


def record(**kwargs):
    from .services import audit_record

    return audit_record(**kwargs)


def batch(known_heads=None):
    """See audit.services.audit_batch."""
    from .services import audit_batch

    return audit_batch(known_heads=known_heads)
