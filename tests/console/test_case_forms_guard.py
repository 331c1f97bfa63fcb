"""Every console action checks that the review (or seat) in the form belongs
to the case in the URL and is still under way: a note or an assignment posted
to /cases/X/… with a review of case Y is refused and changes nothing."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from audit.models import AuditEvent
from reviews.models import Review, ReviewNote, Seat, SeatState
from reviews.services import case_escalate, seat_assign

pytestmark = pytest.mark.django_db


def _url(case_id, name):
    return reverse(f"console:{name}", args=[case_id])


def _review(case_id):
    return Review.objects.get(case_id=case_id, state__in=["open", "on_hold"])


def _lead():
    return User.objects.get(username="admin1")


def test_a_note_with_another_cases_review_is_refused(people, file_case, sign_in):
    x, y = file_case(), file_case()
    mod = people["moderators"][0]
    seat_assign(review_id=_review(y).pk, moderator=mod, lead=_lead())  # a reviewer of Y, so the service would allow it
    client = sign_in(mod)  # signing in is audited too: count after it
    before = AuditEvent.objects.count()
    response = client.post(_url(x, "note"), {"review": str(_review(y).pk), "text": "planted on Y via X"})
    assert response.status_code == 404
    assert "This form belongs to another case" in response.content.decode()
    assert not ReviewNote.objects.exists() and AuditEvent.objects.count() == before


def test_a_note_on_a_closed_review_of_the_same_case_is_refused(people, file_case, sign_in):
    case_id = file_case()
    old = _review(case_id)
    seat_assign(review_id=old.pk, moderator=people["moderators"][0], lead=_lead())
    case_escalate(case_id=case_id, actor_user=people["seniors"][0], reason="senior look")
    lead = people["seniors"][0]
    response = sign_in(lead).post(_url(case_id, "note"), {"review": str(old.pk), "text": "on a closed stage"})
    assert response.status_code == 409 and "This stage is closed" in response.content.decode()
    assert not ReviewNote.objects.exists()
    # the current stage takes it
    ok = sign_in(lead).post(_url(case_id, "note"), {"review": str(_review(case_id).pk), "text": "on the open one"})
    assert ok.status_code == 302 and ReviewNote.objects.get().review_id == _review(case_id).pk


def test_an_assignment_with_another_cases_review_is_refused(people, file_case, sign_in):
    x, y = file_case(), file_case()
    lead = people["seniors"][0]
    response = sign_in(lead).post(_url(x, "assign"), {"review": str(_review(y).pk),
                                                       "moderator": people["moderators"][1].pk})
    assert response.status_code == 404
    assert not Seat.objects.exists()
    # and one for a closed review of the URL's own case
    old = _review(x)
    case_escalate(case_id=x, actor_user=lead, reason="straight to seniors")
    closed = sign_in(lead).post(_url(x, "assign"), {"review": str(old.pk), "moderator": people["moderators"][1].pk})
    assert closed.status_code == 409 and not Seat.objects.exists()


def test_a_seat_of_another_case_cannot_be_released_or_renewed_from_this_one(people, file_case, sign_in):
    x, y = file_case(), file_case()
    mod = people["moderators"][0]
    seat = seat_assign(review_id=_review(y).pk, moderator=mod, lead=_lead())
    for action in ("release", "renew"):
        response = sign_in(mod).post(_url(x, action), {"seat": seat.pk})
        assert response.status_code == 404, action
    assert Seat.objects.get(pk=seat.pk).state == SeatState.CLAIMED
    assert Seat.objects.get(pk=seat.pk).lease_expires_at == seat.lease_expires_at
