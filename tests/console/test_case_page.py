"""The case page: what each role sees, and a fixed number of SQL queries
whatever the number of reports, reporters and earlier cases."""
import re

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from audit.models import AuditEvent
from cases.references import case_reference
from cases.services import case_close
from reviews.models import Review
from reviews.services import seat_assign, vote_cast

# base.html always has two forms: the language switcher and sign-out.
BASE_FORMS = 2
# Measured: 23 = session, user, groups; the reads of reviews.casefile and the stage tiers; the case.viewed audit
# write (5). The timeline's names come from what the case file read (reviews/timeline.py): no query here.
# + 2 for the signals panel (the subject's signals, linked accounts; 2 more when accounts are linked).
# + 2: the account's strikes and proposals (trust.selectors.account_standing, DSA Art. 23).
# + 1: the DSA statements of the case (dsa.selectors.case_statements).
PAGE_QUERIES = 29


def _url(case_id):
    return reverse("console:case", args=[case_id])


def _claim(user, case_id):
    """A seat in this very case (claim_next would take the queue's most urgent one)."""
    return seat_assign(review_id=_review(case_id).pk, moderator=user, lead=User.objects.get(username="admin1"))


def _review(case_id):
    return Review.objects.get(case_id=case_id, state__in=["open", "on_hold"])


def test_seated_moderator_sees_everything_needed_to_decide(people, file_case, sign_in):
    case_id = file_case(text="buy cheap pills", media=[{"url": "https://media.example/a.png", "sha256": "ab" * 32}],
                        url="https://forum.example/p/1", author="acct-1", description="this is spam")
    file_case(external_id="post-1", policy="harassment", reporter=("trusted_flagger", "tf1"),
              text="buy cheap pills, edited")
    file_case(external_id="post-1", policy="spam", reporter=("user", "u2"), text="buy cheap pills, edited")
    mod1 = people["moderators"][0]
    _claim(mod1, case_id)
    response = sign_in(mod1).get(_url(case_id))
    assert response.status_code == 200
    html = response.content.decode()
    # subject as first reported, and the latest text because it changed
    assert '<div class="reported-text" dir="auto">buy cheap pills</div>' in html
    assert "Latest text (changed since first reported)" in html and "buy cheap pills, edited" in html
    assert 'href="https://forum.example/p/1" rel="noopener noreferrer" target="_blank"' in html
    assert "acct-1" in html
    # media blurred, with a reveal button
    assert 'class="media-item blurred" id="media-0"' in html and "Reveal media 1" in html
    # reports by policy and reporter kind
    assert "Spam <span" in html and "Harassment and bullying" in html and "Trusted flagger" in html
    assert "this is spam" in html
    # the stage: rule, SLA with text and countdown, seat with lease
    assert "2 of 3, blind" in html
    assert '<span class="sla sla-ok">On time</span>' in html and "<time data-countdown" in html
    assert "mod1 <span class=\"badge\">you</span> · Claimed · lease" in html
    assert "0 votes cast; 2 matching votes decide." in html
    # the vote form: outcomes with shortcuts, default policy, rationale shortcut, one submission
    assert 'class="vote-form" data-once' in html
    assert 'value="no_violation" data-shortcut="1"' in html and "<kbd>1</kbd>" in html
    assert 'data-shortcut="r"' in html and 'name="duration_days"' in html
    assert '<option value="spam" selected>' in html  # the most reported policy
    # actions of a seated moderator; none of a lead
    for action in ("renew", "release", "escalate", "note"):
        assert reverse(f"console:{action}", args=[case_id]) in html
    for action in ("hold", "assign"):
        assert reverse(f"console:{action}", args=[case_id]) not in html
    # the timeline
    assert "Seat claimed or assigned" in html and "Case opened" in html and "Report filed into an open case" in html


def test_opening_the_page_is_audited_once_per_get(people, file_case, sign_in):
    case_id = file_case()
    client = sign_in(people["moderators"][0])
    client.get(_url(case_id))
    client.get(_url(case_id))
    viewed = AuditEvent.objects.filter(stream=f"case:{case_id}", action="case.viewed")
    assert viewed.count() == 2
    assert set(viewed.values_list("actor_name", flat=True)) == {"mod1"}


def test_moderator_without_seat_sees_claim_hint_and_no_vote_form(people, file_case, sign_in):
    case_id = file_case()
    _claim(people["moderators"][0], case_id)
    html = sign_in(people["moderators"][1]).get(_url(case_id)).content.decode()
    assert 'class="claim-hint"' in html and "Claim: 2 seats are free in this stage." in html
    assert 'name="outcome"' not in html and reverse("console:vote", args=[case_id]) not in html
    assert reverse("console:release", args=[case_id]) not in html


def test_no_claim_hint_when_every_seat_is_taken(people, file_case, sign_in):
    case_id = file_case()
    for mod in people["moderators"][:3]:
        _claim(mod, case_id)
    html = sign_in(people["moderators"][3]).get(_url(case_id)).content.decode()
    assert "claim-hint" not in html and "no seat is free" in html


