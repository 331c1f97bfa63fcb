"""Every sort and the selective filters of the queue list read an index in
list order (or just the few rows they need), on the first page and after a
cursor, so a page costs the same with a million cases as with a thousand:
priority from case_queue_work_idx, oldest/newest from case_queue_opened_idx,
due soonest from review_queue_due_idx, at risk from case_queue_at_risk_idx,
a rare policy by the ids of its few cases."""
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from cases.models import Case, Queue
from reviews import worklists
from reviews.models import Review, Stage
from tests.dbroles import as_owner

from .work_helpers import bulk_cases, make_queue

pytestmark = pytest.mark.django_db


def _plan(queryset):
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.fixture
def big_queues(console_source, policy_book, workflows):
    """Five queues of 1,200 open cases (so that reading a whole queue is dearer than an index): every case with
    an active review with a deadline, every third with an earlier closed review, a few at risk or breached, and
    40 cases with a second, rare policy."""
    general = Queue.objects.get(slug="general")
    others = [make_queue(f"other-{i}", name=f"Other {i}") for i in range(4)]
    start = timezone.now() - timedelta(days=2)
    stage = Stage.objects.get(version__workflow__slug="standard", key="review")
    for n, queue in enumerate([general, *others]):
        cases = bulk_cases(queue=queue, source=console_source, count=1200, policy=policy_book["spam"], prefix=f"q{n}",
                           priority=lambda i: 100 + (i * 37) % 400, opened_at=lambda i: start + timedelta(seconds=i))
        Review.objects.bulk_create([
            Review(case=c, stage=stage, queue=queue, group_id=stage.group_id, priority=c.priority,
                   case_opened_at=c.opened_at, free_seats=3, opened_at=c.opened_at,
                   due_at=c.opened_at + timedelta(hours=1 + i % 48), **closed)
            for i, c in enumerate(cases)
            for closed in ([{"state": "split", "closed_at": c.opened_at}] if i % 3 == 0 else []) + [{}]
        ])
        Case.objects.filter(pk__in=[c.pk for c in cases[::300]]).update(at_risk_since=start)
        Case.objects.filter(pk__in=[c.pk for c in cases[150::300]]).update(breach_count=1)
        bulk_cases(queue=queue, source=console_source, count=40, policy=policy_book["harassment"],
                   prefix=f"rare{n}", opened_at=start)
    # Only a table's owner may ANALYZE it: the application role's ANALYZE is skipped with a warning.
    with as_owner() as cursor:
        cursor.execute("ANALYZE cases_case; ANALYZE cases_report; ANALYZE cases_subject; ANALYZE reviews_review")
    return general


def _plans(queue, index, **filters):
    """The plans of the first page and of the page after it (the cursor taken from a real first page), each
    checked to contain `index` (a pattern) and no sequential scan of cases or reviews."""
    first = worklists.queue_cases(queue=queue, **filters)
    assert len(first.rows) == filters.get("page_size", worklists.PAGE_SIZE) and first.next_cursor
    plans = [_plan(worklists.queue_cases_query(queue=queue, cursor=c, **filters)) for c in (None, first.next_cursor)]
    for plan in plans:
        assert re.search(index, plan), plan
        assert "Seq Scan on cases_case" not in plan, plan
        assert "Seq Scan on reviews_review" not in plan, plan
    return plans


@pytest.mark.parametrize("sort, index", [
    ("priority", "case_queue_work_idx"),
    ("oldest", "case_queue_opened_idx"),
    ("newest", "case_queue_opened_idx"),
    ("due", "review_queue_due_idx"),
])
def test_every_sort_reads_its_index_in_order(big_queues, sort, index):
    plans = _plans(big_queues, index, sort=sort)
    for plan in plans:
        # read in list order: no sort of the whole queue (an incremental sort on the id tie-break is fine; the
        # first-report lookup per row, a SubPlan, sorts that case's reports)
        main = plan.split("SubPlan")[0]
        assert not re.search(r"^\s*(->\s+)?Sort  \(", main, re.MULTILINE), plan
    print("\n\n".join(plans))


def test_at_risk_reads_the_partial_index(big_queues):
    page = worklists.queue_cases(queue=big_queues, at_risk=True)
    assert len(page.rows) == 8 and all(r.at_risk_since or r.breach_count for r in page.rows)
    for sort in ("priority", "oldest", "due"):
        plan = _plan(worklists.queue_cases_query(queue=big_queues, at_risk=True, sort=sort))
        assert "case_queue_at_risk_idx" in plan, plan
        assert "Seq Scan on cases_case" not in plan, plan


def test_a_rare_policy_is_read_by_id(big_queues, policy_book):
    # the 200 ids read first are the condition on the cases (by primary key, or on this small queue's few rows
    # by its queue index); no walk of the queue probing each case's reports
    for plan in _plans(big_queues, r"\bid = ANY", policy=policy_book["harassment"], page_size=20):
        assert "Semi Join" not in plan and "u0.policy_id" not in plan.split("SubPlan")[0], plan
    # a common policy walks the sort index and keeps the cases with such a report
    _plans(big_queues, "case_queue_work_idx", policy=policy_book["spam"])


@pytest.mark.parametrize("sort", ["priority", "oldest"])
def test_a_rare_state_reads_the_partial_index(big_queues, sort):
    """Few open cases are escalated, on hold or decided: the filter reads
    case_queue_rare_state_idx instead of walking the queue for them."""
    cases = list(Case.objects.filter(queue=big_queues).order_by("opened_at", "id").values_list("pk", flat=True))
    Case.objects.filter(pk__in=cases[::200]).update(state="escalated")
    with as_owner() as cursor:
        cursor.execute("ANALYZE cases_case")
    page = worklists.queue_cases(queue=big_queues, state="escalated", sort=sort, page_size=3)
    assert [r.state for r in page.rows] == ["escalated"] * 3
    _plans(big_queues, "case_queue_rare_state_idx", state="escalated", sort=sort, page_size=3)
