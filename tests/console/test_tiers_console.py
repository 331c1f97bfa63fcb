"""Tiers, send-back and sticky approvals through the console (Django client,
real services, PostgreSQL)."""
import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from audit.models import AuditEvent
from cases.models import Case
from reviews.models import Decision, Review, ReviewNote
from reviews.services import claim_next, seat_assign

pytestmark = pytest.mark.django_db


def _url(case_id, name="case"):
    return reverse(f"console:{name}", args=[case_id])


def _review(case_id):
    return Review.objects.select_related("stage").get(case_id=case_id, state__in=["open", "on_hold"])


def _seat(user, case_id):
    return seat_assign(review_id=_review(case_id).pk, moderator=user, lead=User.objects.get(username="admin1"))


def _vote(client, case_id, **data):
    return client.post(_url(case_id, "vote"), {"review": str(_review(case_id).pk), "policy": "spam", **data})


def test_the_approver_shopping_attack_through_the_console(people, file_case, sign_in):
    """senior2 rejects senior1's ban; senior1 tries to propose it again; senior3 would approve: no ban."""
    case_id = file_case(kind="account", external_id="acct-console")
    m = people["moderators"]
    s1, s2, s3, _s4 = people["seniors"]
    for mod, outcome in zip(m[:3], ("remove_content", "label", "no_violation")):
        _seat(mod, case_id)
        assert _vote(sign_in(mod), case_id, outcome=outcome, rationale=f"{mod.username}").status_code == 302
    assert _review(case_id).stage.key == "senior"
    _seat(s1, case_id)
    assert _vote(sign_in(s1), case_id, outcome="ban_account", rationale="ban evasion").status_code == 302
    assert _review(case_id).stage.key == "approval"
    _seat(s2, case_id)
    assert _vote(sign_in(s2), case_id, decision="reject", rationale="not proven").status_code == 302
    assert _review(case_id).stage.key == "lead"

    # senior1 cannot get a seat at the lead tier: the form says why, nothing is written
    lead = sign_in(User.objects.get(username="admin1"))
    refused = lead.post(_url(case_id, "assign"), {"review": str(_review(case_id).pk), "moderator": s1.pk})
    assert refused.status_code == 409 and Review.objects.get(pk=_review(case_id).pk).free_seats == 1
    assert claim_next(moderator=s1, queue=_review(case_id).queue) is None
    # and the vote form refuses a vote without a seat
    attempt = _vote(sign_in(s1), case_id, outcome="ban_account", rationale="again")
    assert attempt.status_code == 409
    # senior3 has no proposal to approve: the only open stage is the lead review
    assert _review(case_id).proposed_outcome is None
    assert not Decision.objects.filter(case_id=case_id).exists()

    # the case page shows the proposal, its rejection and the reason
    html = sign_in(s3).get(_url(case_id)).content.decode()
    history = html.split('id="history-heading"')[1]
    assert "Proposals (four eyes)" in history and "Ban account" in history and "rejected" in history
    assert "not proven" in history


def test_escalate_button_names_the_next_tier_and_the_top_tier_says_no(people, file_case, sign_in):
    case_id = file_case()
    s1 = people["seniors"][0]
    client = sign_in(s1)  # a lead may escalate without a seat
    html = client.get(_url(case_id)).content.decode()
    assert "Escalate to Senior review" in html
    assert client.post(_url(case_id, "escalate"), {"escalate-reason": "needs a senior"}).status_code == 302
    html = client.get(_url(case_id)).content.decode()
    assert "Escalate to Lead review" in html
    assert client.post(_url(case_id, "escalate"), {"escalate-reason": "needs a lead"}).status_code == 302
    assert _review(case_id).stage.key == "lead"
    html = client.get(_url(case_id)).content.decode()
    assert "This is the top tier: there is nowhere to escalate." in html
    assert reverse("console:escalate", args=[case_id]) not in html
    # posting anyway (an old page) is refused with the message, and nothing changes
    events = AuditEvent.objects.filter(stream=f"case:{case_id}").count()
    refused = client.post(_url(case_id, "escalate"), {"escalate-reason": "higher"})
    assert refused.status_code == 409 and "This is the top tier" in refused.content.decode()
    assert _review(case_id).stage.key == "lead"
    assert AuditEvent.objects.filter(stream=f"case:{case_id}").count() == events


def test_send_back_with_guidance_through_the_console(people, file_case, sign_in):
    case_id = file_case()
    m = people["moderators"]
    for mod, outcome in zip(m[:3], ("remove_content", "label", "no_violation")):
        _seat(mod, case_id)
        _vote(sign_in(mod), case_id, outcome=outcome, rationale=mod.username)
    senior_review = _review(case_id)
    assert senior_review.stage.key == "senior"
    s1 = people["seniors"][0]
    _seat(s1, case_id)
    client = sign_in(s1)
    html = client.get(_url(case_id)).content.decode()
    assert reverse("console:send-back", args=[case_id]) in html and "Send back with guidance" in html

    missing = client.post(_url(case_id, "send-back"), {"sendback-review": str(senior_review.pk),
                                                       "sendback-to_stage": "review", "sendback-guidance": ""})
    assert missing.status_code == 400 and _review(case_id).pk == senior_review.pk
    wrong = client.post(_url(case_id, "send-back"), {"sendback-review": str(senior_review.pk),
                                                     "sendback-to_stage": "lead", "sendback-guidance": "x"})
    assert wrong.status_code == 409 and _review(case_id).pk == senior_review.pk

    # a moderator without a seat at the higher tier cannot send it back
    outsider = sign_in(m[3]).post(_url(case_id, "send-back"), {"sendback-review": str(senior_review.pk),
                                                               "sendback-to_stage": "review",
                                                               "sendback-guidance": "redo"})
    assert outsider.status_code in (403, 409) and _review(case_id).pk == senior_review.pk

    done = client.post(_url(case_id, "send-back"), {"sendback-review": str(senior_review.pk),
                                                    "sendback-to_stage": "review",
                                                    "sendback-guidance": "the link is a phishing domain"})
    assert done.status_code == 302
    lower = _review(case_id)
    assert lower.stage.key == "review" and Case.objects.get(pk=case_id).state == "in_review"
    assert ReviewNote.objects.get(review=lower).text.endswith("the link is a phishing domain")
    # the lower tier sees the guidance on the case page
    _seat(m[3], case_id)
    html = sign_in(m[3]).get(_url(case_id)).content.decode()
    assert "the link is a phishing domain" in html
    # a replay of the same form (old review id) changes nothing
    again = client.post(_url(case_id, "send-back"), {"sendback-review": str(senior_review.pk),
                                                     "sendback-to_stage": "review", "sendback-guidance": "again"})
    assert again.status_code == 409 and _review(case_id).pk == lower.pk


def test_a_repeated_escalate_form_moves_the_case_one_tier_only(people, file_case, sign_in):
    case_id = file_case()
    client = sign_in(people["seniors"][0])
    first_review = str(_review(case_id).pk)
    form = {"escalate-reason": "needs a senior", "escalate-review": first_review}
    assert client.post(_url(case_id, "escalate"), form).status_code == 302
    assert client.post(_url(case_id, "escalate"), form).status_code == 302  # the double click
    assert _review(case_id).stage.key == "senior"
    assert AuditEvent.objects.filter(stream=f"case:{case_id}", action="case.escalated").count() == 1
