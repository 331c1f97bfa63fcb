"""My work (queues, counts, claimed seats, claim next), the escalations and
approvals page and the appeals page."""
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases.models import Case, Queue
from cases.references import case_reference
from reviews import services
from reviews.models import Outcome, Review, Seat, SeatState
from reviews.sweeps import sweep_breaches, sweep_warnings
from reviews.worklists import queue_overview

from .work_helpers import make_at_risk, make_breached, make_queue

pytestmark = pytest.mark.django_db

SHORTCUT = re.compile(rb'data-shortcut="n"')


def _row(response, slug):
    return next(r for r in response.context["queues"] if r.queue.slug == slug)


def _messages(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


# ---- My work ---------------------------------------------------------------------

def test_my_work_counts_per_queue(people, sign_in, file_case, policy_book):
    make_queue("hate-queue", policy_book["hate"], name="Hate")
    spam = [file_case(policy="spam") for _ in range(4)]
    hate = [file_case(policy="hate") for _ in range(2)]
    make_at_risk(spam[0])
    make_breached(spam[1])
    # the case was breached in an earlier stage, its current stage is on time: neither breached nor at
    # risk (the one definition, reviews.sla, shared with /metrics)
    Case.objects.filter(pk=hate[0]).update(breach_count=2)
    Case.objects.filter(pk=hate[1]).update(at_risk_since=timezone.now())
    # an older case makes the oldest age
    old = timezone.now() - timedelta(days=3)
    Review.objects.filter(case_id=spam[3]).update(case_opened_at=old)

    response = sign_in(people["moderators"][0]).get(reverse("console:my-work"))
    assert response.status_code == 200
    general, hate_row = _row(response, "general"), _row(response, "hate-queue")
    assert (general.waiting, general.at_risk, general.breached) == (4, 1, 1)
    assert general.oldest_opened_at == old
    assert (hate_row.waiting, hate_row.at_risk, hate_row.breached) == (2, 0, 0)
    assert general.workable and hate_row.workable
    html = response.content.decode()
    assert reverse("console:claim-next", args=["general"]) in html
    assert reverse("console:claim-next", args=["hate-queue"]) in html
    assert "3\xa0days ago" in html or "3 days ago" in html


def test_counts_follow_the_real_sla_sweeps(people, sign_in, file_case):
    warned, breached, fine = file_case(), file_case(), file_case()
    now = timezone.now()
    Review.objects.filter(case_id=warned).update(warn_at=now - timedelta(minutes=5), due_at=now + timedelta(hours=1))
    Review.objects.filter(case_id=breached).update(warn_at=now - timedelta(hours=2), due_at=now - timedelta(minutes=1))
    sweep_warnings(now=now)
    sweep_breaches(now=now)
    # the standard review stage times out into the senior stage, which is on time: the case keeps its
    # breach count, but My work and /metrics agree that no current stage is breached
    row = _row(sign_in(people["seniors"][0]).get(reverse("console:my-work")), "general")
    assert row.breached == 0 and row.at_risk == 1 and row.waiting == 3
    assert Case.objects.get(pk=breached).breach_count == 1
    assert Case.objects.get(pk=fine).at_risk_since is None
    metrics = Client().get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert "quorum_cases_breached 0.0" in metrics and "quorum_cases_at_risk 1.0" in metrics

    # the senior stage breaches too (recorded as a record-only stage's sweep leaves it): both count it
    make_breached(breached)
    cache.clear()
    row = _row(sign_in(people["seniors"][0]).get(reverse("console:my-work")), "general")
    assert row.breached == 1 and row.at_risk == 1
    metrics = Client().get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert "quorum_cases_breached 1.0" in metrics and "quorum_cases_at_risk 1.0" in metrics


def test_moderators_see_only_queues_with_work_for_their_groups(people, sign_in, file_case, policy_book):
    make_queue("empty", policy_book["hate"], name="Empty")
    make_queue("child", policy_book["child_safety"], name="Child")
    file_case(policy="spam")
    file_case(policy="child_safety")  # reviewed by seniors only
    response = sign_in(people["moderators"][0]).get(reverse("console:my-work"))
    assert [r.queue.slug for r in response.context["queues"]] == ["general"]
    # seniors work the child-safety queue; as leads they see every queue, the others read-only
    response = sign_in(people["seniors"][0]).get(reverse("console:my-work"))
    rows = {r.queue.slug: r for r in response.context["queues"]}
    assert set(rows) == {"general", "empty", "child"}
    assert rows["child"].workable and rows["child"].mine_waiting == 1
    assert not rows["general"].workable and rows["general"].waiting == 1
    assert not rows["empty"].workable
    html = response.content.decode()
    assert reverse("console:claim-next", args=["child"]) in html
    assert reverse("console:claim-next", args=["general"]) not in html
    assert "read only" in html


def test_shortcut_n_is_on_exactly_one_claim_button_the_first_with_work(people, sign_in, file_case, policy_book):
    make_queue("aaa", policy_book["hate"], name="Aaa")  # first by name, but nothing waiting for mod1 there
    hate = file_case(policy="hate")
    file_case(policy="spam")
    mod = people["moderators"][0]
    Review.objects.filter(case_id=hate).update(free_seats=0)  # every seat taken
    html = sign_in(mod).get(reverse("console:my-work")).content
    assert len(SHORTCUT.findall(html)) == 1
    button = re.search(rb'<form[^>]*action="([^"]+)"[^>]*data-once[^>]*>\s*<input[^>]*>\s*<button[^>]*data-shortcut="n"', html)
    assert button and button.group(1).decode() == reverse("console:claim-next", args=["general"])
    assert b"<kbd>n</kbd>" in html


def test_my_work_lists_claimed_seats_with_lease_countdown(people, sign_in, file_case):
    case_id = file_case(text="\u202eevil <b>bold</b>")
    mod = people["moderators"][0]
    seat = services.claim_next(moderator=mod, queue=Queue.objects.get(slug="general"))
    response = sign_in(mod).get(reverse("console:my-work"))
    assert [s.pk for s in response.context["seats"]] == [seat.pk]
    html = response.content.decode()
    assert reverse("console:case", args=[case_id]) in html
    assert f'data-countdown datetime="{timezone.localtime(seat.lease_expires_at).isoformat()}"' in html
    assert re.search(r"1[45]\xa0minutes left|1[45] minutes left", html)
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html
    assert 'class="reported-inline excerpt" dir="auto"' in html


def test_my_work_runs_a_fixed_number_of_queries(people, sign_in, file_case, policy_book,
                                                django_assert_max_num_queries):
    senior = people["seniors"][0]
    client = sign_in(senior)
    file_case()
    client.get(reverse("console:my-work"))  # warm the session

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("console:my-work")).status_code == 200
        return len(ctx)

    few = count()
    for code in ("hate", "violence", "privacy", "impersonation"):
        make_queue(f"q-{code}", policy_book[code])
        for _ in range(3):
            case_id = file_case(policy=code)
            make_at_risk(case_id)
    # Three different reviews (a random pick could draw one twice: one seat per moderator per review).
    for review in Review.objects.filter(state="open").order_by("pk")[:3]:
        Seat.objects.create(review=review, moderator=senior,
                            claimed_at=timezone.now(), lease_expires_at=timezone.now() + timedelta(minutes=10))
    many = count()
    assert few == many
    with django_assert_max_num_queries(8):
        client.get(reverse("console:my-work"))


