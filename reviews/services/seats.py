"""Seats in a review: eligibility, claiming, assignment by a lead, release and lease renewal."""

from django.conf import settings
from django.db import connection, transaction
from django.db.backends.utils import CursorDebugWrapper
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

import audit
from audit.context import Actor
from audit.models import AuditStreamHead
from audit.services import AuditHeadMoved, case_stream
from cases.models import Case, CaseState, Queue, Report
from cases.services import case_change_state
from cases.visibility import hidden_queues

from .. import triggers as T
from ..errors import NotAllowed, NotEligible, NotSeated, ReviewClosed
from ..models import (
    ModeratorIdentity,
    Review,
    ReviewState,
    Seat,
    SeatState,
    Stage,
    StageKind,
    Vote,
)
from ..states import seat_check_transition
from ._common import ACTIVE, _lease, is_lead
from .lifecycle import review_timeout_if_owed


def _identities(moderator):
    """{source id: the moderator's own external ids there}."""
    out = {}
    for source_id, external_id in ModeratorIdentity.objects.filter(user=moderator).values_list("source_id", "external_id"):
        out.setdefault(source_id, set()).add(external_id)
    return out


def eligibility_problem(review, moderator, *, group_ids=None, identities=None, seat_checked=False):
    """Why `moderator` may not take a seat in `review`, or None.

    claim_next passes what it already knows (the moderator's groups and
    platform identities, and that its candidate query excluded reviews where
    the moderator holds or held a seat — a vote needs a seat) so that the
    common case costs no query at all."""
    stage = review.stage
    if not moderator.is_active:
        return "the account is inactive"
    in_group = (stage.group_id in group_ids) if group_ids is not None else \
        moderator.groups.filter(pk=stage.group_id).exists()
    if not in_group:
        return f"not in the group {stage.group.name!r} that reviews stage {stage.key!r}"
    if moderator.pk in (review.barred_user_ids or ()):
        return "proposed or rejected this outcome earlier on this case (an approval cannot be shopped)"
    if not seat_checked:
        # claim_next leaves hidden queues out of its candidate query; a lead's assignment and a
        # vote are checked here, so no path seats someone on a case of a queue hidden from them.
        hidden = hidden_queues(moderator)
        if hidden is not None and hidden.filter(pk=review.queue_id).exists():
            return "may not see this case's queue"
        if Vote.objects.filter(review=review, reviewer=moderator).exists():
            return "already voted in this review"
        if Seat.objects.filter(review=review, moderator=moderator,
                               state__in=[SeatState.CLAIMED, SeatState.VOTED]).exists():
            return "already holds a seat in this review"
    case = review.case
    if identities is None:
        identities = _identities(moderator)
    mine = identities.get(case.source_id)
    if mine:
        subject = case.subject
        involved = {subject.external_id}
        if subject.author_id:
            involved.add(subject.author.external_id)
        if mine & involved:
            return "is the subject of this case (linked platform identity)"
        if Report.objects.filter(case=case, reporter_external_id__in=mine).exists():
            return "reported this case (linked platform identity)"
    if stage.kind == StageKind.APPROVAL and review.proposed_from_id:
        if Vote.objects.filter(review_id=review.proposed_from_id, reviewer=moderator).exists():
            return "voted for the result under approval (four eyes)"
    if stage.kind == StageKind.APPEAL or review.appeal_id:
        before = review.appeal.opened_at if review.appeal_id else review.opened_at
        if Vote.objects.filter(review__case=case, reviewer=moderator, review__opened_at__lt=before).exclude(
                review=review).exists():
            return "took part in the decision under appeal"
    if stage.exclude_earlier_reviewers and (
        Vote.objects.filter(review__case=case, reviewer=moderator).exclude(review=review).exists()
        or Seat.objects.filter(review__case=case, moderator=moderator).exclude(review=review).exists()
    ):
        return "reviewed this case in an earlier stage"
    return None


