"""What can be done on the case page: votes (blind 2 of 3, split to the
senior stage, double submission, bad input), escalation, hold and resume,
seats, notes — through the console views, with the real review services."""
import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.urls import reverse

from audit.models import AuditEvent
from cases.models import Case
from reviews.models import Decision, Review, ReviewNote, Seat, Vote
from reviews.services import claim_next, seat_assign


def _url(case_id, name="case", *extra):
    return reverse(f"console:{name}", args=[case_id, *extra])


def _review(case_id):
    return Review.objects.get(case_id=case_id, state__in=["open", "on_hold"])


def _seat(user, case_id):
    return seat_assign(review_id=_review(case_id).pk, moderator=user, lead=User.objects.get(username="admin1"))


def _vote(client, case_id, outcome="remove_content", policy="spam", rationale="clearly spam", **extra):
    data = {"review": str(_review(case_id).pk), "outcome": outcome, "policy": policy, "rationale": rationale, **extra}
    return client.post(_url(case_id, "vote"), data)


def _messages(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_two_of_three_consensus_through_the_console_makes_a_decision(people, file_case, sign_in):
    case_id = file_case()
    mod1, mod2 = people["moderators"][:2]
    _seat(mod1, case_id)
    _seat(mod2, case_id)
    first = _vote(sign_in(mod1), case_id, rationale="mod1 says spam")
    assert first.status_code == 302 and first["Location"] == reverse("console:my-work")
    assert _messages(first) == ["Your vote was recorded."]
    assert not Decision.objects.filter(case_id=case_id).exists()
    second = _vote(sign_in(mod2), case_id, rationale="mod2 agrees")
    assert second.status_code == 302
    decision = Decision.objects.get(case_id=case_id, is_current=True)
    assert decision.outcome.code == "remove_content" and decision.policy.code == "spam"
    assert Case.objects.get(pk=case_id).state == "decided"
    # after the close, everyone sees the votes
    html = sign_in(people["moderators"][2]).get(_url(case_id)).content.decode()
    assert "mod1 says spam" in html and "mod2 agrees" in html and html.count('class="vote-row"') == 2
    assert "Decisions on this case" in html and "Remove content" in html.split('id="history-heading"')[1]


def test_blind_stage_hides_the_other_reviewers_vote(people, file_case, sign_in):
    case_id = file_case()
    mod1, mod2 = people["moderators"][:2]
    _seat(mod1, case_id)
    _seat(mod2, case_id)
    _vote(sign_in(mod1), case_id, outcome="label", policy="hate", rationale="SECRET-RATIONALE-OF-MOD1")
    html = sign_in(mod2).get(_url(case_id)).content.decode()
    assert "SECRET-RATIONALE-OF-MOD1" not in html
    assert 'class="vote-row"' not in html and "1 vote cast; 2 matching votes decide." in html
    assert 'name="outcome"' in html  # mod2 can still vote
    stage = html.split('id="stage-heading"')[1].split("</section>")[0]
    assert "Label" not in stage and "Hateful conduct" not in stage
    # mod1 sees their own vote only
    own = sign_in(mod1).get(_url(case_id)).content.decode()
    assert "SECRET-RATIONALE-OF-MOD1" in own and own.count('class="vote-row"') == 1
    assert "You voted in this stage." in own and 'name="outcome"' not in own


def test_a_split_escalates_to_the_senior_stage_where_a_senior_decides(people, file_case, sign_in):
    case_id = file_case()
    mods = people["moderators"][:3]
    for mod in mods:
        _seat(mod, case_id)
    for mod, outcome in zip(mods, ["remove_content", "label", "no_violation"], strict=True):
        assert _vote(sign_in(mod), case_id, outcome=outcome, rationale=f"{mod.username} thinks {outcome}").status_code == 302
    review = _review(case_id)
    assert review.stage.key == "senior" and Case.objects.get(pk=case_id).state == "escalated"
    senior = people["seniors"][0]
    assert claim_next(moderator=senior, queue=review.queue).review_id == review.pk
    client = sign_in(senior)
    html = client.get(_url(case_id)).content.decode()
    assert "1 of 1" in html and ", blind" not in html.split('class="stage-rule"')[1].split("</dd>")[0]
    assert "Earlier stages of this case" in html and "mod3 thinks no_violation" in html  # the split, now visible
    assert 'name="outcome"' in html
    response = _vote(client, case_id, outcome="label", policy="spam", rationale="senior: label it")
    assert response.status_code == 302
    decision = Decision.objects.get(case_id=case_id, is_current=True)
    assert decision.outcome.code == "label" and decision.stage_key == "senior"


def test_double_submission_counts_one_vote_with_a_clear_message(people, file_case, sign_in):
    case_id = file_case()
    mod1 = people["moderators"][0]
    _seat(mod1, case_id)
    client = sign_in(mod1)
    assert _vote(client, case_id).status_code == 302
    again = _vote(client, case_id)
    assert again.status_code == 302 and again["Location"] == reverse("console:my-work")
    assert _messages(again)[-1] == "You had already cast this vote; it was counted once."
    assert Vote.objects.filter(review__case_id=case_id).count() == 1
    different = _vote(client, case_id, outcome="no_violation", rationale="")
    assert different.status_code == 409
    assert "You already voted in this stage" in different.content.decode()
    assert Vote.objects.filter(review__case_id=case_id).count() == 1


def test_htmx_vote_answers_with_hx_redirect(people, file_case, sign_in):
    case_id = file_case()
    mod1 = people["moderators"][0]
    _seat(mod1, case_id)
    data = {"review": str(_review(case_id).pk), "outcome": "no_violation", "policy": "spam", "rationale": ""}
    response = sign_in(mod1).post(_url(case_id, "vote"), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Redirect"] == reverse("console:my-work")
    assert Vote.objects.filter(review__case_id=case_id).count() == 1


@pytest.mark.parametrize(("data", "status", "message"), [
    ({"outcome": "suspend_account", "rationale": "bad"}, 400, "This outcome is time-limited"),
    ({"outcome": "remove_content", "rationale": "bad", "duration_days": "7"}, 400, "This outcome takes no duration"),
    ({"outcome": "remove_content", "rationale": ""}, 400, "Give a rationale"),
    ({"outcome": "remove_content", "rationale": "x", "duration_days": "0"}, 400, "greater than or equal to 1"),
    ({"outcome": "no_such_outcome", "rationale": "x"}, 400, "Select a valid choice"),
    ({"outcome": "", "rationale": "x"}, 400, "Choose one of the outcomes"),
])
def test_bad_votes_are_form_errors_not_500(data, status, message, people, file_case, sign_in):
    case_id = file_case()
    mod1 = people["moderators"][0]
    _seat(mod1, case_id)
    response = _vote(sign_in(mod1), case_id, **data)
    assert response.status_code == status
    html = response.content.decode()
    assert message in html and 'role="alert"' in html and 'class="vote-form" data-once' in html
    assert not Vote.objects.filter(review__case_id=case_id).exists()


def test_time_limited_vote_with_duration_is_accepted(people, file_case, sign_in):
    case_id = file_case()
    mod1 = people["moderators"][0]
    _seat(mod1, case_id)
    assert _vote(sign_in(mod1), case_id, outcome="suspend_account", duration_days="7").status_code == 302
    assert Vote.objects.get(review__case_id=case_id).duration_days == 7


def test_vote_posted_to_another_case_page_is_refused(people, file_case, sign_in):
    """A vote form names its review; posted under another case's address it
    is refused rather than counted on a case the page did not show."""
    seated, other = file_case(), file_case()
    mod1 = people["moderators"][0]
    _seat(mod1, seated)
    data = {"review": str(_review(seated).pk), "outcome": "remove_content", "policy": "spam", "rationale": "x"}
    response = sign_in(mod1).post(_url(other, "vote"), data)
    assert response.status_code == 400 and "belongs to another case" in response.content.decode()
    assert not Vote.objects.exists()


def test_vote_without_a_seat_is_a_conflict(people, file_case, sign_in):
    case_id = file_case()
    response = _vote(sign_in(people["moderators"][0]), case_id)
    assert response.status_code == 409 and "You hold no seat in this stage" in response.content.decode()
    assert not Vote.objects.exists()


def test_auditor_gets_403_on_every_post_that_changes_the_case(people, file_case, sign_in):
    case_id = file_case(media=[{"url": "https://media.example/a.png"}])
    client = sign_in(people["auditor"])
    review = str(_review(case_id).pk)
    posts = [(_url(case_id, name), {"review": review, "reason": "r", "text": "t", "seat": "1"})
             for name in ("vote", "escalate", "hold", "resume", "assign", "release", "renew", "note")]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    assert set(AuditEvent.objects.filter(stream=f"case:{case_id}").values_list("action", flat=True)) == {
        "case.opened"}


def test_auditor_may_reveal_media_on_the_record(people, file_case, sign_in):
    """Looking is reading: an auditor investigating a case may need to see
    the media; like everyone's, the look is audited."""
    case_id = file_case(media=[{"url": "https://media.example/a.png"}])
    client = sign_in(people["auditor"])
    page = client.get(_url(case_id)).content.decode()
    assert "Reveal media 1" in page
    assert client.post(_url(case_id, "reveal-media", 0)).status_code == 302
    event = AuditEvent.objects.get(stream=f"case:{case_id}", action="case.media_revealed")
    assert event.actor_name == "auditor1" and event.data["index"] == 0


def test_seated_moderator_escalates_with_a_reason(people, file_case, sign_in):
    case_id = file_case()
    mod1 = people["moderators"][0]
    _seat(mod1, case_id)
    client = sign_in(mod1)
    missing = client.post(_url(case_id, "escalate"), {"escalate-reason": ""})
    assert missing.status_code == 400 and "This field is required." in missing.content.decode()
    response = client.post(_url(case_id, "escalate"), {"escalate-reason": "needs a senior eye"})
    assert response.status_code == 302 and response["Location"] == _url(case_id)
    assert _review(case_id).stage.key == "senior" and Case.objects.get(pk=case_id).state == "escalated"
    event = AuditEvent.objects.get(stream=f"case:{case_id}", action="case.escalated")
    assert event.data["reason"] == "needs a senior eye" and event.actor_name == "mod1"


def test_unseated_moderator_cannot_escalate(people, file_case, sign_in):
    case_id = file_case()
    response = sign_in(people["moderators"][0]).post(_url(case_id, "escalate"), {"escalate-reason": "why not"})
    assert response.status_code == 409 and "Only a reviewer holding a seat" in response.content.decode()
    assert _review(case_id).stage.key == "review"


def test_lead_holds_and_resumes_and_moderator_may_not(people, file_case, sign_in):
    case_id = file_case()
    assert sign_in(people["moderators"][0]).post(_url(case_id, "hold"), {"hold-reason": "x"}).status_code == 403
    lead = sign_in(people["seniors"][0])
    assert lead.post(_url(case_id, "hold"), {"hold-reason": ""}).status_code == 400
    assert lead.post(_url(case_id, "hold"), {"hold-reason": "waiting for the platform"}).status_code == 302
    assert Case.objects.get(pk=case_id).state == "on_hold"
    html = lead.get(_url(case_id)).content.decode()
    assert _url(case_id, "resume") in html and "(clock stopped while on hold)" in html
    assert lead.post(_url(case_id, "resume"), {"resume-reason": ""}).status_code == 302
    assert Case.objects.get(pk=case_id).state == "open"


def test_lead_assigns_a_seat_and_eligibility_errors_are_conflicts(people, file_case, sign_in):
    case_id = file_case()
    lead = sign_in(people["seniors"][0])
    review = str(_review(case_id).pk)
    mod2 = people["moderators"][1]
    response = lead.post(_url(case_id, "assign"), {"review": review, "moderator": mod2.pk})
    assert response.status_code == 302 and _messages(response) == ["mod2 was given a seat."]
    assert Seat.objects.get(review_id=review, moderator=mod2).assigned_by == people["seniors"][0]
    again = lead.post(_url(case_id, "assign"), {"review": review, "moderator": mod2.pk})
    assert again.status_code == 409 and "already holds a seat" in again.content.decode()
    not_in_group = lead.post(_url(case_id, "assign"), {"review": review, "moderator": people["seniors"][1].pk})
    assert not_in_group.status_code == 409
    assert sign_in(people["moderators"][0]).post(
        _url(case_id, "assign"), {"review": review, "moderator": mod2.pk}).status_code == 403


def test_release_renew_and_note(people, file_case, sign_in):
    case_id = file_case()
    mod1 = people["moderators"][0]
    seat = _seat(mod1, case_id)
    client = sign_in(mod1)
    before = seat.lease_expires_at
    renewed = client.post(_url(case_id, "renew"), {"seat": seat.pk})
    assert renewed.status_code == 302 and _messages(renewed)[-1].startswith("Your lease now runs until")
    seat.refresh_from_db()
    assert seat.lease_expires_at >= before
    noted = client.post(_url(case_id, "note"), {"review": str(_review(case_id).pk), "text": "asked the platform"})
    assert noted.status_code == 302 and ReviewNote.objects.get().text == "asked the platform"
    assert "asked the platform" in client.get(_url(case_id)).content.decode()
    released = client.post(_url(case_id, "release"), {"seat": seat.pk})
    assert released.status_code == 302 and _messages(released)[-1] == "You released your seat."
    seat.refresh_from_db()
    assert seat.state == "released"
    stale = client.post(_url(case_id, "renew"), {"seat": seat.pk})
    assert stale.status_code == 409
    other = sign_in(people["moderators"][1]).post(_url(case_id, "note"),
                                                  {"review": str(_review(case_id).pk), "text": "me too"})
    assert other.status_code == 409 and ReviewNote.objects.count() == 1


def test_vote_posts_need_post_and_a_valid_form(people, file_case, sign_in):
    case_id = file_case()
    client = sign_in(people["moderators"][0])
    assert client.get(_url(case_id, "vote")).status_code == 405
    assert client.post(_url(case_id, "vote"), {"review": "not-a-uuid"}).status_code == 400


def test_an_outcome_needing_approval_goes_to_four_eyes_and_a_senior_approves(people, file_case, sign_in):
    case_id = file_case()
    mod1, mod2 = people["moderators"][:2]
    for mod in (mod1, mod2):
        _seat(mod, case_id)
        assert _vote(sign_in(mod), case_id, outcome="ban_account", rationale="repeat offender").status_code == 302
    review = _review(case_id)
    assert review.stage.key == "approval" and review.proposed_outcome.code == "ban_account"
    senior = people["seniors"][0]
    _seat(senior, case_id)
    client = sign_in(senior)
    html = client.get(_url(case_id)).content.decode()
    assert 'name="decision" value="approve" data-shortcut="1"' in html and 'value="reject" data-shortcut="2"' in html
    assert 'name="outcome"' not in html and "Proposed" in html and "Ban account" in html
    reject = client.post(_url(case_id, "vote"), {"review": str(review.pk), "decision": "reject", "rationale": ""})
    assert reject.status_code == 400 and "Give a rationale" in reject.content.decode()
    approve = client.post(_url(case_id, "vote"), {"review": str(review.pk), "decision": "approve"})
    assert approve.status_code == 302
    decision = Decision.objects.get(case_id=case_id, is_current=True)
    assert decision.outcome.code == "ban_account" and decision.stage_key == "approval"
