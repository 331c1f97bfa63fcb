"""Issue 16, items 10–16, in Chromium: the votes table fits at 1280 px with
its Cast column in view, short case references are shown and found, vote
and claim next works from the keyboard alone, a free seat is claimed from
the case page, the timeline reads as labels and names, auditors' My work
says what they can do, and the admin takes SLAs in hours and minutes with
a publish button on the draft."""
import re

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from cases.models import Queue
from cases.references import case_reference
from cases.translations import translated_name
from reviews.models import Seat, SeatState, Vote, WorkflowVersion

from .conftest import assert_no_overflow, claim_and_vote, live_text

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# A rationale with no break opportunity: it must wrap inside its cell, not widen the panel.
LONG_WORD = "Unbreakable" * 30


def test_the_votes_table_fits_at_1280_px_with_the_cast_column_in_view(page_for, people, file_case):
    case_id = str(file_case(text="a decided case"))
    for mod in people["moderators"][:2]:
        claim_and_vote(case_id, mod, "remove_content", rationale=f"Spam. {LONG_WORD}")
    page = page_for(people["seniors"][0])
    page.goto(reverse("console:case", args=[case_id]))
    assert page.viewport_size["width"] == 1280
    assert_no_overflow(page)
    tables = page.locator(".vote-panel, section[aria-labelledby=stage-heading]").locator(".table-wrap")
    assert tables.count() >= 1
    for i in range(tables.count()):
        widths = tables.nth(i).evaluate("el => ({scroll: el.scrollWidth, client: el.clientWidth})")
        assert widths["scroll"] <= widths["client"], f"the votes table scrolls sideways: {widths}"
    panel = page.locator("section[aria-labelledby=stage-heading]").bounding_box()
    cast = page.locator(".votes td[data-label=Cast]")
    assert cast.count() == 2
    for i in range(2):
        assert cast.nth(i).is_visible()
        box = cast.nth(i).bounding_box()
        assert box["x"] >= panel["x"] and box["x"] + box["width"] <= panel["x"] + panel["width"] + 0.5, (box, panel)


def test_short_references_are_shown_and_found(page_for, people, file_case):
    wanted, _other = str(file_case(text="find me")), str(file_case(text="not me"))
    reference = case_reference(wanted)
    page = page_for(people["moderators"][0])
    page.goto(reverse("console:queue", args=["general"]))
    assert page.get_by_role("link", name=re.compile(re.escape(reference))).count() == 1
    assert wanted not in page.locator("main").inner_text()  # the UUID is no link text
    # typed loosely: lower case, no hyphens
    page.get_by_label("Case reference").fill(reference.replace("-", "").lower())
    with page.expect_navigation():
        page.get_by_role("button", name="Apply").click()
    links = page.locator("main a[href*='/cases/']")
    assert links.count() == 1 and links.first.get_attribute("href") == reverse("console:case", args=[wanted])
    assert reference in page.locator("main").inner_text()


def test_vote_and_claim_next_by_keyboard_then_an_empty_queue(page_for, people, file_case):
    first, second = str(file_case(text="first of two")), str(file_case(text="second of two"))
    mod = people["moderators"][0]
    page = page_for(mod)
    with page.expect_navigation():
        page.keyboard.press("n")
    assert page.url.endswith(reverse("console:case", args=[first]))

    # Ctrl+Enter in another form (a note) never casts the vote, even with an outcome chosen.
    page.keyboard.press("3")
    page.locator("#note-text").fill("a note, not a vote")
    page.locator("#note-text").press("Control+Enter")
    page.wait_for_timeout(500)  # an observation window: nothing may happen
    assert page.url.endswith(reverse("console:case", args=[first])) and not Vote.objects.exists()
    page.evaluate("document.activeElement.blur()")  # out of the note: the single keys act again

    # 3, r, the rationale, and Ctrl+Enter from inside the rationale: vote and claim the next case.
    page.keyboard.press("3")
    page.keyboard.press("r")
    page.keyboard.type("Borderline; restricting reach.")
    button = page.get_by_role("button", name="Cast vote and claim next")
    assert button.get_attribute("aria-keyshortcuts") == "Control+Enter Meta+Enter"
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    assert page.url.endswith(reverse("console:case", args=[second]))
    said = live_text(page)
    assert "Your vote was recorded." in said and f"Claimed: Review on case {case_reference(second)}" in said
    assert Vote.objects.get(reviewer=mod).outcome.code == "restrict_visibility"
    assert Seat.objects.filter(moderator=mod, state=SeatState.CLAIMED).get().review.case_id.hex == second.replace("-", "")

    # The queue is empty now: the same keys land on My work, which says so.
    page.keyboard.press("1")  # no violation: no rationale needed
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    assert page.url.endswith(reverse("console:my-work"))
    said = live_text(page)
    assert "Your vote was recorded." in said and "No case is waiting in General for you" in said
    assert Vote.objects.filter(reviewer=mod).count() == 2


