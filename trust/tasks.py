"""Celery task: files repeat-offender proposals left pending (trust.strikes)."""

from celery import shared_task

from reviews.tasks import RETRY

from . import strikes


@shared_task(**RETRY)
def file_pending_proposals_task():
    return strikes.proposals_file_pending()
