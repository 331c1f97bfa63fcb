"""Routing new cases to the first stage of their workflow (called by intake, inside its transaction)."""

from django.db import connection

from .. import sla
from .. import triggers as T
from ..models import (
    Review,
)
from ..workflows import choose_first_stage
from ._common import ACTIVE
from .lifecycle import review_build, reviews_open_many


def route_new_case(**kwargs):
    """Opens the first stage of the workflow chosen by the routing rules,
    with its SLA deadlines. Takes case_id, policy_id, queue_id,
    jurisdictions, priority, opened_at and reporter_kind. Returns audit data
    to merge into the case.opened event (one event per report keeps intake
    cheap), or {"workflow": None} when nothing matched."""
    return route_new_cases([kwargs])[0]


def route_new_cases(many):
    """route_new_case for many cases at once (batch intake): one insert."""
    reviews, results = [], []
    for kwargs in many:
        stage = choose_first_stage(policy_id=kwargs["policy_id"], queue_id=kwargs["queue_id"],
                                   jurisdictions=kwargs["jurisdictions"], priority=kwargs["priority"])
        if stage is None:
            results.append({"workflow": None})
            continue
        opened_at = kwargs["opened_at"]
        clock = sla.resolve(stage=stage, policy_id=kwargs["policy_id"], priority=kwargs["priority"],
                            reporter_kinds={kwargs.get("reporter_kind", "")})
        review = review_build(case_id=kwargs["case_id"], stage=stage, queue_id=kwargs["queue_id"],
                              priority=kwargs["priority"], case_opened_at=opened_at, clock=clock, now=opened_at)
        reviews.append(review)
        results.append({"workflow": stage.version.workflow.slug, "workflow_version": stage.version.number,
                        "stage": stage.key, "due_at": review.due_at.isoformat(), "trigger": T.ROUTING})
    reviews_open_many(reviews)
    return results


def sync_priority(*, case_id, priority):
    """Keeps the active review's copy of the case priority current (claim
    order). Intake holds the case row here, while votes, claims and sweeps
    lock the review first and the case second; so intake does not wait for a
    locked review (SKIP LOCKED) — that would be the one lock-order inversion.
    A skipped update is made good by the next report or stage change."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE reviews_review SET priority = %s WHERE id IN ("
                " SELECT id FROM reviews_review WHERE case_id = %s AND state IN ('open', 'on_hold')"
                " AND priority <> %s FOR UPDATE SKIP LOCKED)",
                [priority, case_id, priority],
            )
        return
    Review.objects.filter(case_id=case_id, state__in=ACTIVE).exclude(priority=priority).update(priority=priority)

