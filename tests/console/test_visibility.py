"""Per-team visibility through the console (Django client, PostgreSQL): a
child-safety queue restricted to the "child-safety" group. A moderator, and
a senior outside the team, cannot list, count, search, open, claim or act
on its cases, nor see them among related cases, on the seniors' list or in
the dashboard; a hidden case answers exactly like a missing one (404) and
the attempt is audited. Members, admins and auditors see it. The platform
API is unaffected. List pages keep a fixed number of queries."""
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEvent
from audit.services import case_stream
from cases.models import Case
from reviews.models import Review, ReviewNote, Seat
from tests import visibility_fixtures

from .work_helpers import bulk_cases

pytestmark = pytest.mark.django_db

child_safety = visibility_fixtures.child_safety
file_any = visibility_fixtures.file_any

MISSING = "01900000-0000-7000-8000-000000000000"
MEDIA = [{"url": "https://m.example/a.jpg", "sha256": "ab" * 32}]


@pytest.fixture
def cases(child_safety, file_any):
    general = file_any("post-general", "spam", author="acct-1", media=MEDIA)
    restricted = file_any("post-restricted", "child_safety", author="acct-1", media=MEDIA,
                          text="restricted words")
    assert Case.objects.get(pk=restricted).queue_id == child_safety.queue.pk
    return str(general), str(restricted)


def _case_url(case_id, name="console:case", *args):
    return reverse(name, args=[case_id, *args])


def _denials(case_id):
    return list(AuditEvent.objects.filter(stream=case_stream(case_id), action="case.access_denied").order_by("seq"))


# ---- lists and counts ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["moderator", "senior"])
def test_outsiders_neither_list_nor_count_the_restricted_queue(cases, child_safety, sign_in, who):
    client = sign_in(getattr(child_safety, who))
    response = client.get(reverse("console:my-work"))
    assert response.status_code == 200
    assert "child-safety" not in {row.queue.slug for row in response.context["queues"]}
    html = response.content.decode()
    assert reverse("console:queue", args=["child-safety"]) not in html
    assert reverse("console:claim-next", args=["child-safety"]) not in html
    # the queue page answers like a queue that does not exist
    hidden = client.get(reverse("console:queue", args=["child-safety"]))
    missing = client.get(reverse("console:queue", args=["no-such-queue"]))
    assert hidden.status_code == missing.status_code == 404


@pytest.mark.parametrize("who", ["member", "auditor", "admin"])
def test_members_auditors_and_admins_list_the_restricted_queue(cases, child_safety, sign_in, who):
    client = sign_in(getattr(child_safety, who))
    response = client.get(reverse("console:my-work"))
    row = next(r for r in response.context["queues"] if r.queue.slug == "child-safety")
    assert row.waiting == 1
    page = client.get(reverse("console:queue", args=["child-safety"]))
    assert page.status_code == 200
    assert [str(r.pk) for r in page.context["page"].rows] == [cases[1]]


def test_seniors_list_and_dashboard_leave_the_restricted_case_out(cases, child_safety, sign_in):
    _, restricted = cases
    outsider, member = sign_in(child_safety.senior), sign_in(child_safety.member)
    assert restricted not in {str(r.case_id) for r in outsider.get(reverse("console:escalations")).context["reviews"]}
    assert restricted in {str(r.case_id) for r in member.get(reverse("console:escalations")).context["reviews"]}

    outsider_figures = outsider.get(reverse("console:dashboard")).context["figures"]
    member_figures = member.get(reverse("console:dashboard")).context["figures"]
    assert "child-safety" not in {q.slug for q in outsider_figures.backlog}
    assert sum(q.total for q in outsider_figures.backlog) == 1
    assert sum(q.total for q in member_figures.backlog) == 2
    assert "Child safety" not in outsider.get(reverse("console:dashboard")).content.decode()


def test_related_and_history_never_show_the_restricted_case(cases, child_safety, sign_in):
    general, restricted = cases
    outsider_html = sign_in(child_safety.moderator).get(_case_url(general)).content.decode()
    assert _case_url(restricted) not in outsider_html and "restricted words" not in outsider_html
    member_html = sign_in(child_safety.member).get(_case_url(general)).content.decode()
    assert _case_url(restricted) in member_html


