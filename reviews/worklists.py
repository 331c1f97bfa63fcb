"""Reads behind the console's work lists: the queues a moderator works with
their counts, the moderator's claimed seats, a queue's cases (filtered,
sorted, keyset-paginated), the senior list (escalations and approvals) and
the appeals. Every function runs a fixed number of SQL queries whatever the
amount of data: counts are aggregated in one grouped query, related rows are
joined, and long texts are cut in SQL so a 100 KB report never travels."""

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Exists, F, FilteredRelation, Min, OuterRef, Q, Subquery, Value
from django.db.models.functions import Substr
from django.utils import timezone

from cases.models import Case, Queue, Report
from cases.references import id_range
from cases.visibility import scope_to_user, visible_queues

from .models import Appeal, AppealState, Review, ReviewState, Seat, SeatState, Stage, StageKind
from .sla import at_risk_q, breached_q

ACTIVE = (ReviewState.OPEN, ReviewState.ON_HOLD)
PAGE_SIZE = 50
EXCERPT_CHARS = 160
STATEMENT_CHARS = 300
SENIOR_LIST_LIMIT = 200
DECIDED_APPEALS_LIMIT = 50
# The due_key of cases without a deadline: under "due soonest" they come after every real one.
NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)
_INT32 = 2**31 - 1
# Up to this many cases reported under a policy, the policy filter fetches them by id instead of walking the queue.
RARE_POLICY_CASES = 2000


# ---- queues and seats (My work) --------------------------------------------------

@dataclass
class QueueRow:
    queue: Queue
    workable: bool  # has open reviews for one of the user's groups
    waiting: int = 0  # open reviews with a free seat
    oldest_opened_at: datetime | None = None  # of the waiting ones (the case's opening time)
    at_risk: int = 0  # stage past its warning time, not breached (reviews.sla.at_risk_q)
    breached: int = 0  # stage past its deadline (reviews.sla.breached_q)
    mine_waiting: int = 0  # waiting reviews in the user's groups


def queue_by_slug(slug, *, user):
    """The queue called `slug` if `user` may see it (cases.visibility), else
    None: a restricted queue is, to everyone else, a queue that does not exist."""
    return visible_queues(user, Queue.objects.filter(slug=slug)).first()


def _overview_counts(group_ids, read_everything):
    """{queue id: counts} over the open reviews (of `group_ids`' groups, or all)."""
    mine = Q(group_id__in=group_ids)
    reviews = Review.objects.filter(state=ReviewState.OPEN)
    if not read_everything:
        reviews = reviews.filter(mine)
    free = Q(free_seats__gt=0)
    breached, at_risk = breached_q(), at_risk_q()  # the one definition, shared with /metrics
    return {
        row["queue_id"]: row
        for row in reviews.values("queue_id").annotate(
            waiting=Count("pk", filter=free),
            oldest=Min("case_opened_at", filter=free),
            at_risk=Count("pk", filter=at_risk),
            breached=Count("pk", filter=breached),
            mine_open=Count("pk", filter=mine),
            mine_waiting=Count("pk", filter=free & mine),
        ).order_by()
    }


def queue_overview(*, user, read_everything=False):
    """(queue rows for My work, workable queues first; when the counts were
    taken). Moderators get the queues with open reviews for their groups,
    counted over those reviews; leads and auditors get every queue, counted
    over all open reviews. Queues hidden from the user (cases.visibility)
    are left out, counts included.

    Counting touches every open review (0.5 s at a million), so the counts
    are shared for CONSOLE_COUNTS_CACHE_SECONDS by everyone with the same
    groups; the page says when they were taken. Three queries (the user's
    groups, the grouped counts, the queues), two when the counts are cached."""
    group_ids = sorted(user.groups.values_list("pk", flat=True))
    ttl = settings.CONSOLE_COUNTS_CACHE_SECONDS
    key = f"console:queue-overview:{int(read_everything)}:{','.join(map(str, group_ids))}"
    cached = cache.get(key) if ttl else None
    if cached is None:
        cached = (_overview_counts(group_ids, read_everything), timezone.now())
        if ttl:
            cache.set(key, cached, ttl)
    counts, counted_at = cached
    queues = visible_queues(user, Queue.objects.order_by("name", "slug"))
    if not read_everything:
        queues = queues.filter(pk__in=list(counts))
    rows = []
    for queue in queues:
        c = counts.get(queue.pk)
        if c is None:
            rows.append(QueueRow(queue=queue, workable=False))
            continue
        rows.append(QueueRow(queue=queue, workable=c["mine_open"] > 0, waiting=c["waiting"],
                             oldest_opened_at=c["oldest"], at_risk=c["at_risk"], breached=c["breached"],
                             mine_waiting=c["mine_waiting"]))
    rows.sort(key=lambda r: not r.workable)  # stable: keeps the name order within each part
    return rows, counted_at


