"""The whole sign-in → claim → read → vote flow by keyboard alone, with a
visible focus indicator at every step and the choice announced."""
import pytest
from django.urls import reverse

from reviews.models import Vote

from .conftest import focus_outline, live_text

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def assert_visible_focus(page, expected_tag=None):
    outline = focus_outline(page)
    assert outline is not None, "nothing has the focus"
    if expected_tag:
        assert outline["tag"] == expected_tag, outline
    assert outline["style"] != "none" and outline["width"] > 0, f"focus is not visible: {outline}"


def test_claim_read_vote_by_keyboard_alone(open_page, people, file_case):
    case_id = str(file_case(text="keyboard only, please"))
    page = open_page(reverse("console:login"))
    page.keyboard.type("mod1")
    page.keyboard.press("Tab")
    page.keyboard.type("x-mod1")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(reverse("console:my-work"))

    # n: claim the next case.
    assert page.locator("[data-shortcut=n]").count() == 1
    with page.expect_navigation():
        page.keyboard.press("n")
    assert page.url.endswith(reverse("console:case", args=[case_id]))
    assert "Claimed" in live_text(page)

    # Read: the skip link is the first stop, visibly focused, and takes us to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to main content"
    assert_visible_focus(page, "A")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    assert page.locator(".reported-text").first.inner_text() == "keyboard only, please"

    # 3: the third outcome, focused, visibly, and announced.
    page.keyboard.press("3")
    third = page.locator("#vote-outcome-restrict_visibility")
    assert third.is_checked()
    assert page.evaluate("document.activeElement.id") == "vote-outcome-restrict_visibility"
    assert_visible_focus(page, "INPUT")
    assert "Restrict visibility" in live_text(page)

    # r: to the rationale, type it; Tab to the button; Enter submits.
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.id") == "vote-rationale"
    assert_visible_focus(page, "TEXTAREA")
    page.keyboard.type("Borderline; restricting reach.")
    page.keyboard.press("Tab")  # the public explanation (DSA statement of reasons), optional here
    assert page.evaluate("document.activeElement.id") == "vote-public-explanation"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Cast vote"
    assert_visible_focus(page, "BUTTON")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(reverse("console:my-work"))
    assert "Your vote was recorded." in live_text(page)

    vote = Vote.objects.get(reviewer=people["moderators"][0])
    assert vote.outcome.code == "restrict_visibility" and vote.rationale == "Borderline; restricting reach."
    assert str(vote.review.case_id) == case_id


def test_shortcuts_do_not_fire_while_typing(page_for, people, file_case):
    file_case(text="typing test")
    page = page_for(people["moderators"][0])
    page.goto(reverse("console:my-work"))
    with page.expect_navigation():
        page.keyboard.press("n")
    page.keyboard.press("r")
    page.keyboard.type("1 2 3 n r")  # digits and letters in the rationale stay text
    assert page.locator("#vote-rationale").input_value() == "1 2 3 n r"
    assert page.locator("input[name=outcome]:checked").count() == 0
    assert "/cases/" in page.url
