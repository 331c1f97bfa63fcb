"""Periodic work of the signals layer (scheduled in CELERY_BEAT_SCHEDULE)."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from .services import signals_retention_sweep


@shared_task(acks_late=True, autoretry_for=(OperationalError, InterfaceError), retry_backoff=True,
             retry_backoff_max=30, max_retries=3, soft_time_limit=300, time_limit=330)
def signals_retention_task() -> int:
    return signals_retention_sweep()
