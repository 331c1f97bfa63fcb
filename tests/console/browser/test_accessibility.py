"""WCAG 2.2 behaviour that axe cannot see: where the focus goes after a refused vote, a media
reveal and a chain verification; flash messages announced (moved into the live region after
load); single-key shortcuts that can be turned off; `lang` on reported text in the subject's
language; directional overrides shown and contained; focus outline contrast."""
import pytest
from django.urls import reverse

from reviews.models import Review, Vote
from reviews.services import seat_assign

from .conftest import claim_via_ui, live_text, sign_in_form, watch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def active(page):
    return page.evaluate("""() => { const el = document.activeElement;
        return {tag: el.tagName, id: el.id, cls: el.className, text: (el.textContent || '').trim()}; }""")


def wait_focus_off_body(page):
    page.wait_for_function("() => document.activeElement && document.activeElement !== document.body",
                           timeout=15_000)


def test_refused_vote_moves_focus_to_the_error_summary_and_says_error_in_the_title(page_for, people, file_case):
    case_id = str(file_case(text="needs a rationale"))
    page = page_for(people["moderators"][0])
    assert claim_via_ui(page) == case_id
    page.locator("#vote-outcome-remove_content").check()
    watch(page).expect(r"status of 400")  # the refusal itself
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Cast vote", exact=True).click()  # no rationale: refused (400)
    assert navigation.value.status == 400
    wait_focus_off_body(page)
    focused = active(page)
    assert focused["id"] == "form-errors", focused
    assert "Rationale: Give a rationale" in focused["text"]
    assert page.title().startswith("Error:")
    # The summary links to the form, where the field's own error is.
    page.locator("#form-errors a").first.click()
    assert page.url.endswith("#vote-panel")
    assert not Vote.objects.exists()


def test_flash_message_is_moved_into_the_live_region_after_load(page_for, people, file_case):
    file_case(text="flash")
    page = page_for(people["moderators"][0])
    claim_via_ui(page)
    # At load the message is in #flash (shown, not live); then it moves into the empty #live region,
    # which is what makes screen readers announce it.
    assert "Claimed" in live_text(page)
    assert page.locator("#flash > *").count() == 0
    assert page.locator("#live").get_attribute("role") == "status"
    assert page.locator("html").get_attribute("data-flash-announced") == "yes"


def test_reveal_and_verify_move_the_focus_to_their_result(page_for, people, file_case, media_url):
    case_id = str(file_case(text="with media", media=[{"url": media_url("a"), "mime_type": "image/png"}]))
    page = page_for(people["auditor"])
    page.goto(reverse("console:case", args=[case_id]))
    page.get_by_role("button", name="Reveal media 1").click()
    page.wait_for_selector("#media-0.revealed", timeout=15_000)
    wait_focus_off_body(page)
    assert "media-state" in active(page)["cls"]

    page.goto(reverse("console:audit") + f"?case={case_id}")
    page.get_by_role("button", name="Verify this case’s chain").click()
    page.wait_for_selector("#verify-result .verify-ok", timeout=15_000)
    wait_focus_off_body(page)
    assert "verify-ok" in active(page)["cls"]


def test_single_key_shortcuts_can_be_turned_off_and_g_w_goes_to_my_work(page_for, people, file_case):
    case_id = str(file_case(text="shortcut switch"))
    mod = people["moderators"][0]
    seat_assign(review_id=Review.objects.get(case_id=case_id).pk, moderator=mod, lead=people["seniors"][0])
    page = page_for(mod)
    page.goto(reverse("console:case", args=[case_id]))
    page.keyboard.press("1")
    assert page.locator("input[name=outcome]:checked").count() == 1

    # g then w: to My work.
    page.locator("body").click(position={"x": 1, "y": 300})
    with page.expect_navigation():
        page.keyboard.press("g")
        page.keyboard.press("w")
    assert page.url.endswith(reverse("console:my-work"))

    # Off (kept in this browser): 1 and r do nothing, n does not claim.
    page.locator(".shortcuts-help summary").click()
    toggle = page.get_by_label("Single-key shortcuts are on")
    assert toggle.is_checked()
    toggle.uncheck()
    page.goto(reverse("console:case", args=[case_id]))
    assert not page.get_by_label("Single-key shortcuts are on").is_checked()
    page.keyboard.press("2")
    page.keyboard.press("r")
    assert page.locator("input[name=outcome]:checked").count() == 0
    assert page.evaluate("document.activeElement.id") != "vote-rationale"

    # On again: they work.
    page.locator(".shortcuts-help summary").click()
    page.get_by_label("Single-key shortcuts are on").check()
    page.keyboard.press("Escape")
    page.locator("h1").click()
    page.keyboard.press("2")
    assert page.locator("input[name=outcome]:checked").count() == 1


