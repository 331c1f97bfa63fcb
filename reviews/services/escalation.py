"""Escalation, hold and resume, and reviewers' notes."""

from django.db import transaction
from django.utils import timezone

import audit
from audit.context import Actor
from audit.services import case_stream
from cases.models import Case, CaseState
from cases.services import case_change_state

from .. import sla
from .. import triggers as T
from ..errors import NotAllowed, ReviewClosed
from ..models import (
    Review,
    ReviewNote,
    ReviewState,
    Seat,
    SeatState,
    StageKind,
)
from ..states import review_check_transition
from ._common import ACTIVE, _active_review, _lock_case, is_lead
from .lifecycle import review_advance, review_close


def case_escalate(*, case_id, actor_user, reason, now=None):
    """A seated reviewer or a lead sends the case to its workflow's
    escalation stage, raising its priority. Idempotent when already there."""
    now = now or timezone.now()
    if not reason.strip():
        raise NotAllowed("an escalation needs a reason")
    with transaction.atomic(), audit.batch():
        review = _active_review(case_id)  # lock order everywhere: review, then case
        _lock_case(case_id)
        if review is None:
            raise NotAllowed("the case has no active review to escalate")
        seated = Seat.objects.filter(review=review, moderator=actor_user, state=SeatState.CLAIMED).exists()
        if not seated and not is_lead(actor_user):
            raise NotAllowed("only a reviewer holding a seat, or a lead, can escalate")
        version = review.stage.version
        target = version.escalation_stage_key
        if not target:
            raise NotAllowed("this workflow has no escalation stage")
        if review.stage.key == target:
            return review
        actor = Actor.user(actor_user)
        review_close(review, state=ReviewState.CANCELLED, now=now, reason=f"escalated: {reason}")
        audit.record(stream=case_stream(case_id), action="case.escalated", actor=actor, target_type="case",
                     target_id=case_id, data={"from_stage": review.stage.key, "to_stage": target, "reason": reason,
                                              "trigger": T.ESCALATION})
        review.case = Case.objects.get(pk=case_id)
        return review_advance(review=review, target=target, actor=actor, now=now, reason=reason,
                              trigger=T.ESCALATION)


def case_hold(*, case_id, lead, reason, now=None):
    """A lead pauses the case (waiting for information). Claims stop."""
    now = now or timezone.now()
    if not is_lead(lead):
        raise NotAllowed("only a lead can put a case on hold")
    if not reason.strip():
        raise NotAllowed("a hold needs a reason")
    with transaction.atomic(), audit.batch():
        review = _active_review(case_id)
        case = _lock_case(case_id)
        if case.state == CaseState.ON_HOLD:
            return case
        if review is None:
            raise NotAllowed("only a case under review can be put on hold")
        review_check_transition(review.state, ReviewState.ON_HOLD)
        # The SLA clock stops: resume moves the deadlines by the open time spent on hold.
        Review.objects.filter(pk=review.pk).update(state=ReviewState.ON_HOLD, held_at=now)
        return case_change_state(case_id=case_id, to_state=CaseState.ON_HOLD, actor=Actor.user(lead), reason=reason,
                                 trigger=T.LEAD_HOLD)


def case_resume(*, case_id, lead, reason="", now=None):
    now = now or timezone.now()
    if not is_lead(lead):
        raise NotAllowed("only a lead can resume a case")
    with transaction.atomic(), audit.batch():
        review = Review.objects.select_for_update(of=("self",)).select_related("stage", "calendar").filter(
            case_id=case_id, state=ReviewState.ON_HOLD).first()
        case = _lock_case(case_id)
        if case.state != CaseState.ON_HOLD or review is None:
            return case
        review_check_transition(review.state, ReviewState.OPEN)
        changes = {"state": ReviewState.OPEN, "held_at": None}
        if review.held_at is not None:
            calendar = sla.calendar_of(review)
            if review.due_at is not None:
                changes["due_at"] = sla.resume_deadline(review.held_at, review.due_at, now, calendar)
            if review.warn_at is not None and review.warned_at is None:
                changes["warn_at"] = sla.resume_deadline(review.held_at, review.warn_at, now, calendar)
        Review.objects.filter(pk=review.pk).update(**changes)
        if review.stage.kind == StageKind.ESCALATION:
            target = CaseState.ESCALATED
        elif Seat.objects.filter(review__case_id=case_id).exists():
            target = CaseState.IN_REVIEW
        else:
            target = CaseState.OPEN
        return case_change_state(case_id=case_id, to_state=target, actor=Actor.user(lead), reason=reason or "resumed",
                                 trigger=T.LEAD_RESUME)


def note_add(*, review_id, author, text, now=None):
    """Reviewers add notes; votes themselves stay final."""
    now = now or timezone.now()
    if not text.strip():
        raise NotAllowed("a note needs text")
    with transaction.atomic(), audit.batch():
        review = Review.objects.select_for_update(of=("self",)).get(pk=review_id)
        if review.state not in ACTIVE:
            raise ReviewClosed(f"this review is {review.state}; notes go to the stage under way")
        if not (Seat.objects.filter(review=review, moderator=author).exists() or is_lead(author)):
            raise NotAllowed("only a reviewer of this review, or a lead, can add notes")
        note = ReviewNote.objects.create(review=review, author=author, text=text, created_at=now)
        audit.record(stream=case_stream(review.case_id), action="review.note_added", actor=Actor.user(author),
                     target_type="review", target_id=review.pk, data={"note_id": note.pk})
        return note

