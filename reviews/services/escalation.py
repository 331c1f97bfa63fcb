"""Escalation up the tiers and sending back down, hold and resume, and reviewers' notes."""

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
from ..tiers import next_tier_key, tiers_below
from ._common import ACTIVE, _active_review, _lock_case, is_lead
from .lifecycle import review_advance, review_close, review_open


def case_escalate(*, case_id, actor_user, reason, now=None, from_review_id=None):
    """A seated reviewer or a lead sends the case up to its stage's next tier
    (`Stage.next_tier`; for versions without tiers, the escalation stage),
    raising its priority (capped at the maximum). Refused at the top tier:
    the top decides or puts the case on hold. `from_review_id` (the review
    the caller saw) makes a repeated or racing request a no-op instead of a
    second escalation."""
    now = now or timezone.now()
    if not reason.strip():
        raise NotAllowed("an escalation needs a reason", field="reason")
    with transaction.atomic(), audit.batch():
        review = _active_review(case_id)  # lock order everywhere: review, then case
        _lock_case(case_id)
        if from_review_id is not None and (review is None or str(review.pk) != str(from_review_id)):
            # Already moved on: a retry, or someone else acted first. (Waiting on the lock of a review that was
            # closed meanwhile finds no row; a new statement sees the review that replaced it.)
            current = review or _active_review(case_id)
            if current is not None:
                return current
        if review is None:
            raise NotAllowed("the case has no active review to escalate")
        seated = Seat.objects.filter(review=review, moderator=actor_user, state=SeatState.CLAIMED).exists()
        if not seated and not is_lead(actor_user):
            raise NotAllowed("only a reviewer holding a seat, or a lead, can escalate")
        version = review.stage.version
        target = next_tier_key(review.stage, version.escalation_stage_key)
        if not target:
            raise NotAllowed(f"{review.stage.name} is the top tier of this workflow: there is nowhere to escalate. "
                             "Decide the case here, or put it on hold.", code="top_tier")
        actor = Actor.user(actor_user)
        review_close(review, state=ReviewState.CANCELLED, now=now, reason=f"escalated: {reason}")
        audit.record(stream=case_stream(case_id), action="case.escalated", actor=actor, target_type="case",
                     target_id=case_id, data={"from_stage": review.stage.key, "to_stage": target, "reason": reason,
                                              "trigger": T.ESCALATION})
        review.case = Case.objects.get(pk=case_id)
        return review_advance(review=review, target=target, actor=actor, now=now, reason=reason,
                              trigger=T.ESCALATION)


def send_back_targets(review) -> list:
    """The lower tiers `review`'s stage can send a case back down to."""
    version = review.stage.version
    stages = {s.key: s for s in version.stages.all()}
    return [stages[key] for key in tiers_below(stages, review.stage.key, version.escalation_stage_key)]


def case_send_back(*, case_id, actor_user, guidance, to_stage="", from_review_id=None, now=None):
    """A higher tier sends the case back down to a tier below it with
    guidance: the current review closes (cancelled), a fresh review of the
    lower stage opens with a fresh SLA, and the guidance is a note on it
    that the lower tier sees. Only a reviewer seated at the higher tier or a
    lead may; priority is not raised. Audited as the note, the review's
    opening (reason "sent back", with the guidance) and the state change."""
    now = now or timezone.now()
    if not guidance.strip():
        raise NotAllowed("sending a case back needs guidance for the lower tier", field="guidance")
    with transaction.atomic(), audit.batch():
        review = _active_review(case_id)
        case = _lock_case(case_id)
        if from_review_id is not None and (review is None or str(review.pk) != str(from_review_id)):
            raise NotAllowed("the case has moved on since you opened it; reload it", code="review_changed")
        if review is None or review.state != ReviewState.OPEN:
            raise NotAllowed("only a case whose review is open can be sent back")
        seated = Seat.objects.filter(review=review, moderator=actor_user, state=SeatState.CLAIMED).exists()
        if not seated and not is_lead(actor_user):
            raise NotAllowed("only a reviewer holding a seat at this tier, or a lead, can send a case back")
        targets = send_back_targets(review)
        if not targets:
            raise NotAllowed(f"{review.stage.name} has no lower tier to send the case back to", code="no_lower_tier")
        if to_stage:
            target = next((s for s in targets if s.key == to_stage), None)
            if target is None:
                raise NotAllowed(f"{to_stage!r} is not a tier below {review.stage.key!r} (one of: "
                                 f"{', '.join(s.key for s in targets)})", field="to_stage")
        else:
            target = targets[-1]
        actor = Actor.user(actor_user)
        review_close(review, state=ReviewState.CANCELLED, now=now, reason=f"sent back to {target.key}: {guidance}")
        to_state = CaseState.ESCALATED if target.kind == StageKind.ESCALATION else CaseState.IN_REVIEW
        if case.state != to_state:
            case_change_state(case_id=case_id, to_state=to_state, actor=actor, reason=f"sent back to {target.key}",
                              trigger=T.SEND_BACK)
        case.refresh_from_db()
        lower = review_open(case=case, stage=target, actor=actor, now=now, appeal=review.appeal,
                            trigger=T.SEND_BACK, reason=f"sent back by {review.stage.key}",
                            barred=review.barred_user_ids,
                            data={"sent_back_from": review.stage.key, "guidance": guidance})
        note = ReviewNote.objects.create(review=lower, author=actor_user, created_at=now,
                                         text=f"Sent back from {review.stage.name}: {guidance}")
        audit.record(stream=case_stream(case_id), action="review.note_added", actor=actor, target_type="review",
                     target_id=lower.pk, data={"note_id": note.pk, "sent_back_from": review.stage.key})
        return lower


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