def test_a_free_seat_is_claimed_from_the_case_page(page_for, people, file_case):
    case_id = str(file_case(text="pick me"))
    page = page_for(people["moderators"][1])
    page.goto(reverse("console:case", args=[case_id]))
    assert page.locator("form.vote-form").count() == 0
    with page.expect_navigation():
        page.get_by_role("button", name="Claim this case").click()
    assert "You claimed a seat: Review" in live_text(page)
    assert page.locator("form.vote-form").is_visible()
    assert Seat.objects.get(review__case_id=case_id).moderator == people["moderators"][1]


def test_the_timeline_shows_labels_and_names(page_for, people, file_case):
    case_id = str(file_case(text="timeline"))
    mod = people["moderators"][0]
    User.objects.filter(pk=mod.pk).update(first_name="Maria", last_name="Muster")
    claim_and_vote(case_id, mod, "label", rationale="label it")
    queue = Queue.objects.get(slug="general")
    for locale, checks in (("en-US", ("queue", translated_name(queue, "en"), "lease until", "Maria Muster (mod1)",
                                      "cause")),
                           ("de-DE", ("Warteschlange", translated_name(queue, "de"), "reserviert bis",
                                      "Maria Muster (mod1)", "Auslöser"))):
        page = page_for(people["seniors"][0])
        if locale != "en-US":
            page.context.add_cookies([{"name": "django_language", "value": "de", "domain": "127.0.0.1", "path": "/"}])
        page.goto(reverse("console:case", args=[case_id]))
        timeline = page.locator("section[aria-labelledby=timeline-heading]")
        text = timeline.inner_text()
        for expected in checks:
            assert expected in text, (locale, expected)
        for raw in ("queue_id", "lease_expires_at", "workflow_version", "moderator_id", "trigger", "routing\n"):
            assert raw not in text, (locale, raw)
        assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", text), "an ISO timestamp is shown"


def test_auditors_my_work_says_they_read_and_do_not_claim(page_for, people, file_case):
    file_case()
    page = page_for(people["auditor"])
    main = page.locator("main").inner_text()
    assert "Your role reads cases and does not claim them" in main
    assert "Claim the next case from a queue above" not in main
    assert page.get_by_role("button", name=re.compile("^Claim next")).count() == 0


def test_admin_sla_in_hours_and_minutes_and_the_publish_button(page_for, people, workflows, system_actor):
    from reviews.workflows import workflow_draft_from

    published = WorkflowVersion.objects.get(workflow__slug="standard", state="published")
    draft = workflow_draft_from(version=published, actor=system_actor)
    # a superuser: a transactional test's flush leaves the admin group without its model permissions
    page = page_for(User.objects.create_superuser("root", password="x-root"))
    page.goto(reverse("admin:reviews_workflowversion_change", args=[draft.pk]))
    hours = page.get_by_label("hours").first
    minutes = page.get_by_label("minutes").first
    assert hours.is_visible() and minutes.is_visible()
    assert int(hours.input_value()) * 3600 + int(minutes.input_value()) * 60 == \
        draft.stages.order_by("position").first().sla_seconds
    assert "None: this draft can be published." in page.locator("body").inner_text()
    with page.expect_navigation():
        page.get_by_role("button", name="Publish this draft").click()
    draft.refresh_from_db()
    assert draft.state == "published"
    assert WorkflowVersion.objects.get(pk=published.pk).state == "superseded"
