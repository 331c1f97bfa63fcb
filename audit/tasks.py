from celery import shared_task

from .services import audit_checkpoint_create


@shared_task(acks_late=True, max_retries=3, default_retry_delay=5, soft_time_limit=100, time_limit=120)
def audit_checkpoint_task():
    checkpoint = audit_checkpoint_create()
    return checkpoint.number if checkpoint else None