def test_reported_text_carries_its_language_and_shows_direction_overrides(page_for, people, file_case):
    from cases.models import Subject

    arabic = str(file_case(text="مرحبا بالعالم", external_id="ar-post"))
    spoof = str(file_case(text="admin\u202egnp.exe\u202c and more", external_id="spoof-post"))
    Subject.objects.filter(external_id="ar-post").update(language="ar")
    Subject.objects.filter(external_id="spoof-post").update(language="not a tag\" onmouseover=x")
    page = page_for(people["auditor"])
    page.goto(reverse("console:case", args=[arabic]))
    text = page.locator("section[aria-labelledby=subject-heading] .reported-text").first
    assert text.get_attribute("lang") == "ar"

    page.goto(reverse("console:case", args=[spoof]))
    text = page.locator("section[aria-labelledby=subject-heading] .reported-text").first
    assert text.get_attribute("lang") is None  # a malformed language is not put into lang
    assert text.text_content() == "admin\u202egnp.exe\u202c and more"  # the characters stay
    markers = text.locator(".bidi-control")
    assert [markers.nth(i).get_attribute("data-bidi") for i in range(markers.count())] == ["RLO", "PDF"]
    # The override is isolated in its marker: what follows is not reversed. The text after the
    # marker is laid out left to right, after it (its box starts to the right of the marker's).
    boxes = page.evaluate("""() => {
        const el = document.querySelector('section[aria-labelledby=subject-heading] .reported-text');
        const marker = el.querySelector('.bidi-control');
        const range = document.createRange();
        const after = marker.nextSibling;
        range.setStart(after, 0); range.setEnd(after, 1);
        const first = range.getBoundingClientRect();
        range.setStart(after, after.length - 1); range.setEnd(after, after.length);
        const last = range.getBoundingClientRect();
        return {marker: marker.getBoundingClientRect().right, width: marker.getBoundingClientRect().width,
                first: first.left, last: last.left};
    }""")
    assert boxes["width"] > 10, boxes  # the marker's name is drawn
    assert boxes["first"] >= boxes["marker"] - 1 and boxes["last"] > boxes["first"], boxes


def test_focus_outline_has_three_to_one_contrast(page_for, people):
    page = page_for(people["moderators"][0])
    page.goto(reverse("console:my-work"))
    colour = page.evaluate("""() => { const b = document.querySelector('.session button');
        b.focus({focusVisible: true}); return getComputedStyle(document.documentElement).getPropertyValue('--focus'); }""")

    def luminance(hex_colour):
        channels = [int(hex_colour.strip().lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    def contrast(a, b):
        la, lb = sorted((luminance(a), luminance(b)), reverse=True)
        return (la + 0.05) / (lb + 0.05)

    # white, panels, table headers, the dark top bar
    for background in ("#ffffff", "#f5f5f7", "#eceef3", "#17213a"):
        assert contrast(colour, background) >= 3, (colour, background, contrast(colour, background))


def test_times_follow_the_browsers_time_zone_and_say_which(browser, live_server, people):
    """No saved zone: console.js sends the browser's zone (Intl) in a cookie, and from the next page
    on times are shown in it, with the zone named in the header."""
    context = browser.new_context(base_url=live_server.url, locale="en-US", timezone_id="Europe/Berlin",
                                  viewport={"width": 1280, "height": 900})
    try:
        context.set_default_timeout(15_000)
        page = context.new_page()
        sign_in_form(page, "mod1", "x-mod1")
        page.wait_for_function("() => document.cookie.includes('quorum_tz=Europe%2FBerlin')", timeout=15_000)
        page.goto(reverse("console:my-work"))
        assert page.locator(".topbar .time-zone").inner_text() == "Times: Europe/Berlin"
    finally:
        context.close()