def test_the_follows_link_never_points_at_a_hidden_earlier_case(child_safety, file_any, sign_in, system_actor):
    from cases.services import case_close

    earlier = str(file_any("post-x", "child_safety", text="restricted words"))
    case_close(case_id=earlier, actor=system_actor, reason="done")
    later = str(file_any("post-x", "spam", text="later words"))
    assert str(Case.objects.get(pk=later).previous_case_id) == earlier
    outsider_html = sign_in(child_safety.moderator).get(_case_url(later)).content.decode()
    assert "later words" in outsider_html and _case_url(earlier) not in outsider_html
    member_html = sign_in(child_safety.member).get(_case_url(later)).content.decode()
    header = member_html.split('class="case-header"')[1].split("</header>")[0]
    assert _case_url(earlier) in header


# ---- opening and acting ----------------------------------------------------------------------------------------

def test_a_hidden_case_answers_like_a_missing_one_and_the_attempt_is_audited(cases, child_safety, sign_in):
    _, restricted = cases
    client = sign_in(child_safety.moderator)
    hidden = client.get(_case_url(restricted))
    missing = client.get(_case_url(MISSING))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content == missing.content
    assert "restricted words" not in hidden.content.decode()
    (denial,) = _denials(restricted)
    assert denial.actor_name == child_safety.moderator.username and denial.actor_id == str(child_safety.moderator.pk)
    assert denial.data == {"path": _case_url(restricted)}
    assert not AuditEvent.objects.filter(stream=case_stream(restricted), action="case.viewed").exists()
    assert not AuditEvent.objects.filter(action="case.access_denied").exclude(stream=case_stream(restricted)).exists()


ACTIONS = ["vote", "claim", "escalate", "hold", "resume", "assign", "release", "renew", "note"]


def test_every_action_under_a_hidden_case_is_404_changes_nothing_and_is_audited(cases, child_safety, sign_in):
    _, restricted = cases
    review = Review.objects.get(case_id=restricted, state="open")
    state_before = Case.objects.get(pk=restricted).state
    senior = child_safety.senior  # a lead in the workflow's reviewer group, but not in the team
    client = sign_in(senior)
    posts = {
        "vote": {"review": review.pk, "outcome": "no_violation", "policy": "child_safety", "then": "claim-next"},
        "claim": {"review": review.pk},
        "escalate": {"escalate-reason": "look"}, "hold": {"hold-reason": "wait"}, "resume": {},
        "assign": {"review": review.pk, "moderator": senior.pk}, "release": {"seat": 1}, "renew": {"seat": 1},
        "note": {"review": review.pk, "text": "I was here"},
    }
    for action in ACTIONS:
        response = client.post(_case_url(restricted, f"console:{action}"), posts[action])
        assert response.status_code == 404, action
    response = client.post(_case_url(restricted, "console:reveal-media", 0))
    assert response.status_code == 404
    assert len(_denials(restricted)) == len(ACTIONS) + 1
    assert {d.data["path"] for d in _denials(restricted)} >= {_case_url(restricted, "console:vote")}
    assert not Seat.objects.filter(review__case_id=restricted).exists()
    assert not ReviewNote.objects.filter(review__case_id=restricted).exists()
    assert not AuditEvent.objects.filter(stream=case_stream(restricted), action="case.media_revealed").exists()
    assert Case.objects.get(pk=restricted).state == state_before
    assert Review.objects.get(pk=review.pk).state == "open"


def test_claim_next_never_hands_out_a_restricted_case(cases, child_safety, sign_in):
    _, restricted = cases
    outsider = sign_in(child_safety.senior)  # in the stage's group (senior_moderator), not in the team
    response = outsider.post(reverse("console:claim-next", args=["child-safety"]))
    assert response.status_code == 404
    assert not Seat.objects.filter(moderator=child_safety.senior).exists()
    member = sign_in(child_safety.member)
    response = member.post(reverse("console:claim-next", args=["child-safety"]))
    assert response.status_code == 302 and response["Location"] == _case_url(restricted)
    assert Seat.objects.filter(moderator=child_safety.member, review__case_id=restricted, state="claimed").exists()