def test_overview_is_three_queries(people, file_case, django_assert_num_queries):
    file_case()
    mod = people["moderators"][0]
    with django_assert_num_queries(3):  # the user's groups, the grouped counts, the queues
        rows, _ = queue_overview(user=mod)
    assert rows[0].waiting == 1


def test_overview_counts_are_shared_for_a_few_seconds(people, file_case, settings, django_assert_num_queries):
    """Counting touches every open review, so moderators with the same groups
    share the counts for CONSOLE_COUNTS_CACHE_SECONDS; the time they were
    taken comes with them (and is shown on the page)."""
    settings.CONSOLE_COUNTS_CACHE_SECONDS = 30
    cache.clear()
    file_case()
    mod1, mod2 = people["moderators"][:2]
    first, counted_at = queue_overview(user=mod1)
    assert first[0].waiting == 1
    file_case()
    with django_assert_num_queries(2):  # groups and queues: the counts come from the cache
        again, again_at = queue_overview(user=mod2)
    assert again[0].waiting == 1 and again_at == counted_at
    cache.clear()
    fresh, fresh_at = queue_overview(user=mod2)
    assert fresh[0].waiting == 2 and fresh_at > counted_at
    # a lead (other groups, everything visible) never gets a moderator's counts
    lead_rows, _ = queue_overview(user=people["seniors"][0], read_everything=True)
    assert lead_rows[0].waiting == 2
    cache.clear()


# ---- claim next ------------------------------------------------------------------------

def test_claim_next_gives_a_seat_and_redirects_to_the_case(people, sign_in, file_case):
    case_id = file_case()
    mod = people["moderators"][0]
    response = sign_in(mod).post(reverse("console:claim-next", args=["general"]))
    assert response.status_code == 302
    assert response["Location"] == reverse("console:case", args=[case_id])
    seat = Seat.objects.get(moderator=mod)
    assert seat.state == SeatState.CLAIMED and str(seat.review.case_id) == str(case_id)
    assert _messages(response) == [f"Claimed: Review on case {case_reference(case_id)}"]  # the short reference


