from celery import shared_task

from .anchors import anchor_file_flush
from .services import audit_checkpoint_create


@shared_task(acks_late=True, max_retries=3, default_retry_delay=5, soft_time_limit=100, time_limit=120)
def audit_checkpoint_task():
    """Takes a checkpoint when one is due (time or event count), then appends
    every checkpoint the anchor file does not hold yet. Idempotent: a second
    run finds nothing due and nothing to append."""
    checkpoint = audit_checkpoint_create(force=False)
    anchor_file_flush()
    return checkpoint.number if checkpoint else None
