"""The queue list: filters, sorting, cursor pagination (no duplicates and
no gaps even when the sort key ties), bad input as 400, fixed query count."""
import base64
import json
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases.models import Case, Queue
from cases.references import case_reference
from console.templatetags.console_tags import bidi_visible
from reviews import worklists
from reviews.models import Review

from .work_helpers import bulk_cases, make_at_risk, make_breached, make_queue

pytestmark = pytest.mark.django_db

QUEUE_URL = reverse("console:queue", args=["general"])


@pytest.fixture
def general(policy_book):
    return Queue.objects.get(slug="general")


def _ids(response):
    return [str(c.id) for c in response.context["page"].rows]


def _next_cursor(response):
    html = response.content.decode()
    match = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', html)
    if not match:
        return None
    return parse_qs(urlsplit(match.group(1).replace("&amp;", "&")).query)["cursor"][0]


def _all_pages(client, params):
    ids, cursor, pages = [], None, 0
    while pages < 10:
        response = client.get(QUEUE_URL, {**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.content[:500]
        pages += 1
        ids += _ids(response)
        if cursor:
            assert "First page" in response.content.decode()
        cursor = _next_cursor(response)
        if cursor is None:
            return ids, pages
    raise AssertionError("pagination does not end")


def _expected(order):
    return [str(pk) for pk in Case.objects.filter(queue__slug="general", closed_at__isnull=True)
            .order_by(*order).values_list("pk", flat=True)]


@pytest.mark.parametrize("sort, order", [
    ("priority", ["-priority", "opened_at", "id"]),
    ("oldest", ["opened_at", "id"]),
    ("newest", ["-opened_at", "-id"]),
])
def test_pages_cover_every_case_once_even_when_keys_tie(people, sign_in, general, console_source, policy_book,
                                                        sort, order):
    start = timezone.now() - timedelta(hours=5)
    # 130 cases: three priorities, and opening times shared by 10 cases each, so every sort key ties
    bulk_cases(queue=general, source=console_source, count=130, policy=policy_book["spam"],
               priority=lambda i: (100, 300, 500)[i % 3], opened_at=lambda i: start + timedelta(minutes=i // 10))
    client = sign_in(people["moderators"][0])
    params = {} if sort == "priority" else {"sort": sort}
    ids, pages = _all_pages(client, params)
    assert pages == 3
    assert len(ids) == len(set(ids)) == 130
    assert ids == _expected(order)


def test_default_sort_with_every_key_equal_pages_by_id(people, sign_in, general, console_source):
    same = timezone.now() - timedelta(hours=1)
    bulk_cases(queue=general, source=console_source, count=101, priority=300, opened_at=same)
    ids, pages = _all_pages(sign_in(people["moderators"][0]), {})
    assert pages == 3 and ids == sorted(ids) and len(set(ids)) == 101


def _due_pages(queue, page_size, **filters):
    seen, cursor, pages = [], None, 0
    while pages < 20:
        page = worklists.queue_cases(queue=queue, sort="due", cursor=cursor, page_size=page_size, **filters)
        pages += 1
        seen += [str(c.id) for c in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            return seen
    raise AssertionError("pagination does not end")


def test_due_soonest_sorts_by_the_active_review_deadline_then_cases_without_one(file_case, general, console_source):
    now = timezone.now()
    with_deadline = [file_case() for _ in range(6)]
    for i, case_id in enumerate(with_deadline):
        # pairs share a deadline (then the opening time decides)
        Review.objects.filter(case_id=case_id).update(due_at=now + timedelta(hours=6 - i // 2))
    Review.objects.filter(case_id=with_deadline[0]).update(state="on_hold", held_at=now)  # held: still listed
    # without a deadline: 9 cases with no review at all (3 opening times, so some tie), one decided case (its
    # review closed) and one whose stage has no SLA
    bulk_cases(queue=general, source=console_source, count=9,
               opened_at=lambda i: now - timedelta(hours=(3, 1, 2)[i % 3]))
    decided, no_sla = file_case(), file_case()
    Review.objects.filter(case_id=decided).update(state="consensus", closed_at=now)
    Case.objects.filter(pk=decided).update(state="decided", decided_at=now)
    Review.objects.filter(case_id=no_sla).update(due_at=None, warn_at=None)
    for page_size in (4, 5, 50):  # the deadlines end inside a page (4, 5) and on one page (50)
        seen = _due_pages(general, page_size)
        assert len(seen) == len(set(seen)) == 17, page_size
        due = {str(r.case_id): (r.due_at, r.case_opened_at, r.case_id) for r in
               Review.objects.filter(case_id__in=with_deadline)}
        assert seen[:6] == sorted(due, key=due.get)
        rest = {str(c.pk): (c.opened_at, c.pk) for c in Case.objects.exclude(pk__in=with_deadline)}
        assert seen[6:] == sorted(rest, key=rest.get)  # oldest first, ties by id
        assert str(decided) in seen and str(no_sla) in seen


def test_due_soonest_first_page_is_one_query_and_the_boundary_page_two(file_case, general, console_source,
                                                                        django_assert_num_queries):
    for _ in range(3):
        file_case()
    bulk_cases(queue=general, source=console_source, count=3)
    with django_assert_num_queries(1):
        page = worklists.queue_cases(queue=general, sort="due", page_size=2)
    with django_assert_num_queries(2):  # the deadlines run out on this page
        page = worklists.queue_cases(queue=general, sort="due", page_size=2, cursor=page.next_cursor)
    assert worklists.decode_cursor(page.next_cursor, "due")[0] == worklists.NO_DEADLINE
    with django_assert_num_queries(1):  # past the deadlines, only the second phase
        page = worklists.queue_cases(queue=general, sort="due", page_size=2, cursor=page.next_cursor)
    assert len(page.rows) == 2 and page.next_cursor is None


@pytest.mark.parametrize("rare_limit", [worklists.RARE_POLICY_CASES, 1])  # policies read by id / by the walk
def test_filters(people, sign_in, file_case, general, policy_book, monkeypatch, rare_limit):
    monkeypatch.setattr(worklists, "RARE_POLICY_CASES", rare_limit)
    spam_de = file_case(policy="spam", jurisdiction=["DE", "AT"])
    spam = file_case(policy="spam")
    hate_fr = file_case(policy="hate", jurisdiction=["FR"])
    # a second report citing harassment joins the spam case
    file_case(external_id="post-1", policy="harassment", reporter=("user", "r2"), jurisdiction=["FR"])
    at_risk = file_case(policy="other")
    breached = file_case(policy="other")
    make_at_risk(at_risk)
    make_breached(breached)
    Case.objects.filter(pk=hate_fr).update(priority=9000)
    Case.objects.filter(pk=spam).update(state="escalated")
    client = sign_in(people["moderators"][0])

    def ids(**params):
        response = client.get(QUEUE_URL, params)
        assert response.status_code == 200
        return set(_ids(response))

    everything = {str(x) for x in (spam_de, spam, hate_fr, at_risk, breached)}
    assert ids() == everything
    # the short reference finds the case, typed any way a person would (G6-11)
    ref = case_reference(hate_fr)
    assert ids(reference=ref) == {str(hate_fr)}
    assert ids(reference=ref.lower().replace("-", " ")) == {str(hate_fr)}
    assert ids(reference=ref.replace("0", "O").replace("1", "l")) == {str(hate_fr)}
    assert ids(reference=ref, policy="spam") == set()
    assert ids(policy="spam") == {str(spam_de), str(spam)}
    assert ids(policy="harassment") == {str(spam_de)}  # any report's policy counts
    assert ids(jurisdiction="fr") == {str(spam_de), str(hate_fr)}
    assert ids(jurisdiction="AT") == {str(spam_de)}
    assert ids(min_priority=9000) == {str(hate_fr)}
    assert ids(state="escalated") == {str(spam)}
    assert ids(at_risk="on") == {str(at_risk), str(breached)}
    assert ids(at_risk="on", sort="due") == {str(at_risk), str(breached)}
    assert ids(policy="harassment", sort="oldest") == {str(spam_de)}
    assert ids(policy="spam", jurisdiction="DE", state="in_review") == set()
    assert ids(policy="spam", jurisdiction="DE") == {str(spam_de)}


def test_closed_cases_are_not_listed(people, sign_in, general, console_source):
    closed, open_ = bulk_cases(queue=general, source=console_source, count=2)
    Case.objects.filter(pk=closed.pk).update(state="closed", closed_at=timezone.now())
    assert _ids(sign_in(people["moderators"][0]).get(QUEUE_URL)) == [str(open_.pk)]


def test_rows_show_sla_state_text_policy_and_escaped_subject(people, sign_in, file_case):
    hostile = "\u202e<script>alert('x')</script>" + "y" * 2000
    case_id = file_case(text=hostile, policy="hate")
    make_breached(case_id)
    ok = file_case(text="fine")
    html = sign_in(people["moderators"][0]).get(QUEUE_URL).content.decode()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html and "<script>alert" not in html
    assert "y" * 200 not in html
    assert 'class="sla sla-breached">Breached' in html and 'class="sla sla-ok">On time' in html
    assert "Hateful conduct" in html and reverse("console:case", args=[ok]) in html
    assert 'dir="auto"' in html


@pytest.mark.parametrize("params, field", [
    ({"min_priority": "abc"}, "min_priority"),
    ({"min_priority": str(2**40)}, "min_priority"),
    ({"state": "closed"}, "state"),
    ({"state": "<script>"}, "state"),
    ({"policy": "no-such-policy"}, "policy"),
    ({"jurisdiction": "DEU"}, "jurisdiction"),
    ({"jurisdiction": "1'"}, "jurisdiction"),
    ({"sort": "random"}, "sort"),
    ({"reference": "1JF3-K9Q7"}, "reference"),
    ({"reference": "1JF3-K9Q7-XZAU"}, "reference"),  # U is not in Crockford's alphabet
    ({"reference": "' OR 1=1 --"}, "reference"),
])
def test_invalid_filters_are_form_errors(people, sign_in, general, params, field):
    response = sign_in(people["moderators"][0]).get(QUEUE_URL, params)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert 'role="alert"' in response.content.decode()
    assert response.context["page"] is None


def _cursor(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "not base64 at all!!",
    "AAAA",
    _cursor({"a": 1}),
    _cursor(["priority", 1, "2026-01-01T00:00:00+00:00"]),
    _cursor(["priority", "x", "2026-01-01T00:00:00+00:00", "0190c5e4-0000-7000-8000-000000000000"]),
    _cursor(["priority", 2**40, "2026-01-01T00:00:00+00:00", "0190c5e4-0000-7000-8000-000000000000"]),
    _cursor(["priority", 1, "2026-01-01T00:00:00", "0190c5e4-0000-7000-8000-000000000000"]),  # no time zone
    _cursor(["priority", 1, "2026-01-01T00:00:00+00:00", "not-a-uuid"]),
    _cursor(["oldest", "2026-01-01T00:00:00+00:00", "0190c5e4-0000-7000-8000-000000000000"]),  # another sort
    _cursor(["priority", True, "2026-01-01T00:00:00+00:00", "0190c5e4-0000-7000-8000-000000000000"]),
    "x" * 600,
])
def test_bad_cursor_is_400_with_a_clear_message(people, sign_in, general, cursor):
    response = sign_in(people["moderators"][0]).get(QUEUE_URL, {"cursor": cursor})
    assert response.status_code == 400
    html = response.content.decode()
    assert "This page link is not valid" in html and "First page" in html


def test_a_valid_cursor_round_trips(general, console_source):
    bulk_cases(queue=general, source=console_source, count=3)
    page = worklists.queue_cases(queue=general, page_size=1)
    values = worklists.decode_cursor(page.next_cursor, "priority")
    assert values[0] == page.rows[0].priority and values[2] == page.rows[0].id


def test_unknown_queue_is_404(people, sign_in):
    assert sign_in(people["moderators"][0]).get(reverse("console:queue", args=["nope"])).status_code == 404


def test_queue_list_runs_the_same_number_of_queries_for_3_and_60_cases(people, sign_in, general, file_case,
                                                                        console_source, policy_book,
                                                                        django_assert_max_num_queries):
    client = sign_in(people["moderators"][0])
    params = {"policy": "spam", "jurisdiction": "DE", "at_risk": "", "min_priority": "0"}

    def count(**extra):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(QUEUE_URL, {**params, **extra})
            assert response.status_code == 200
        return len(ctx), len(response.context["page"].rows)

    for _ in range(3):
        make_at_risk(file_case(policy="spam", jurisdiction=["DE"]))
    client.get(QUEUE_URL)
    few, shown = count()
    assert shown == 3
    for i in range(57):
        case_id = file_case(policy="spam", jurisdiction=["DE"], text=f"case {i}")
        if i % 2:
            make_at_risk(case_id)
    many, shown = count()
    assert shown == 50
    assert few == many
    assert count(sort="due") == (many, 50)
    with django_assert_max_num_queries(8):
        client.get(QUEUE_URL, params)


def test_make_queue_helper_routes_new_cases(file_case, policy_book):
    make_queue("hate-queue", policy_book["hate"])
    case_id = file_case(policy="hate")
    assert Case.objects.get(pk=case_id).queue.slug == "hate-queue"


def test_hostile_corpus_is_inert_text_in_the_queue_list(people, sign_in, file_case):

    from .hostile_corpus import ALL

    corpus = [(name, text) for name, text in ALL if "\x00" not in text]  # PostgreSQL text cannot hold NUL
    for name, text in corpus:
        file_case(external_id=f"hostile-{name}", text=text)
    response = sign_in(people["moderators"][0]).get(QUEUE_URL, {"sort": "oldest"})
    assert response.status_code == 200
    html = response.content.decode()
    main = html[html.index("<main"):]
    for tag in ("<script", "<img", "<svg", "<iframe", "<style", "<div hx-get", "</textarea>", "</title>"):
        assert tag not in main, tag
    shown = [row.excerpt for row in response.context["page"].rows]
    for name, text in corpus:
        if len(text) <= 120:
            # escaped, directional controls wrapped in their visible marker (console_tags.bidi_visible)
            assert str(bidi_visible(text)) in html, name
            assert text in shown, name
    assert "A" * 121 not in html and "x" * 121 not in html  # the 100 KB texts are cut
