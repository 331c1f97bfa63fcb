"""Hostile reported content in a real browser: nothing executes, the text is
shown exactly, the page does not scroll sideways, and the vote form stays
usable whatever the reported text is (tests/console/hostile_corpus.py)."""
import pytest
from django.urls import reverse

from tests.console.hostile_corpus import ALL, HOSTILE_URLS

from .conftest import assert_no_overflow, axe_check, claim_via_ui, live_text, vote_via_ui, watch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CORPUS = dict(ALL)
# Shown exactly also as rendered text (innerText), not only in the DOM: direction overrides,
# invisible joiners and combining floods must neither vanish nor be "fixed".
RENDERED_EXACTLY = ["script-tag", "attr-breakout", "rtl-override", "zero-width", "arabic", "hebrew-mixed", "zalgo",
                    "emoji-zwj", "template-injection"]


def stored(text):
    """PostgreSQL text cannot hold NUL and the API refuses it (integrations.api.serializers): a NUL never
    reaches a case, so the "null-byte" entry is filed without it; everything else exactly as is."""
    return text.replace("\u0000", "")


def reported_text(page):
    return page.locator("section[aria-labelledby=subject-heading] .reported-text").first


def test_the_corpus_renders_inert_and_exact(page_for, people, file_case):
    cases = {name: str(file_case(text=stored(text), description=stored(text)[:2000], author=f"author-{name}"))
             for name, text in ALL}
    page = page_for(people["auditor"])
    for name, text in ALL:
        page.goto(reverse("console:case", args=[cases[name]]))
        assert watch(page).pwned_calls() == [], name
        element = reported_text(page)
        assert element.get_attribute("dir") == "auto"
        assert element.text_content() == stored(text), f"{name}: DOM text differs"
        if name in RENDERED_EXACTLY:
            assert element.inner_text() == stored(text), f"{name}: rendered text differs"
        # Markup in the payload stayed text: no element it names was created inside the report.
        assert element.locator("script, img, svg, iframe, style, div, textarea, title").count() == 0, name
        assert_no_overflow(page)
        assert page.locator("body").is_visible(), name  # <style>body{display:none}</style> did nothing
        assert watch(page).csp_violations() == [], f"{name}: {watch(page).csp_violations()}"
    assert watch(page).pwned_calls() == []


def test_hostile_urls_are_never_links_or_sources(page_for, people, file_case, media_url):
    media = [{"url": url, "mime_type": "image/png"} for url in HOSTILE_URLS] + [{"url": media_url("ok")}]
    case_ids = [str(file_case(text=f"url {i}", url=url, media=media)) for i, url in enumerate(HOSTILE_URLS)]
    page = page_for(people["moderators"][0])
    for case_id, url in zip(case_ids, HOSTILE_URLS, strict=True):
        page.goto(reverse("console:case", args=[case_id]))
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
        srcs = page.eval_on_selector_all("[src]", "els => els.map(e => e.getAttribute('src'))")
        for value in hrefs + srcs:
            assert value.startswith(("/", "#", "http://", "https://")) and not value.startswith("//"), value
            assert "evil.example" not in value, value
        # The address is still shown, as text, so the moderator knows what was reported.
        assert url.strip() in page.locator("section[aria-labelledby=subject-heading]").text_content()
        # The one allowed thumbnail is there, blurred; nothing else was loaded as media.
        images = page.locator(".media-item img")
        assert images.count() == 1 and images.first.get_attribute("src") == media_url("ok")
        assert "blur" in images.first.evaluate("el => getComputedStyle(el).filter")
        assert watch(page).pwned_calls() == []
        assert_no_overflow(page)
    # Links that leave the console never leak where they came from.
    outbound = page.eval_on_selector_all("a[target=_blank]", "els => els.map(e => e.rel)")
    assert all("noopener" in rel and "noreferrer" in rel for rel in outbound)


@pytest.mark.parametrize("name", ["100kb", "zalgo", "long-word"])
def test_vote_form_stays_usable_with_huge_and_strange_text(page_for, people, file_case, name):
    case_id = str(file_case(text=CORPUS[name]))
    page = page_for(people["moderators"][0])
    assert claim_via_ui(page) == case_id
    assert_no_overflow(page)
    axe_check(page)  # e.g. a scrolling box for the long text must be reachable by keyboard
    button = page.get_by_role("button", name="Cast vote", exact=True)
    assert button.is_visible()
    box = button.bounding_box()
    width = page.evaluate("window.innerWidth")
    assert box and box["width"] > 0 and box["x"] >= 0 and box["x"] + box["width"] <= width, (box, width)
    button.click(trial=True)  # actionable: visible, enabled, not covered by the reported text
    vote_via_ui(page, "no_violation", "")
    assert "Your vote was recorded." in live_text(page)
