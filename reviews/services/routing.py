"""Routing new cases to the first stage of their workflow (called by intake, inside its transaction)."""

from datetime import datetime

from django.db import connection

import audit
from audit.context import Actor
from audit.services import case_stream
from cases.models import Case

from .. import sla
from .. import triggers as T
from ..models import Decision, Review, ReviewState, Seat, SeatState, Stage
from ..workflows import choose_first_stage
from ._common import ACTIVE
from .lifecycle import review_build, review_close, review_opened_data, reviews_open_many

ROUTING = Actor.system("routing")


def route_new_case(**kwargs):
    """Opens the first stage of the workflow chosen by the routing rules,
    with its SLA deadlines. Takes case_id, policy_id, queue_id,
    jurisdictions, priority, opened_at and reporter_kind. Returns audit data
    to merge into the case.opened event (one event per report keeps intake
    cheap), or {"workflow": None} when nothing matched."""
    return route_new_cases([kwargs])[0]


def route_new_cases(many):
    """route_new_case for many cases at once: one insert."""
    results, reviews = route_plan(many)
    reviews_open_many(reviews)
    return results


def route_plan(many):
    """What route_new_cases does, without writing: (audit data per case,
    the unsaved first-stage reviews). Intake inserts the reviews in the same
    statement as its reports and audit events (cases.services.intake)."""
    reviews, results = [], []
    for kwargs in many:
        stage = choose_first_stage(policy_id=kwargs["policy_id"], queue_id=kwargs["queue_id"],
                                   jurisdictions=kwargs["jurisdictions"], priority=kwargs["priority"],
                                   signal_flags=kwargs.get("signal_flags", ()))
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
    return results, reviews


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



# ---- later rounds: re-routing an open case, re-opening a decided one -------------------------------------

REROUTED = T.REROUTED
REREVIEW = T.REREVIEW


def _open_round(*, case_id: object, stage: Stage, policy_id: int, queue_id: int, priority: int, now: datetime,
                reporter_kind: str, actor: Actor, reason: str, trigger: str,
                follows_decision_id: object = None) -> tuple[Review, datetime]:
    """Opens the first stage of a workflow on an existing case, with a fresh SLA."""
    case_opened_at = Case.objects.filter(pk=case_id).values_list("opened_at", flat=True).get()
    clock = sla.resolve(stage=stage, policy_id=policy_id, priority=priority, reporter_kinds={reporter_kind})
    review = review_build(case_id=case_id, stage=stage, queue_id=queue_id, priority=priority,
                          case_opened_at=case_opened_at, clock=clock, now=now)
    review.follows_decision_id = follows_decision_id
    review.save(force_insert=True)
    audit.record(stream=case_stream(case_id), action="review.opened", actor=actor, target_type="review",
                 target_id=review.pk, data={**review_opened_data(review, trigger=trigger, reason=reason),
                                            "workflow": stage.version.workflow.slug,
                                            "follows_decision": str(follows_decision_id) if follows_decision_id
                                            else None})
    due_at = review.due_at
    return review, due_at


def case_reroute(*, case_id: object, policy_id: int, queue_id: int, jurisdictions, priority: int, now: datetime,
                 reporter_kind: str, actor: Actor = ROUTING) -> dict | None:
    """Moves an open case to the workflow that a more severe policy routes to
    (intake calls it, holding the case row, for a report more severe than any
    before on the case: never a downgrade). The current review closes as
    superseded (cancelled, trigger "rerouted"); its claimed seats are released
    with a notice to each holder; votes stay in the audit trail; the new
    round's SLA starts now. Returns audit data, or None when the case stays
    (same workflow, no matching rule, or an appeal under review)."""
    # NOWAIT: a vote or claim locks the review before the case, intake the case before the review; rather
    # than wait in the opposite order, intake fails fast (55P03) and reviews.intake retries it.
    active = (Review.objects.filter(case_id=case_id, state__in=ACTIVE)
              .select_related("stage__version__workflow").select_for_update(of=("self",), nowait=True).first())
    if active is not None and active.appeal_id is not None:
        return None  # an appeal is judged where it is; the new report is on the case for it to see
    stage = choose_first_stage(policy_id=policy_id, queue_id=queue_id, jurisdictions=jurisdictions, priority=priority)
    if stage is None:
        return None
    if active is not None and active.stage.version.workflow_id == stage.version.workflow_id:
        return None
    data = {"trigger": REROUTED, "from_workflow": active.stage.version.workflow.slug if active else None,
            "to_workflow": stage.version.workflow.slug, "superseded_review": str(active.pk) if active else None,
            "released": []}
    if active is not None:
        holders = list(Seat.objects.filter(review=active, state=SeatState.CLAIMED).select_related("moderator"))
        review_close(active, state=ReviewState.CANCELLED, now=now,
                     reason=f"superseded: re-routed to workflow {stage.version.workflow.slug}")
        for seat in holders:
            data["released"].append(seat.moderator.get_username())
            audit.record(stream=case_stream(case_id), action="review.seat_released", actor=actor,
                         target_type="review", target_id=active.pk,
                         data={"moderator_id": seat.moderator_id, "moderator": seat.moderator.get_username(),
                               "reason": "the case moved to a more severe workflow", "trigger": REROUTED,
                               "to_workflow": stage.version.workflow.slug})
    review, due_at = _open_round(case_id=case_id, stage=stage, policy_id=policy_id, queue_id=queue_id,
                                 priority=priority, now=now, reporter_kind=reporter_kind, actor=actor,
                                 reason="re-routed to a more severe workflow", trigger=REROUTED)
    data.update(review_id=str(review.pk), stage=stage.key, due_at=due_at.isoformat())
    return data


def case_reopen_round(*, case_id: object, policy_id: int, queue_id: int, jurisdictions, priority: int,
                      now: datetime, reporter_kind: str, reasons: list[str], actor: Actor = ROUTING) -> dict:
    """Starts a new review round on a decided case that a report re-opened
    (the re-review rules, cases.rereview), routed by the routing rules as
    they are now, linked to the decision it may supersede. Returns audit data."""
    current = Decision.objects.filter(case_id=case_id, is_current=True).values_list("pk", flat=True).first()
    data = {"follows_decision": str(current) if current else None, "workflow": None}
    stage = choose_first_stage(policy_id=policy_id, queue_id=queue_id, jurisdictions=jurisdictions, priority=priority)
    if stage is None:
        return data
    review, due_at = _open_round(case_id=case_id, stage=stage, policy_id=policy_id, queue_id=queue_id,
                                 priority=priority, now=now, reporter_kind=reporter_kind, actor=actor,
                                 reason="re-review: " + ", ".join(reasons), trigger=REREVIEW,
                                 follows_decision_id=current)
    data.update(workflow=stage.version.workflow.slug, workflow_version=stage.version.number, stage=stage.key,
                review_id=str(review.pk), due_at=due_at.isoformat())
    return data
