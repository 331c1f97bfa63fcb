"""Moderator throughput on the case page: "Cast vote and claim next" as one
action, "Claim this case" from its own page, and landing on the next case
held after a plain vote. Everything through the review services, audited,
CSRF-protected; the abuses (repeated submissions, claiming a case one may
not review, a stale form, a form without its token) change nothing."""
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from cases.models import Case, Source
from cases.references import case_reference
from reviews.models import ModeratorIdentity, Review, Seat, SeatState, Vote


def _url(name, case_id):
    return reverse(f"console:{name}", args=[case_id])


def _review(case_id):
    return Review.objects.get(case_id=case_id, state__in=["open", "on_hold"])


def _claim(client, case_id):
    response = client.post(_url("claim", case_id), {"review": _review(case_id).pk})
    if response.status_code == 302:
        client.get(reverse("console:my-work"))  # shows (and so consumes) the claim's message
    return response


def _vote(client, case_id, *, then=None, rationale="clearly spam", outcome="remove_content"):
    data = {"review": _review(case_id).pk, "outcome": outcome, "policy": "spam", "rationale": rationale}
    if then:
        data["then"] = then
    return client.post(_url("vote", case_id), data)


def _messages(response):
    return [str(m) for m in response.wsgi_request._messages]


def _seats(user, state=SeatState.CLAIMED):
    return {str(s.review.case_id) for s in Seat.objects.filter(moderator=user, state=state).select_related("review")}


# ---- claim this case from its page --------------------------------------------------------------------------

def test_claim_this_case_from_its_page(people, file_case, sign_in):
    first, second = file_case(), file_case()
    mod = people["moderators"][0]
    client = sign_in(mod)
    html = client.get(_url("case", second)).content.decode()
    assert "Claim this case" in html and _url("claim", second) in html and 'name="outcome"' not in html

    response = _claim(client, second)  # the second case, not the queue's first: chosen from its page
    assert response.status_code == 302 and response["Location"] == _url("case", second) + "#vote-panel"
    assert _seats(mod) == {str(second)}
    assert Case.objects.get(pk=second).state == "in_review" and Case.objects.get(pk=first).state == "open"
    claimed = AuditEvent.objects.get(stream=f"case:{second}", action="review.seat_claimed")
    assert claimed.actor_name == "mod1" and claimed.data["moderator"] == "mod1" and claimed.data["assigned_by"] is None
    page = client.get(_url("case", second)).content.decode()
    assert 'name="outcome"' in page and "Claim this case" not in page


def test_a_repeated_claim_keeps_the_one_seat(people, file_case, sign_in):
    case_id = file_case()
    client = sign_in(people["moderators"][0])
    assert _claim(client, case_id).status_code == 302
    assert _claim(client, case_id).status_code == 302
    assert Seat.objects.filter(review__case_id=case_id).count() == 1
    assert AuditEvent.objects.filter(stream=f"case:{case_id}", action="review.seat_claimed").count() == 1
    assert _review(case_id).free_seats == 2


def test_the_last_seat_goes_once_and_the_latecomer_is_told(people, file_case, sign_in):
    case_id = file_case()
    mods = people["moderators"]
    for mod in mods[:3]:
        assert _claim(sign_in(mod), case_id).status_code == 302
    late = sign_in(mods[3])
    assert "Claim this case" not in late.get(_url("case", case_id)).content.decode()
    response = _claim(late, case_id)
    assert response.status_code == 409
    assert "every seat in this review is taken" not in response.content.decode()
    assert "Someone else took the last free seat of this stage first" in response.content.decode()
    assert _seats(mods[3]) == set()


def test_who_may_not_review_the_case_cannot_claim_it_from_its_page(people, file_case, sign_in):
    """The cherry-picking abuse: a moderator whose own platform account reported the case
    wants a seat on it. The page offers none, and posting the form anyway is refused."""
    case_id = file_case(reporter=("user", "r-own"))
    mod = people["moderators"][0]
    ModeratorIdentity.objects.create(user=mod, source=Source.objects.get(name="forum"), external_id="r-own")
    client = sign_in(mod)
    html = client.get(_url("case", case_id)).content.decode()
    assert "Claim this case" not in html and "You may not take a seat in this stage" in html
    response = _claim(client, case_id)
    assert response.status_code == 409 and "You may not take a seat in this stage" in response.content.decode()
    assert _seats(mod) == set()
    assert not AuditEvent.objects.filter(stream=f"case:{case_id}", action="review.seat_claimed").exists()


