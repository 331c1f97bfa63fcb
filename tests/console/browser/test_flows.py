"""The review flows in a real browser: two moderators reach a blind 2-of-3
consensus, a split escalates and a senior decides, an auditor reads the
timeline and cannot vote."""
import pytest
from django.urls import reverse

from audit.models import AuditEvent
from cases.models import Case
from reviews.models import Review, Vote

from .conftest import claim_and_vote, claim_via_ui, live_text, vote_via_ui, watch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RATIONALE_1 = "Link farm selling pills; mod one's reasoning."
RATIONALE_2 = "Same spam network as yesterday; mod two's reasoning."


def stage_panel(page):
    return page.locator("section[aria-labelledby=stage-heading]")


def test_two_moderators_reach_blind_consensus(page_for, people, file_case):
    case_id = str(file_case(text="cheap pills at example.test"))
    mod1, mod2 = people["moderators"][:2]
    one, two = page_for(mod1), page_for(mod2)

    assert claim_via_ui(one) == case_id
    assert claim_via_ui(two) == case_id
    assert "2 of 3, blind" in stage_panel(one).inner_text()

    vote_via_ui(one, "remove_content", RATIONALE_1)
    assert one.url.endswith(reverse("console:my-work"))
    assert "Your vote was recorded." in live_text(one)

    # mod2, still to vote, sees that a vote exists but not what it says.
    two.goto(reverse("console:case", args=[case_id]))
    stage = stage_panel(two).inner_text()
    assert "1 vote cast; 2 matching votes decide." in stage and "votes are shown when it closes" in stage
    assert RATIONALE_1 not in two.content()
    assert two.locator(".votes .vote-row").count() == 0
    assert two.get_by_role("button", name="Cast vote", exact=True).is_visible()

    # mod1 sees only their own vote.
    one.goto(reverse("console:case", args=[case_id]))
    assert "You voted in this stage." in one.locator("#vote-panel").inner_text()
    assert one.locator(".votes .vote-row").count() == 1
    assert RATIONALE_1 in stage_panel(one).inner_text()
    assert one.get_by_role("button", name="Cast vote", exact=True).count() == 0

    vote_via_ui(two, "remove_content", RATIONALE_2)
    assert "Your vote was recorded." in live_text(two)

    # Closed by consensus: now both see both votes.
    for page in (one, two):
        page.goto(reverse("console:case", args=[case_id]))
        text = stage_panel(page).inner_text()
        assert RATIONALE_1 in text and RATIONALE_2 in text
        assert page.locator(".votes .vote-row").count() == 2
        assert page.locator(".case-state").inner_text() == "Decided"
    case = Case.objects.get(pk=case_id)
    assert case.state == "decided"
    assert Vote.objects.filter(review__case_id=case_id).count() == 2


def test_split_escalates_and_a_senior_decides(page_for, people, file_case):
    case_id = str(file_case(text="is this satire or a threat?"))
    mod1, mod2, mod3 = people["moderators"][:3]
    claim_and_vote(case_id, mod1, "no_violation", rationale="")
    claim_and_vote(case_id, mod2, "label", rationale="needs context label")

    three = page_for(mod3)
    assert claim_via_ui(three) == case_id
    assert "This stage is blind" in stage_panel(three).inner_text()
    assert "needs context label" not in three.content()
    assert three.locator(".votes .vote-row").count() == 0
    vote_via_ui(three, "remove_content", "a credible threat")  # three different outcomes: split
    assert "Your vote was recorded." in live_text(three)

    senior = page_for(people["seniors"][0])
    senior.goto(reverse("console:escalations"))
    row = senior.locator("tr", has=senior.locator(f"a[href='{reverse('console:case', args=[case_id])}']"))
    assert row.count() == 1
    assert "Reviewers disagreed (split)" in row.inner_text() and "Senior review" in row.inner_text()

    assert claim_via_ui(senior) == case_id
    stage = stage_panel(senior).inner_text()
    assert "Senior review" in stage and "1 of 1" in stage and "blind" not in stage.split("Seats")[0]
    # The earlier, split stage is closed: its three votes are open to the senior.
    earlier = senior.locator("details.earlier-stage")
    earlier.locator("summary").click()
    assert earlier.locator(".vote-row").count() == 3 and "a credible threat" in earlier.inner_text()

    vote_via_ui(senior, "remove_content", "Threat is credible; removing.")
    assert "Your vote was recorded." in live_text(senior)
    senior.goto(reverse("console:case", args=[case_id]))
    assert senior.locator(".case-state").inner_text() == "Decided"
    assert Case.objects.get(pk=case_id).state == "decided"
    reviews = dict(Review.objects.filter(case_id=case_id).values_list("stage__key", "state"))
    assert reviews == {"review": "split", "senior": "consensus"}


def test_auditor_reads_the_timeline_and_cannot_vote(page_for, people, file_case):
    case_id = str(file_case(text="auditor's case"))
    claim_and_vote(case_id, people["moderators"][0], "label", rationale="label it")
    review = Review.objects.get(case_id=case_id, state="open")

    auditor = page_for(people["auditor"])
    auditor.goto(reverse("console:case", args=[case_id]))
    timeline = auditor.locator("section[aria-labelledby=timeline-heading]")
    assert timeline.is_visible()
    events = timeline.locator("ol.timeline > li")
    assert events.count() >= 4  # opened, routed, seat claimed, vote cast, viewed...
    assert "mod1" in timeline.inner_text()
    assert auditor.locator("form.vote-form").count() == 0
    assert auditor.get_by_role("button", name="Cast vote", exact=True).count() == 0
    assert auditor.locator("form[action*='/escalate/'], form[action*='/hold/'], form[action*='/note/']").count() == 0
    assert "Read-only" in auditor.locator("#vote-panel").inner_text()
    # The auditor's own look is on the record.
    assert AuditEvent.objects.filter(action="case.viewed", actor_name="auditor1").exists()

    # A forged vote (valid session and CSRF token, the form's fields) is refused with 403.
    watch(auditor).expect(r"status of 403")
    token = auditor.locator("input[name=csrfmiddlewaretoken]").first.get_attribute("value")
    status = auditor.evaluate("""async ([url, token, review]) => {
        const body = new URLSearchParams({csrfmiddlewaretoken: token, review, outcome: "no_violation",
                                          policy: "spam", rationale: "forged"});
        const r = await fetch(url, {method: "POST", body, headers: {"X-CSRFToken": token},
                                    credentials: "same-origin", redirect: "manual"});
        return [r.status, await r.text()];
    }""", [reverse("console:vote", args=[case_id]), token, str(review.pk)])
    assert status[0] == 403, status
    assert "CSRF" not in status[1]  # refused for the role, not for a missing token
    assert not Vote.objects.filter(reviewer=people["auditor"]).exists()