def _take_seat(*, review, moderator, now, actor, assigned_by=None):
    """The seat row and the review's count of free seats (one statement on PostgreSQL), the case's
    move to in review on its first claim, and the audit event. Requires the review locked."""
    seat = Seat(review=review, moderator=moderator, state=SeatState.CLAIMED, claimed_at=now,
                lease_expires_at=now + _lease(review.queue), assigned_by=assigned_by)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH seat AS (INSERT INTO {Seat._meta.db_table} (review_id, moderator_id, state, claimed_at, "
                "lease_expires_at, assigned_by_id) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id), "
                f"counted AS (UPDATE {Review._meta.db_table} SET free_seats = free_seats - 1 WHERE id = %s RETURNING 1) "
                "SELECT seat.id, (SELECT count(*) FROM counted) FROM seat",
                [review.pk, moderator.pk, seat.state, seat.claimed_at, seat.lease_expires_at, seat.assigned_by_id,
                 review.pk])
            seat.pk, counted = cursor.fetchone()
        seat._state.adding = False
        if counted != 1:  # the review is locked by the caller: cannot happen unless that promise is broken
            raise ReviewClosed("the review to seat in is gone")
    else:
        seat.save(force_insert=True)
        Review.objects.filter(pk=review.pk).update(free_seats=F("free_seats") - 1)
    review.free_seats -= 1
    if review.case.state == CaseState.OPEN:
        case_change_state(case_id=review.case_id, to_state=CaseState.IN_REVIEW, actor=actor, reason="first claim",
                          trigger=T.FIRST_CLAIM)
    audit.record(stream=case_stream(review.case_id), action="review.seat_claimed", actor=actor,
                 target_type="review", target_id=review.pk,
                 data={"moderator": moderator.get_username(), "assigned_by": assigned_by.get_username()
                       if assigned_by else None, "lease_expires_at": seat.lease_expires_at.isoformat()})
    return seat


def claim_next(*, moderator, queue, now=None, max_skips=25):
    """Gives `moderator` a seat in the highest-priority, oldest open review
    of `queue` they are eligible for, with a lease; None when there is none.

    Candidates come from one index scan (review_claim_idx) with FOR UPDATE
    SKIP LOCKED, so concurrent claimers never wait for each other and never
    get the same seat. That one query also checks the moderator's groups,
    seats and hidden queues, says whether they have platform identities at
    the case's source, and reads the case stream's audit head, so that a
    claim is five round trips: BEGIN, the pick, the seat, the review's count
    and the audit events with their head moved by compare-and-swap, COMMIT
    (plus the case's move to in review on its first claim)."""
    now = now or timezone.now()
    skipped = []
    attempts = 0
    while attempts < max_skips:
        attempts += 1
        try:
            with transaction.atomic():
                review = _pick(moderator=moderator, queue=queue, skipped=skipped)
                if review is None:
                    return None
                heads = {case_stream(review.case_id): (review.audit_head_seq, review.audit_head_hash)}
                with audit.batch(known_heads=heads):
                    identities = _identities(moderator) if review.has_identity else {}
                    if eligibility_problem(review, moderator, group_ids={review.group_id}, identities=identities,
                                           seat_checked=True) is not None:
                        skipped.append(review.pk)
                        continue
                    return _take_seat(review=review, moderator=moderator, now=now, actor=Actor.user(moderator))
        except AuditHeadMoved:
            continue  # someone appended to the case's trail between the pick and the write: pick again
    return None


# The columns the pick returns: the review's, then its case's, stage's and queue's.
_PICKED = ((Review, "r", None), (Case, "c", "case"), (Stage, "s", "stage"), (Queue, "q", "queue"))


def _attnames(model):
    return [f.attname for f in model._meta.concrete_fields]


def _pick_query(*, moderator, queue, skipped):
    """The pick as a queryset of value rows (the portable form, for SQLite;
    _PICK_SQL is the same on PostgreSQL, plus the audit head locked)."""
    memberships = moderator.groups.through.objects.filter(user_id=moderator.pk).values("group_id")
    columns = [f"{prefix}__{name}" if prefix else name for model, _, prefix in _PICKED for name in _attnames(model)]
    candidates = (
        Review.objects.filter(queue_id=queue.pk, state=ReviewState.OPEN, free_seats__gt=0, group_id__in=memberships)
        .exclude(pk__in=skipped)
        .exclude(Exists(Seat.objects.filter(review_id=OuterRef("pk"), moderator_id=moderator.pk,
                                            state__in=[SeatState.CLAIMED, SeatState.VOTED])))
        .annotate(has_identity=Exists(ModeratorIdentity.objects.filter(user_id=moderator.pk,
                                                                       source_id=OuterRef("case__source_id"))))
        .order_by("-priority", "case_opened_at")
        .select_for_update(skip_locked=True, of=("self",))
    )
    hidden = hidden_queues(moderator)
    if hidden is not None:
        candidates = candidates.exclude(queue_id__in=hidden)
    return candidates.values_list(*columns, "has_identity")[:1]


def _pick_sql(*, audited):
    """The pick on PostgreSQL, one statement over review_claim_idx. It locks,
    SKIP LOCKED, the review, its case and (when auditing) the case stream's
    audit head, so the claim never waits for a lock after it and appends to
    the trail at the head it read. Parameters: queue, moderator (three
    times), the skipped review ids, then the hidden-queues subquery's.
    Built once per process (building it with the ORM on every claim was half
    of a claim's Python time)."""
    select = ", ".join(f"{alias}.{f.column}" for model, alias, _ in _PICKED for f in model._meta.concrete_fields)
    head = ", h.seq, h.hash" if audited else ", NULL, NULL"
    head_join = (f" JOIN {AuditStreamHead._meta.db_table} h ON h.stream = 'case:' || r.case_id::text"
                 if audited else "")
    return (
        f"SELECT {select}, EXISTS (SELECT 1 FROM {ModeratorIdentity._meta.db_table} mi "
        "WHERE mi.user_id = %s AND mi.source_id = c.source_id)" + head +
        f" FROM {Review._meta.db_table} r JOIN {Case._meta.db_table} c ON c.id = r.case_id "
        f"JOIN {Stage._meta.db_table} s ON s.id = r.stage_id JOIN {Queue._meta.db_table} q ON q.id = r.queue_id"
        + head_join +
        " WHERE r.queue_id = %s AND r.state = 'open' AND r.free_seats > 0"
        f" AND r.group_id IN (SELECT ug.group_id FROM {moderator_groups_table()} ug WHERE ug.user_id = %s)"
        " AND NOT (r.id = ANY(%s::uuid[]))"
        f" AND NOT EXISTS (SELECT 1 FROM {Seat._meta.db_table} st WHERE st.review_id = r.id"
        " AND st.moderator_id = %s AND st.state IN ('claimed', 'voted')) {hidden}"
        " ORDER BY r.priority DESC, r.case_opened_at LIMIT 1 FOR UPDATE OF r, c" + (", h" if audited else "")
        + " SKIP LOCKED"
    )


def moderator_groups_table():
    from django.contrib.auth import get_user_model

    return get_user_model().groups.through._meta.db_table


_pick_sql_cache: dict = {}


def _pick(*, moderator, queue, skipped):
    """The best open review of `queue` with a free seat that `moderator` may
    take, locked (SKIP LOCKED), with its case, stage and queue; None if none.
    Needs a transaction."""
    if connection.vendor == "postgresql":
        audited = not settings.AUDIT_DISABLED_FOR_BENCHMARK
        if audited not in _pick_sql_cache:
            _pick_sql_cache[audited] = _pick_sql(audited=audited)
        hidden, hidden_params = hidden_queues(moderator), []
        condition = ""
        if hidden is not None:
            hidden_sql, hidden_params = hidden.query.sql_with_params()
            condition = f"AND NOT (r.queue_id IN ({hidden_sql}))"
        sql = _pick_sql_cache[audited].replace("{hidden}", condition)
        params = [moderator.pk, queue.pk, moderator.pk, list(skipped), moderator.pk, *hidden_params]
        row = _fetch_prepared(sql, params)
    else:
        sql, params = _pick_query(moderator=moderator, queue=queue, skipped=skipped).query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
    if row is None:
        return None
    instances, at = [], 0
    for model, _alias, _prefix in _PICKED:
        names = _attnames(model)
        instances.append(model.from_db(connection.alias, names, _from_db_values(model, row[at:at + len(names)])))
        at += len(names)
    review, case, stage, queue_row = instances
    for field_name, related in (("case", case), ("stage", stage), ("queue", queue_row)):
        Review._meta.get_field(field_name).set_cached_value(review, related)
    review.has_identity = row[at]
    review.audit_head_seq, review.audit_head_hash = row[at + 1:at + 3] if len(row) > at + 1 else (None, None)
    return review


def _fetch_prepared(sql, params):
    """One row of `sql` as a server-side prepared statement of this connection
    (psycopg's own cursor: Django binds parameters on the client, so nothing it
    sends is prepared, and planning the pick cost more than running it). Runs
    through Django's execute wrappers, so it is counted and logged like any query.
    Needs a direct connection to PostgreSQL or a pooler in session mode."""
    import psycopg

    connection.ensure_connection()

    def run(sql, params, many, context):
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(sql, params, prepare=True)
            return cursor.fetchone()

    with connection.cursor() as wrapper:  # the execute wrappers and the debug log, around the prepared run
        if isinstance(wrapper, CursorDebugWrapper):
            with wrapper.debug_sql(sql, params):
                return wrapper._execute_with_wrappers(sql, params, many=False, executor=run)
        return wrapper._execute_with_wrappers(sql, params, many=False, executor=run)


def _from_db_values(model, values):
    """Raw column values converted as the ORM's compiler would (the backend's converters, e.g. SQLite's
    for UUIDs, then the field's, e.g. JSON)."""
    out = []
    for field, value in zip(model._meta.concrete_fields, values, strict=True):
        column = field.get_col(model._meta.db_table)
        for converter in connection.ops.get_db_converters(column) + column.get_db_converters(connection):
            value = converter(value, column, connection)
        out.append(value)
    return out


def seat_assign(*, review_id, moderator, lead, now=None):
    """A lead gives a seat to a named moderator (eligibility still applies)."""
    now = now or timezone.now()
    if not is_lead(lead):
        raise NotAllowed("only a lead can assign seats")
    with transaction.atomic(), audit.batch():
        review = Review.objects.select_for_update(of=("self",)).select_related("stage", "case").get(pk=review_id)
        if review.state != ReviewState.OPEN:
            raise ReviewClosed(f"the review is {review.state}")
        if review.free_seats <= 0:
            raise NotAllowed("every seat in this review is taken")
        problem = eligibility_problem(review, moderator)
        if problem:
            raise NotEligible(f"{moderator.get_username()} {problem}")
        return _take_seat(review=review, moderator=moderator, now=now, actor=Actor.user(lead), assigned_by=lead)


def seat_release(*, seat_id, actor_user, now=None, reason=""):
    """Gives a claimed seat back. The holder or a lead may; idempotent."""
    now = now or timezone.now()
    with transaction.atomic(), audit.batch():
        seat = Seat.objects.select_related("review").get(pk=seat_id)
        review = Review.objects.select_for_update(of=("self",)).get(pk=seat.review_id)
        seat = Seat.objects.select_for_update().get(pk=seat_id)
        if actor_user.pk != seat.moderator_id and not is_lead(actor_user):
            raise NotAllowed("only the holder or a lead can release a seat")
        if seat.state == SeatState.VOTED:
            return seat  # its vote is cast: nothing to give back
        if not seat_check_transition(seat.state, SeatState.RELEASED):
            return seat
        seat.state = SeatState.RELEASED
        seat.released_at = now
        seat.save(update_fields=["state", "released_at"])
        if review.state in ACTIVE:
            Review.objects.filter(pk=review.pk).update(free_seats=F("free_seats") + 1)
        audit.record(stream=case_stream(review.case_id), action="review.seat_released", actor=Actor.user(actor_user),
                     target_type="review", target_id=review.pk,
                     data={"moderator_id": seat.moderator_id, "reason": reason, "trigger": T.RELEASE})
        review_timeout_if_owed(review=review, now=now, actor=Actor.user(actor_user))
        return seat


def lease_renew(*, seat_id, moderator, now=None):
    """Extends the holder's lease while they work on the case."""
    now = now or timezone.now()
    seat = Seat.objects.filter(pk=seat_id).select_related("review__queue").first()
    lease = _lease(seat.review.queue if seat else None)
    updated = Seat.objects.filter(pk=seat_id, moderator=moderator, state=SeatState.CLAIMED).update(
        lease_expires_at=now + lease)
    if not updated:
        raise NotSeated("you do not hold this seat any more")
    return now + lease



def seat_claim(*, review_id, moderator, now=None):
    """`moderator` takes a free seat in the review `review_id` they chose (the
    console's "Claim this case"), with a lease. Requires the review open, a
    seat free and the moderator eligible (eligibility_problem, in full);
    records review.seat_claimed and, on the first claim, moves the case to
    in_review. Locks the review row, so two moderators racing for the last
    seat get one seat and one NotAllowed. A moderator who already holds a
    claimed seat there gets it back unchanged (a repeated click)."""
    now = now or timezone.now()
    with transaction.atomic(), audit.batch():
        review = Review.objects.select_for_update(of=("self",)).select_related("stage", "case").get(pk=review_id)
        held = Seat.objects.filter(review=review, moderator=moderator, state=SeatState.CLAIMED).first()
        if held is not None:
            return held
        if review.state != ReviewState.OPEN:
            raise ReviewClosed(f"the review is {review.state}")
        if review.free_seats <= 0:
            raise NotAllowed("every seat in this review is taken", code="no_free_seat")
        problem = eligibility_problem(review, moderator)
        if problem:
            raise NotEligible(f"{moderator.get_username()} {problem}")
        return _take_seat(review=review, moderator=moderator, now=now, actor=Actor.user(moderator))
