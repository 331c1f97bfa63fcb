"""Celery task for the transparency database submission (dsa/submission.py);
scheduled in settings.CELERY_BEAT_SCHEDULE. Safe to run twice or at once:
the tail moves its cursor by compare-and-swap and one sender holds the lock."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import notices, submission


@shared_task(acks_late=False, soft_time_limit=50, time_limit=60, autoretry_for=(OperationalError, InterfaceError),
             retry_backoff=True, retry_backoff_max=5, max_retries=2)
def dsa_notices_task():
    return notices.dispatch()


@shared_task(acks_late=False, soft_time_limit=110, time_limit=120, autoretry_for=(OperationalError, InterfaceError),
             retry_backoff=True, retry_backoff_max=5, max_retries=2)
def dsa_submission_task():
    return submission.tick()