def test_claim_next_with_nothing_waiting_says_so(people, sign_in, file_case):
    mod = people["moderators"][0]
    client = sign_in(mod)
    response = client.post(reverse("console:claim-next", args=["general"]))
    assert response.status_code == 302 and response["Location"] == reverse("console:my-work")
    assert _messages(response) == ["No case is waiting in General for you"]
    # the message is rendered in the live region on the next page
    file_case()
    client.post(reverse("console:claim-next", args=["general"]))
    response = client.post(reverse("console:claim-next", args=["general"]))  # own seat: not twice in one review
    page = client.get(response["Location"])
    assert "No case is waiting in General for you" in page.content.decode()
    assert Seat.objects.filter(moderator=mod).count() == 1


def test_claim_next_is_post_only_and_404_for_unknown_queues(people, sign_in, file_case):
    client = sign_in(people["moderators"][0])
    assert client.get(reverse("console:claim-next", args=["general"])).status_code == 405
    assert client.post(reverse("console:claim-next", args=["no-such-queue"])).status_code == 404


def test_auditors_cannot_claim_and_see_no_claim_buttons(people, sign_in, file_case):
    file_case()
    auditor = people["auditor"]
    client = sign_in(auditor)
    response = client.get(reverse("console:my-work"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "general" in html.lower() and "claim-next" not in html and "/work/claim/" not in html
    assert not SHORTCUT.search(response.content)
    # no invitation to do what the role cannot do (G6-15)
    assert "Claim the next case" not in html and "My claimed cases" not in html
    assert "does not claim them" in html
    assert client.post(reverse("console:claim-next", args=["general"])).status_code == 403
    assert client.post(reverse("console:claim-next", args=["nope"])).status_code == 403
    assert not Seat.objects.exists()
    # an auditor who is also in the moderator group still only reads
    auditor.groups.add(Group.objects.get(name="moderator"))
    client = sign_in(type(auditor).objects.get(pk=auditor.pk))
    assert client.post(reverse("console:claim-next", args=["general"])).status_code == 403
    assert "/work/claim/" not in client.get(reverse("console:my-work")).content.decode()


def test_moderators_without_seats_are_told_to_claim(people, sign_in):
    html = sign_in(people["moderators"][0]).get(reverse("console:my-work")).content.decode()
    assert "Claim the next case from a queue above" in html and "does not claim them" not in html


def test_outsiders_and_anonymous_users_cannot_use_my_work(people, sign_in):
    assert sign_in(people["outsider"]).get(reverse("console:my-work")).status_code == 403
    response = sign_in(people["outsider"]).post(reverse("console:claim-next", args=["general"]))
    assert response.status_code == 403


# ---- escalations and approvals ------------------------------------------------------------

def _vote_all(case_id, mods, outcome, policy, rationale="because"):
    queue = Queue.objects.get(slug="general")
    for mod in mods:
        seat = services.claim_next(moderator=mod, queue=queue)
        assert str(seat.review.case_id) == str(case_id)
        services.vote_cast(review_id=seat.review_id, reviewer=mod, outcome=outcome, policy=policy,
                           rationale=rationale)


@pytest.mark.parametrize("who, status", [("moderator", 403), ("senior", 200), ("admin", 200), ("auditor", 200),
                                         ("outsider", 403)])
def test_escalations_page_permissions(people, sign_in, who, status):
    user = {"moderator": people["moderators"][0], "senior": people["seniors"][0], "admin": people["admin"],
            "auditor": people["auditor"], "outsider": people["outsider"]}[who]
    response = sign_in(user).get(reverse("console:escalations"))
    assert response.status_code == status
    if status == 200:
        assert response.context["nav"] == "escalations"


def test_escalations_lists_escalations_approvals_and_senior_stages(people, sign_in, file_case, policy_book,
                                                                  django_assert_max_num_queries):
    mods, seniors = people["moderators"], people["seniors"]
    escalated = file_case(text="escalated one")
    services.case_escalate(case_id=escalated, actor_user=seniors[0], reason="<script>alert(1)</script> unsure")
    approval = file_case(text="approval one")
    _vote_all(approval, mods[:2], Outcome.objects.get(code="ban_account"), policy_book["spam"])
    split = file_case(text="split one")
    queue = Queue.objects.get(slug="general")
    seats = [services.claim_next(moderator=m, queue=queue) for m in mods[:3]]
    assert all(str(s.review.case_id) == str(split) for s in seats)
    for seat, code in zip(seats, ("label", "remove_content", "no_violation"), strict=True):
        services.vote_cast(review_id=seat.review_id, reviewer=seat.moderator, outcome=Outcome.objects.get(code=code),
                           policy=policy_book["spam"], rationale="r")
    child = file_case(policy="child_safety", text="child one")
    plain = file_case(text="plain review")
    Review.objects.filter(case_id=escalated, state="open").update(due_at=timezone.now() - timedelta(minutes=1))

    client = sign_in(seniors[1])
    client.get(reverse("console:escalations"))
    with django_assert_max_num_queries(6):
        response = client.get(reverse("console:escalations"))
    reviews = {str(r.case_id): r for r in response.context["reviews"]}
    assert set(reviews) == {str(escalated), str(approval), str(split), str(child)}
    assert str(plain) not in response.content.decode()
    assert reviews[str(escalated)].reason_label == "Escalated"
    assert reviews[str(escalated)].reason_detail == "<script>alert(1)</script> unsure"
    assert reviews[str(split)].reason_label == "Reviewers disagreed (split)"
    assert reviews[str(approval)].proposed_outcome.code == "ban_account"
    assert reviews[str(child)].reason_label == ""
    # most urgent first: the overdue escalation leads
    assert str(response.context["reviews"][0].case_id) == str(escalated)
    html = response.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; unsure" in html and "<script>alert(1)" not in html
    assert "Ban account" in html and "Breached" in html and "On time" in html
    assert reverse("console:case", args=[approval]) in html
    assert "Open to claim or assign" in html
    # auditors read it without the lead's claim/assign links
    auditor_html = sign_in(people["auditor"]).get(reverse("console:escalations")).content.decode()
    assert "Open to claim or assign" not in auditor_html and reverse("console:case", args=[approval]) in auditor_html


def test_escalations_query_count_does_not_grow(people, sign_in, file_case):
    client = sign_in(people["seniors"][0])

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("console:escalations")).status_code == 200
        return len(ctx)

    services.case_escalate(case_id=file_case(), actor_user=people["seniors"][0], reason="one")
    client.get(reverse("console:escalations"))
    few = count()
    for _ in range(6):
        services.case_escalate(case_id=file_case(), actor_user=people["seniors"][0], reason="more")
    assert count() == few
    assert len(client.get(reverse("console:escalations")).context["reviews"]) == 7


# ---- appeals ---------------------------------------------------------------------------------

@pytest.mark.parametrize("who, status", [("moderator", 403), ("senior", 200), ("admin", 200), ("auditor", 200),
                                         ("outsider", 403)])
def test_appeals_page_permissions(people, sign_in, who, status):
    user = {"moderator": people["moderators"][0], "senior": people["seniors"][0], "admin": people["admin"],
            "auditor": people["auditor"], "outsider": people["outsider"]}[who]
    response = sign_in(user).get(reverse("console:appeals"))
    assert response.status_code == status
    if status == 200:
        assert response.context["nav"] == "appeals"


def test_appeals_page_lists_open_and_decided_appeals(people, sign_in, file_case, policy_book, system_actor,
                                                    django_assert_max_num_queries):
    mods = people["moderators"]
    remove = Outcome.objects.get(code="remove_content")
    decided_case = file_case(text="first")
    _vote_all(decided_case, mods[:2], remove, policy_book["spam"])
    appeal = services.appeal_file(case_id=decided_case, appellant_kind="affected_user",
                                  statement="\u202e<img src=x onerror=alert(1)> not spam " + "x" * 5000,
                                  actor=system_actor)
    _vote_all(decided_case, mods[2:4], Outcome.objects.get(code="no_violation"), policy_book["spam"], rationale="")
    open_case = file_case(text="second")
    _vote_all(open_case, mods[:2], remove, policy_book["spam"])
    open_appeal = services.appeal_file(case_id=open_case, appellant_kind="reporter", statement="please look again",
                                       actor=system_actor)

    client = sign_in(people["seniors"][0])
    client.get(reverse("console:appeals"))
    with django_assert_max_num_queries(6):
        response = client.get(reverse("console:appeals"))
    assert [a.pk for a in response.context["open_appeals"]] == [open_appeal.pk]
    decided = response.context["decided_appeals"]
    assert [a.pk for a in decided] == [appeal.pk] and decided[0].result == "overturned"
    html = response.content.decode()
    assert "The reporter" in html and "The affected user" in html and "Overturned" in html
    assert "Remove content" in html and "No violation" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html
    assert "x" * 400 not in html  # the 5 KB statement is cut to an excerpt
    assert 'class="reported-inline excerpt" dir="auto"' in html