def test_auditor_reads_everything_with_no_form_but_reveal(people, file_case, sign_in):
    case_id = file_case(text="evidence", media=[{"url": "https://media.example/a.png"}], description="why")
    _claim(people["moderators"][0], case_id)
    response = sign_in(people["auditor"]).get(_url(case_id))
    assert response.status_code == 200
    html = response.content.decode()
    assert "evidence" in html and "why" in html and "Seat claimed or assigned" in html and "2 of 3, blind" in html
    assert html.count("<form") == BASE_FORMS + 1  # the one media item's reveal button (audited)
    assert "Reveal media 1" in html and 'name="outcome"' not in html and "claim-hint" not in html
    assert "Read-only" in html


def test_lead_sees_hold_and_assign_with_eligible_moderators(people, file_case, sign_in):
    case_id = file_case()
    _claim(people["moderators"][0], case_id)
    html = sign_in(people["seniors"][0]).get(_url(case_id)).content.decode()
    assert reverse("console:hold", args=[case_id]) in html and reverse("console:assign", args=[case_id]) in html
    assert reverse("console:escalate", args=[case_id]) in html
    options = html.split('id="assign-moderator"')[1].split("</select>")[0]
    assert ">mod2<" in options and ">mod1<" not in options  # mod1 already holds a seat
    assert 'name="outcome"' not in html  # a lead without a seat does not vote


def test_outsider_without_console_role_is_refused(people, file_case, sign_in):
    case_id = file_case()
    assert sign_in(people["outsider"]).get(_url(case_id)).status_code == 403


def test_unknown_case_is_404(people, sign_in):
    assert sign_in(people["moderators"][0]).get(_url("01a21d1d-1b79-739a-9f83-7971bd76dcbd")).status_code == 404


def test_reports_are_grouped_by_policy_and_reporter_kind(people, file_case, sign_in):
    case_id = file_case(external_id="p", policy="spam", reporter=("user", "u1"))
    for i in range(2, 5):
        file_case(external_id="p", policy="spam", reporter=("user", f"u{i}"))
    file_case(external_id="p", policy="spam", reporter=("user", ""))
    file_case(external_id="p", policy="hate", reporter=("trusted_flagger", "tf"), description="slur")
    html = sign_in(people["moderators"][0]).get(_url(case_id)).content.decode()
    spam = html.split("Spam <span")[1].split("</tbody>")[0]
    assert "5 reports in total" in spam and "most reported" in spam
    cells = [c.split("</td>")[0] for c in spam.split('<td class="num">')[1:]]
    assert cells == ["5", "4", "1"]  # reports, named reporters, anonymous
    hate = html.split("Hateful conduct <span")[1].split("</tbody>")[0]
    assert "1 report in total" in hate and "Trusted flagger" in hate


def _decide(case_id, mods, outcome, policy, rationale="clear case"):
    review = _review(case_id)
    for mod in mods:
        _claim(mod, case_id)
        vote_cast(review_id=review.pk, reviewer=mod, outcome=outcome, policy=policy, rationale=rationale)


def test_history_shows_earlier_cases_and_decisions_and_related_content(
        people, file_case, sign_in, policy_book, system_actor):
    from reviews.models import Outcome

    remove = Outcome.objects.get(code="remove_content")
    mods = people["moderators"]
    digest = "cd" * 32
    first = file_case(external_id="post-a", author="acct-9", text="first time")
    _decide(first, mods[:2], remove, policy_book["spam"])
    case_close(case_id=first, actor=system_actor, reason="done")
    other = file_case(external_id="post-b", author="acct-9", text="other post by the same author")
    same_media = file_case(external_id="post-c", author="acct-7", media=[{"url": "https://m.example/x", "sha256": digest}])
    unrelated = file_case(external_id="post-d", author="acct-8")
    current = file_case(external_id="post-a", author="acct-9", text="again",
                        media=[{"url": "https://m.example/y", "sha256": digest}])
    assert current != first
    html = sign_in(mods[2]).get(_url(current)).content.decode()
    history = html.split('id="history-heading"')[1].split("</section>")[0]
    assert reverse("console:case", args=[first]) in history and "Same subject" in history
    assert "Remove content (spam)" in history
    assert reverse("console:case", args=[other]) in history and "Other content by the author" in history
    assert reverse("console:case", args=[same_media]) in history and "Same media (hash)" in history
    assert reverse("console:case", args=[unrelated]) not in history
    header = html.split('class="case-header"')[1].split("</header>")[0]
    assert reverse("console:case", args=[first]) in header  # "follows the previous case"


def _page_queries(client, case_id, django_assert_max_num_queries, bound):
    client.get(_url(case_id))  # warm-up: per-process caches
    with django_assert_max_num_queries(bound) as captured:
        response = client.get(_url(case_id))
    assert response.status_code == 200
    return len(captured.captured_queries), response.content.decode()