def test_auditors_cannot_claim_and_a_stale_or_foreign_form_claims_nothing(people, file_case, sign_in):
    case_id, other = file_case(), file_case()
    assert _claim(sign_in(people["auditor"]), case_id).status_code == 403
    client = sign_in(people["moderators"][0])
    # the review of another case, posted to this one
    response = client.post(_url("claim", case_id), {"review": _review(other).pk})
    assert response.status_code == 404
    assert client.post(_url("claim", case_id), {"review": "not-a-uuid"}).status_code == 400
    # a stage that closed since the page was shown
    old = _review(case_id)
    Review.objects.filter(pk=old.pk).update(state="cancelled")
    assert client.post(_url("claim", case_id), {"review": old.pk}).status_code == 409
    assert Seat.objects.count() == 0


def test_claiming_needs_the_csrf_token(people, file_case):
    case_id = file_case()
    client = Client(enforce_csrf_checks=True)
    client.force_login(people["moderators"][0])
    assert _claim(client, case_id).status_code == 403
    assert Seat.objects.count() == 0


# ---- vote and claim next ----------------------------------------------------------------------------------------

def test_vote_and_claim_next_lands_on_the_next_case_of_the_queue(people, file_case, sign_in):
    first, second = file_case(), file_case()
    mod = people["moderators"][0]
    client = sign_in(mod)
    _claim(client, first)
    html = client.get(_url("case", first)).content.decode()
    assert 'name="then" value="claim-next"' in html and 'aria-keyshortcuts="Control+Enter Meta+Enter"' in html

    response = _vote(client, first, then="claim-next")
    assert response.status_code == 302 and response["Location"] == _url("case", second)
    assert str(Vote.objects.get(reviewer=mod).review.case_id) == str(first)
    assert _seats(mod) == {str(second)}
    assert _messages(response) == ["Your vote was recorded.",
                                   f"Claimed: Review on case {case_reference(second)}"]
    assert AuditEvent.objects.filter(stream=f"case:{first}", action="vote.cast", actor_name="mod1").count() == 1
    assert AuditEvent.objects.filter(stream=f"case:{second}", action="review.seat_claimed",
                                     actor_name="mod1").count() == 1


def test_vote_and_claim_next_on_an_empty_queue_goes_to_my_work(people, file_case, sign_in):
    case_id = file_case()
    mod = people["moderators"][0]
    client = sign_in(mod)
    _claim(client, case_id)
    response = _vote(client, case_id, then="claim-next")
    assert response.status_code == 302 and response["Location"] == reverse("console:my-work")
    assert _messages(response) == ["Your vote was recorded.", "No case is waiting in General for you"]
    assert _seats(mod) == set() and _seats(mod, SeatState.VOTED) == {str(case_id)}


def test_a_repeated_vote_and_claim_next_claims_nothing_more(people, file_case, sign_in):
    """A double submission (no script, a retried request) must not hoard a second case."""
    first, second, third = file_case(), file_case(), file_case()
    mod = people["moderators"][0]
    client = sign_in(mod)
    _claim(client, first)
    review = _review(first)
    data = {"review": review.pk, "outcome": "remove_content", "policy": "spam", "rationale": "spam",
            "then": "claim-next"}
    assert client.post(_url("vote", first), data)["Location"] == _url("case", second)
    again = client.post(_url("vote", first), data)
    assert again.status_code == 302 and again["Location"] == _url("case", second)  # the case it claimed before
    assert _messages(again)[-1] == "You had already cast this vote; it was counted once."
    assert _seats(mod) == {str(second)} and str(third) not in _seats(mod)


def test_a_refused_vote_claims_nothing(people, file_case, sign_in):
    first, _second = file_case(), file_case()
    mod = people["moderators"][0]
    client = sign_in(mod)
    _claim(client, first)
    response = _vote(client, first, then="claim-next", rationale="")  # remove_content needs a rationale
    assert response.status_code == 400
    assert _seats(mod) == {str(first)} and not Vote.objects.exists()


# ---- after a plain vote ---------------------------------------------------------------------------------------

def test_after_a_vote_the_next_held_case_opens(people, file_case, sign_in):
    first, second = file_case(), file_case()
    mod = people["moderators"][0]
    client = sign_in(mod)
    _claim(client, first)
    _claim(client, second)
    response = _vote(client, first)
    assert response.status_code == 302 and response["Location"] == _url("case", second)
    assert _messages(response) == ["Your vote was recorded."]
    # the last held case voted: back to My work
    assert _vote(client, second)["Location"] == reverse("console:my-work")
