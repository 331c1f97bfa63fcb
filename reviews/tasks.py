"""Celery tasks for the periodic sweeps. They take no state, re-read
everything, and are safe to run twice or concurrently (see reviews.sweeps)."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import sweeps

RETRY = dict(
    # Only connection trouble is retried (a restarted database, a dropped
    # socket); a bug is not. The next beat tick is a retry anyway.
    acks_late=True, autoretry_for=(OperationalError, InterfaceError), retry_backoff=True,
    retry_backoff_max=30, retry_jitter=True, max_retries=3, soft_time_limit=50, time_limit=60,
)


@shared_task(**RETRY)
def sweep_warnings_task():
    return sweeps.sweep_warnings()


@shared_task(**RETRY)
def sweep_breaches_task():
    return sweeps.sweep_breaches()


@shared_task(**RETRY)
def sweep_leases_task():
    return sweeps.sweep_leases()


@shared_task(**RETRY)
def sweep_closures_task():
    from . import closing

    return closing.sweep_closures()