def test_query_count_is_fixed_whatever_the_case_size(people, file_case, sign_in, policy_book,
                                                     django_assert_max_num_queries):
    from reviews.models import Outcome

    mods = people["moderators"]
    small = file_case(external_id="small", author="acct-s", media=[{"url": "https://m.example/s", "sha256": "1" * 64}])
    # a big case: 50 reports from 50 reporters of every kind and several policies, with descriptions;
    # the author has earlier decided cases and other content
    remove = Outcome.objects.get(code="remove_content")
    for i in range(3):
        earlier = file_case(external_id=f"earlier-{i}", author="acct-b")
        _decide(earlier, mods[3:5], remove, policy_book["spam"])
    for i in range(3):
        file_case(external_id=f"other-{i}", author="acct-b")
    kinds = ["user", "trusted_flagger", "staff", "automated"]
    policies = ["spam", "hate", "harassment", "violence"]
    big = None
    for i in range(50):
        case_id = file_case(external_id="big", author="acct-b", policy=policies[i % 4],
                            reporter=(kinds[i % 4], f"reporter-{i}"), description=f"description {i}",
                            media=[{"url": "https://m.example/b", "sha256": "2" * 64}])
        big = big or case_id
        assert case_id == big
    for case_id in (small, big):
        _claim(mods[0], case_id)
        _claim(mods[1], case_id)
    review = _review(big)
    vote_cast(review_id=review.pk, reviewer=mods[1], outcome=remove, policy=policy_book["spam"], rationale="x")
    client = sign_in(mods[0])
    small_count, _ = _page_queries(client, small, django_assert_max_num_queries, PAGE_QUERIES)
    big_count, html = _page_queries(client, big, django_assert_max_num_queries, PAGE_QUERIES)
    assert "50 reports from 50 reporter(s)" in html and html.count("Other content by the author") == 6
    assert small_count == big_count


def test_votes_stay_hidden_in_the_timeline_while_blind(people, file_case, sign_in, policy_book):
    from reviews.models import Outcome

    case_id = file_case()
    mod1, mod2 = people["moderators"][:2]
    _claim(mod1, case_id)
    _claim(mod2, case_id)
    vote_cast(review_id=_review(case_id).pk, reviewer=mod1, outcome=Outcome.objects.get(code="label"),
              policy=policy_book["hate"], rationale="needs a label")
    html = sign_in(mod2).get(_url(case_id)).content.decode()
    event = _timeline_entry(html, "Vote cast")
    assert "<dt>votes cast</dt>" in event
    assert "<dt>outcome</dt>" not in event and "<dt>policy</dt>" not in event and "Hateful conduct" not in event
    own = _timeline_entry(sign_in(mod1).get(_url(case_id)).content.decode(), "Vote cast")
    assert "<dt>outcome</dt><dd><span class=\"reported-inline\" dir=\"auto\">Label</span>" in own
    assert "<dt>policy</dt><dd><span class=\"reported-inline\" dir=\"auto\">Hateful conduct</span>" in own


def _timeline_entry(html, label):
    timeline = html.split('id="timeline-heading"')[1].split("</section>")[0]
    return next(item for item in timeline.split("<li>") if f"<strong>{label}</strong>" in item)


@pytest.mark.parametrize("role", ["moderator", "senior", "auditor"])
def test_pages_are_escaped_and_lang_aware_for_each_role(role, people, file_case, sign_in):
    user = {"moderator": people["moderators"][0], "senior": people["seniors"][0], "auditor": people["auditor"]}[role]
    case_id = file_case(text="<b>bold</b>")
    response = sign_in(user).get(_url(case_id), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    html = response.content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html
    assert html.count("<h1") == 1


def test_timeline_shows_the_latest_200_events_and_says_so(people, file_case, sign_in):
    from cases.services import case_view_record

    case_id = file_case()
    auditor = people["auditor"]
    for _ in range(205):
        case_view_record(case_id=case_id, user=auditor)
    html = sign_in(people["seniors"][0]).get(_url(case_id)).content.decode()
    timeline = html.split('id="timeline-heading"')[1].split("</section>")[0]
    assert "Showing the latest 200 of 206 events." in timeline
    assert timeline.count("<li>") == 200 and "Case opened" not in timeline  # the oldest event is cut
    assert "Case page opened in the console" in timeline and "auditor1" in timeline


def test_timeline_speaks_german(people, file_case, sign_in):
    """Audit action names are translatable too: a German moderator reads a German timeline."""
    case_id = file_case()
    client = sign_in(people["moderators"][0])
    client.cookies["django_language"] = "de"
    html = client.get(_url(case_id)).content.decode()
    assert '<html lang="de"' in html
    assert "Fall eröffnet" in html and "Case opened" not in html


def test_case_pages_have_distinct_titles(people, file_case, sign_in):
    """UUIDv7 ids filed in the same millisecond share their first characters: the title uses the
    random tail and the subject, so two cases open in two tabs are told apart (WCAG 2.4.2)."""
    first, second = file_case(external_id="alpha-post"), file_case(external_id="beta-post")
    client = sign_in(people["auditor"])
    titles = [re.search(r"<title>(.*?)</title>", client.get(_url(c)).content.decode(), re.S).group(1)
              for c in (first, second)]
    assert titles[0] != titles[1]
    assert case_reference(first) in titles[0] and "alpha-post" in titles[0]
    assert case_reference(second) in titles[1] and "beta-post" in titles[1]
