"""Helpers shared by the review services: locks, leases, who is a lead."""

from datetime import timedelta

from django.conf import settings

from cases.models import Case

from ..models import (
    Review,
    ReviewState,
)

ACTIVE = (ReviewState.OPEN, ReviewState.ON_HOLD)


def _lease(queue=None):
    seconds = getattr(queue, "lease_seconds", None) or settings.REVIEW_LEASE_SECONDS
    return timedelta(seconds=seconds)


def is_lead(user):
    return user.is_superuser or user.groups.filter(name__in=settings.REVIEW_LEAD_GROUPS).exists()


def _lock_case(case_id):
    return Case.objects.select_for_update().get(pk=case_id)


def _active_review(case_id, *, lock=True):
    qs = Review.objects.filter(case_id=case_id, state__in=ACTIVE).select_related("stage__version", "case")
    if lock:
        qs = qs.select_for_update(of=("self",))
    return qs.first()