def test_a_lead_cannot_give_a_seat_to_someone_outside_the_team(cases, child_safety, sign_in):
    _, restricted = cases
    review = Review.objects.get(case_id=restricted, state="open")
    lead = sign_in(child_safety.member)
    page = lead.get(_case_url(restricted))
    assert child_safety.senior.username not in {u.username for u in page.context["cf"].assignable}
    response = lead.post(_case_url(restricted, "console:assign"),
                         {"review": review.pk, "moderator": child_safety.senior.pk})
    assert response.status_code == 400
    assert "may not see this case" in response.content.decode()
    assert not Seat.objects.filter(moderator=child_safety.senior).exists()


@pytest.mark.parametrize("who", ["member", "auditor", "admin"])
def test_members_auditors_and_admins_open_the_case(cases, child_safety, sign_in, who):
    _, restricted = cases
    response = sign_in(getattr(child_safety, who)).get(_case_url(restricted))
    assert response.status_code == 200 and "restricted words" in response.content.decode()
    assert _denials(restricted) == []


def test_auditors_can_be_configured_out(cases, child_safety, sign_in, settings):
    _, restricted = cases
    settings.VISIBILITY_AUDITORS_SEE_ALL = False
    client = sign_in(child_safety.auditor)
    assert client.get(_case_url(restricted)).status_code == 404
    assert len(_denials(restricted)) == 1
    assert "child-safety" not in {r.queue.slug for r in client.get(reverse("console:my-work")).context["queues"]}


# ---- the audit view --------------------------------------------------------------------------------------------

def test_audit_search_and_verify_hide_the_restricted_case(cases, child_safety, sign_in):
    general, restricted = cases
    outsider = sign_in(child_safety.senior)
    everything = outsider.get(reverse("console:audit"))
    streams = {row[0].stream for row in everything.context["rows"]}
    assert case_stream(general) in streams and case_stream(restricted) not in streams
    by_case = outsider.get(reverse("console:audit"), {"case": restricted})
    assert by_case.status_code == 200 and by_case.context["rows"] == []
    verify_hidden = outsider.post(reverse("console:audit-verify", args=[restricted]))
    verify_missing = outsider.post(reverse("console:audit-verify", args=[MISSING]))
    assert verify_hidden.status_code == verify_missing.status_code == 404
    assert len(_denials(restricted)) == 1

    auditor = sign_in(child_safety.auditor)
    rows = auditor.get(reverse("console:audit"), {"case": restricted}).context["rows"]
    assert {row[0].stream for row in rows} == {case_stream(restricted)}
    # the denial itself is on the case's record, where the team and the auditors see it
    assert "case.access_denied" in {row[0].action for row in rows}
    assert auditor.post(reverse("console:audit-verify", args=[restricted]), HTTP_HX_REQUEST="true").status_code == 200


# ---- the platform API is unaffected ----------------------------------------------------------------------------

def test_the_platform_api_still_sees_its_own_restricted_cases(child_safety, make_api_client):
    client, key = make_api_client()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    body = {"subject": {"kind": "content", "external_id": "api-1", "text": "x"}, "policy": "child_safety"}
    created = api.post("/api/v1/reports", json.dumps(body), content_type="application/json")
    assert created.status_code == 201, created.content
    case_id = created.json()["case"]["id"]
    assert Case.objects.get(pk=case_id).queue_id == child_safety.queue.pk
    assert api.get(f"/api/v1/cases/{case_id}").status_code == 200


# ---- a fixed number of queries ---------------------------------------------------------------------------------

def _queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx)


def test_list_pages_keep_a_fixed_number_of_queries(cases, child_safety, sign_in, console_source, policy_book):
    pages = [reverse("console:my-work"), reverse("console:queue", args=["general"]), reverse("console:escalations"),
             reverse("console:appeals"), reverse("console:audit"), reverse("console:dashboard")]
    clients = {"outsider": sign_in(child_safety.senior), "member": sign_in(child_safety.member)}
    for client in clients.values():
        for url in pages:
            client.get(url)  # warm the session
    before = {(who, url): _queries(client, url) for who, client in clients.items() for url in pages}
    bulk_cases(queue=child_safety.queue, source=console_source, count=30, policy=policy_book["child_safety"],
               prefix="cs")
    bulk_cases(queue=Case.objects.get(pk=cases[0]).queue, source=console_source, count=30,
               policy=policy_book["spam"], prefix="gen")
    after = {(who, url): _queries(client, url) for who, client in clients.items() for url in pages}
    assert after == before