def claimed_seats(*, user):
    """The user's claimed seats with their case, stage and lease (one query).
    A seat in a queue restricted away from the user since they claimed it is
    not listed (its lease runs out)."""
    return list(
        scope_to_user(Seat.objects.filter(moderator=user, state=SeatState.CLAIMED), user,
                      queue_field="review__queue_id")
        .select_related("review__stage", "review__queue", "review__case__subject")
        .defer("review__case__subject__latest_text", "review__case__subject__latest_media",
               "review__case__subject__metadata")
        .annotate(excerpt=Substr("review__case__subject__latest_text", 1, EXCERPT_CHARS))
        .order_by("lease_expires_at", "pk")
    )


# ---- a queue's cases, keyset-paginated ----------------------------------------------

class InvalidCursor(ValueError):
    """A page cursor that was not made by this module for this sort order."""


# name -> [(field, descending, kind)], the last key always the unique id. Each order is read from an index:
# priority from case_queue_work_idx, oldest/newest from case_queue_opened_idx (backwards for newest), due from
# review_queue_due_idx, then the cases without a deadline (see queue_cases_query).
SORTS = {
    "priority": [("priority", True, "int"), ("opened_at", False, "dt"), ("id", False, "uuid")],
    "oldest": [("opened_at", False, "dt"), ("id", False, "uuid")],
    "newest": [("opened_at", True, "dt"), ("id", True, "uuid")],
    "due": [("due_key", False, "dt"), ("due_opened_at", False, "dt"), ("id", False, "uuid")],
}
DEFAULT_SORT = "priority"
# "due" in two phases: the cases whose active review has a deadline, keyed on the review's columns (what
# review_queue_due_idx holds), then the cases without one (due_key = NO_DEADLINE), keyed on the case's.
_DUE_KEYS = [("due_key", False, "dt"), ("due_opened_at", False, "dt"), ("due_case", False, "uuid")]
_NO_DEADLINE_KEYS = [("opened_at", False, "dt"), ("id", False, "uuid")]
# "At risk or breached only". The SLA sweeps flag the case in the same transaction as its review (warned_at ->
# at_risk_since, breached_at -> breach_count), so the case's columns alone decide; this is also, word for word,
# the condition of case_queue_at_risk_idx, which lets PostgreSQL read just the flagged cases.
AT_RISK = Q(at_risk_since__isnull=False) | Q(breach_count__gt=0)


