"""The case page after a decision: earlier decisions (superseded), why the
case re-opened, post-decision reports; and the notice a seat holder sees when
the case moved to a more severe workflow. Console through the Django client."""

from django.contrib.auth.models import User
from django.urls import reverse

from cases.models import Policy
from reviews.models import Outcome, Review
from reviews.services import seat_assign, vote_cast


def _open_review(case_id):
    return Review.objects.get(case_id=case_id, state__in=["open", "on_hold"])


def _decide_no_violation(case_id, people):
    review = _open_review(case_id)
    for moderator in people["moderators"][:2]:
        seat_assign(review_id=review.pk, moderator=moderator, lead=User.objects.get(username="admin1"))
        vote_cast(review_id=review.pk, reviewer=moderator, outcome=Outcome.objects.get(code="no_violation"),
                  policy=Policy.objects.get(code="spam"), rationale="not spam")


def test_the_case_page_shows_earlier_decisions_and_why_the_case_reopened(people, file_case, sign_in):
    case_id = file_case(external_id="acct-1", text="hello")
    _decide_no_violation(case_id, people)
    file_case(external_id="acct-1", text="hello", reporter=("user", "again"))  # post-decision
    page = sign_in(people["seniors"][0]).get(reverse("console:case", args=[case_id])).content.decode()
    assert "1 report arrived after the decision without re-opening the case." in page
    assert "Why the case re-opened" not in page

    file_case(external_id="acct-1", policy="child_safety", text="hello", reporter=("trusted_flagger", "hotline"))
    page = sign_in(people["seniors"][0]).get(reverse("console:case", args=[case_id])).content.decode()
    assert "Why the case re-opened" in page
    assert "a report under a more severe policy; a trusted flagger&#x27;s report" in page
    assert "No violation" in page  # the earlier decision stays on the page

    german = sign_in(people["seniors"][0]).get(reverse("console:case", args=[case_id]),
                                               HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Warum der Fall wieder geöffnet wurde" in german


def test_a_seat_holder_sees_that_the_case_moved_to_a_more_severe_workflow(people, file_case, sign_in):
    case_id = file_case(external_id="post-x")
    holder = people["moderators"][0]
    seat_assign(review_id=_open_review(case_id).pk, moderator=holder, lead=User.objects.get(username="admin1"))
    file_case(external_id="post-x", policy="child_safety", reporter=("user", "u9"))
    assert _open_review(case_id).stage.version.workflow.slug == "child-safety"
    page = sign_in(people["seniors"][0]).get(reverse("console:case", args=[case_id])).content.decode()
    assert "the case moved to a more severe workflow" in page
    timeline = page.split('id="timeline-heading"')[1].split("</section>")[0]
    assert "re-routed by a more severe report" in timeline and ">rerouted<" not in timeline  # the trigger, named
    assert "<dt>to workflow</dt><dd><span class=\"reported-inline\" dir=\"auto\">Child safety</span>" in timeline
