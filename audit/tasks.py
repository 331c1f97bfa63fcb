from celery import shared_task

from .anchors import anchor_file_flush
from .anchors_s3 import anchor_s3_flush
from .partitions import partitions_ensure
from .services import audit_checkpoint_create


@shared_task(acks_late=True, max_retries=3, default_retry_delay=5, soft_time_limit=100, time_limit=120)
def audit_checkpoint_task():
    """Takes a checkpoint when one is due (time or event count), then appends
    every checkpoint the anchor file does not hold yet and stores those the
    S3 Object Lock bucket does not hold yet (each sink has its cursor; an S3
    failure is recorded on it and retried by the next run). Idempotent: a
    second run finds nothing due and nothing to append."""
    checkpoint = audit_checkpoint_create(force=False)
    anchor_file_flush()
    anchor_s3_flush()
    return checkpoint.number if checkpoint else None


@shared_task(acks_late=True, soft_time_limit=100, time_limit=120)
def audit_partitions_task():
    """Creates the audit event partitions of this month and the next two that
    are missing (PostgreSQL; idempotent; through a SECURITY DEFINER function,
    as the application role may not create tables). The default partition
    catches any event whose month has none, so a late run loses nothing."""
    return partitions_ensure(2)