def encode_cursor(sort, values):
    out = [sort]
    for (_, _, kind), value in zip(SORTS[sort], values, strict=True):
        out.append(value.isoformat() if kind == "dt" else str(value) if kind == "uuid" else value)
    raw = json.dumps(out, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor, sort):
    """The key values a cursor carries, checked against `sort`; InvalidCursor otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursor("the page cursor is not readable") from None
    if not isinstance(data, list) or not data or data[0] not in SORTS:
        raise InvalidCursor("the page cursor is not readable")
    if data[0] != sort:
        raise InvalidCursor("the page cursor belongs to another sort order")
    keys = SORTS[sort]
    if len(data) != len(keys) + 1:
        raise InvalidCursor("the page cursor is not readable")
    values = []
    for (_, _, kind), value in zip(keys, data[1:], strict=True):
        try:
            if kind == "int":
                if type(value) is not int or not -_INT32 - 1 <= value <= _INT32:
                    raise ValueError
                values.append(value)
            elif kind == "dt":
                parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
                if parsed is None or parsed.tzinfo is None:
                    raise ValueError
                values.append(parsed)
            else:
                if not isinstance(value, str):
                    raise ValueError
                values.append(uuid.UUID(value))
        except (TypeError, ValueError):
            raise InvalidCursor("the page cursor is not readable") from None
    return values


def _after(keys, values):
    """WHERE for "comes after (values) in this order": a lexicographic OR
    chain. The first key is also bounded on its own (priority <= p), which
    lets PostgreSQL start the index scan at the cursor."""
    condition = Q()
    equal = Q()
    for (field, desc, _), value in zip(keys, values, strict=True):
        condition |= equal & Q(**{f"{field}__{'lt' if desc else 'gt'}": value})
        equal &= Q(**{field: value})
    first_field, first_desc, _ = keys[0]
    return Q(**{f"{first_field}__{'lte' if first_desc else 'gte'}": values[0]}) & condition


def _order(keys):
    return [f"-{field}" if desc else field for field, desc, _ in keys]


@dataclass
class CasePage:
    rows: list
    next_cursor: str | None
    sort: str


def _rare_policy_cases(policy):
    """The ids of every case ever reported under `policy` when there are at
    most RARE_POLICY_CASES of them, else None (one query, an index-only
    read of report_policy_case_idx that stops after RARE_POLICY_CASES + 1
    distinct cases).

    Why: for a common policy the list walks the queue's sort index and keeps
    the cases with such a report, which finds a page quickly. For a rare one
    that walk reads most of the queue, and PostgreSQL cannot tell the two
    apart (it counts reports, not the cases they fall on); so the list asks."""
    ids = list(Report.objects.filter(policy=policy).order_by("case_id").values_list("case_id", flat=True)
               .distinct()[: RARE_POLICY_CASES + 1])
    return ids if len(ids) <= RARE_POLICY_CASES else None


def queue_cases_query(*, queue, state=None, policy=None, min_priority=None, at_risk=False, jurisdiction=None,
                      reference=None, sort=DEFAULT_SORT, cursor=None, page_size=PAGE_SIZE, without_deadline=False):
    """The query behind queue_cases (page_size + 1 rows, to know whether a
    next page exists). Raises InvalidCursor.

    "Due soonest" lists first the cases whose active review has a deadline,
    soonest (most overdue) first, ties by the case's opening time and id;
    then the cases without one (no active review, e.g. decided and not yet
    closed, or a stage without SLA), oldest first: a moderator looking for
    what is due sees every deadline first, and nothing in the queue is
    hidden. The first phase is read from review_queue_due_idx in list
    order. The second (`without_deadline=True`, or a cursor already in it)
    must check the queue's open cases against their reviews: when few cases
    lack a deadline that reads the whole queue (about a second at 1,000,000
    cases), but only on the pages after the last deadline; queue_cases runs
    it only when the first phase does not fill the page."""
    if sort not in SORTS:
        raise InvalidCursor("unknown sort order")
    values = decode_cursor(cursor, sort) if cursor else None
    qs = (
        Case.objects.filter(queue=queue, closed_at__isnull=True)
        .alias(active=FilteredRelation("reviews", condition=Q(reviews__state__in=ACTIVE)))
        .annotate(
            excerpt=Substr("subject__latest_text", 1, EXCERPT_CHARS),
            subject_name=F("subject__display_name"),
            subject_external_id=F("subject__external_id"),
            policy_name=Subquery(Report.objects.filter(case=OuterRef("pk")).order_by("received_at", "id")
                                 .values("policy__name")[:1]),
            policy_name_translations=Subquery(Report.objects.filter(case=OuterRef("pk")).order_by("received_at", "id")
                                              .values("policy__name_translations")[:1]),
            stage_name=F("active__stage__name"),
            stage_name_translations=F("active__stage__name_translations"),
            warn_at=F("active__warn_at"),
            due_at=F("active__due_at"),
            warned_at=F("active__warned_at"),
            breached_at=F("active__breached_at"),
        )
    )
    if state:
        qs = qs.filter(state=state)
    if reference is not None:  # a reference's head (cases.references): a range of the primary key
        qs = qs.filter(pk__range=id_range(reference))
    if policy is not None:
        rare = _rare_policy_cases(policy)
        if rare is not None:
            qs = qs.filter(pk__in=rare)  # a few hundred cases at most: fetched by key and sorted
        else:
            qs = qs.filter(Exists(Report.objects.filter(case=OuterRef("pk"), policy=policy)))
    if min_priority is not None:
        qs = qs.filter(priority__gte=min_priority)
    if at_risk:
        qs = qs.filter(AT_RISK)
    if jurisdiction:
        if connection.vendor == "postgresql":
            in_jurisdiction = Q(jurisdiction__contains=[jurisdiction])
        else:  # SQLite (make run) has no JSON containment; codes are validated two-letter values, quoted in the JSON
            in_jurisdiction = Q(jurisdiction__icontains=f'"{jurisdiction}"')
        qs = qs.filter(Exists(Report.objects.filter(in_jurisdiction, case=OuterRef("pk"))))
    if sort == "due":
        in_second_phase = values is not None and values[0] >= NO_DEADLINE
        if without_deadline or in_second_phase:
            keys, values = _NO_DEADLINE_KEYS, values[1:] if in_second_phase else None
            # No active review, or one without a deadline (the annotation: active__... would join again).
            qs = qs.filter(due_at__isnull=True).annotate(due_key=Value(NO_DEADLINE), due_opened_at=F("opened_at"))
        else:
            keys = _DUE_KEYS
            # Conditions on the annotations, not on active__...: Django would join the reviews a second time.
            # `due_key IS NOT NULL` makes PostgreSQL treat the LEFT JOIN as an inner one, and the review's
            # copy of the case's queue is what lets it walk review_queue_due_idx in list order.
            qs = qs.annotate(due_key=F("active__due_at"), due_opened_at=F("active__case_opened_at"),
                             due_case=F("active__case_id"), due_queue=F("active__queue_id")).filter(
                due_key__isnull=False, due_queue=queue.pk)
    else:
        keys = SORTS[sort]
    if values is not None:
        qs = qs.filter(_after(keys, values))
    return qs.order_by(*_order(keys)).only(
        "id", "state", "priority", "opened_at", "report_count", "at_risk_since", "breach_count", "queue_id",
    )[: page_size + 1]


def queue_cases(*, sort=DEFAULT_SORT, page_size=PAGE_SIZE, cursor=None, **filters):
    """One page of the queue's not-closed cases. Takes the arguments of
    queue_cases_query; `cursor` is what the previous page returned as
    next_cursor (anything else raises InvalidCursor). One query, plus one
    with a policy filter (_rare_policy_cases) and one more for "due
    soonest" on the page where the cases with a deadline run out.
    Rows carry `excerpt`, `policy_name`, the active review's `stage_name`
    and an `sla` object for the sla_state template tag."""
    rows = list(queue_cases_query(sort=sort, page_size=page_size, cursor=cursor, **filters))
    if sort == "due" and len(rows) <= page_size and not (cursor and decode_cursor(cursor, sort)[0] >= NO_DEADLINE):
        rows += list(queue_cases_query(sort=sort, page_size=page_size - len(rows), without_deadline=True, **filters))
    next_cursor = None
    if len(rows) > page_size:
        rows = rows[:page_size]
        last = rows[-1]
        next_cursor = encode_cursor(sort, [getattr(last, field) for field, _, _ in SORTS[sort]])
    for row in rows:
        row.sla = SimpleNamespace(warn_at=row.warn_at, due_at=row.due_at, warned_at=row.warned_at,
                                  breached_at=row.breached_at) if row.due_at else None
    return CasePage(rows=rows, next_cursor=next_cursor, sort=sort)


# ---- seniors: escalations and approvals ----------------------------------------------

def senior_reviews(*, user, limit=SENIOR_LIST_LIMIT):
    """Active reviews in escalation or approval stages, or in stages a lead
    group reviews, most urgent first (two queries: those stages' ids first,
    so that PostgreSQL reads the few reviews through the stage index instead
    of joining every open review to its stage). `reason` is the close
    reason of the review before it on the case ("split", "escalated: ...",
    "SLA breached", "rejected", "consensus"). Only the queues `user` may see."""
    predecessor = (
        Review.objects.filter(case_id=OuterRef("case_id"), closed_at__isnull=False,
                              closed_at__lte=OuterRef("opened_at"))
        .exclude(pk=OuterRef("pk"))
        .order_by("-closed_at", "-opened_at")
        .values("close_reason")[:1]
    )
    senior_stages = list(Stage.objects.filter(Q(kind__in=[StageKind.ESCALATION, StageKind.APPROVAL])
                                              | Q(group__name__in=settings.REVIEW_LEAD_GROUPS))
                         .values_list("pk", flat=True))
    return list(
        scope_to_user(Review.objects.filter(state__in=ACTIVE, stage_id__in=senior_stages), user)
        .select_related("stage", "queue", "case", "proposed_outcome", "proposed_policy")
        .annotate(reason=Subquery(predecessor),
                  excerpt=Substr("case__subject__latest_text", 1, EXCERPT_CHARS),
                  subject_name=F("case__subject__display_name"),
                  subject_external_id=F("case__subject__external_id"))
        .order_by(F("due_at").asc(nulls_last=True), "opened_at", "id")[:limit]
    )


# ---- appeals ---------------------------------------------------------------------------

def open_appeals(*, user, limit=SENIOR_LIST_LIMIT):
    """Open appeals of the cases `user` may see, oldest first, with the
    decision appealed (one query)."""
    return list(
        scope_to_user(Appeal.objects.filter(state=AppealState.OPEN), user, queue_field="case__queue_id")
        .select_related("case", "decision__outcome", "decision__policy")
        .defer("statement")
        .annotate(excerpt=Substr("statement", 1, STATEMENT_CHARS))
        .order_by("opened_at", "id")[:limit]
    )


def decided_appeals(*, user, limit=DECIDED_APPEALS_LIMIT):
    """The last decided appeals of the cases `user` may see, with their
    result (one query)."""
    return list(
        scope_to_user(Appeal.objects.filter(state=AppealState.DECIDED), user, queue_field="case__queue_id")
        .select_related("case", "decision__outcome", "result_decision__outcome")
        .defer("statement")
        .annotate(excerpt=Substr("statement", 1, STATEMENT_CHARS))
        .order_by("-decided_at", "-id")[:limit]
    )

