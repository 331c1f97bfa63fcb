"""Case page behaviour that only a browser shows: media blurred until
revealed one at a time (audited, announced), one vote on a double click."""
import pytest

from audit.models import AuditEvent
from reviews.models import Vote

from .conftest import claim_via_ui, live_text

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def filter_of(locator):
    return locator.evaluate("el => getComputedStyle(el).filter")


def test_media_blurred_until_revealed_one_at_a_time(page_for, people, file_case, media_url):
    case_id = str(file_case(text="two pictures", media=[{"url": media_url("one"), "mime_type": "image/png"},
                                                        {"url": media_url("two"), "mime_type": "image/png"}]))
    page = page_for(people["moderators"][0])
    assert claim_via_ui(page) == case_id
    first, second = page.locator("#media-0 img"), page.locator("#media-1 img")
    for img in (first, second):
        assert "blur" in filter_of(img) and "grayscale" in filter_of(img)
        assert img.evaluate("el => el.complete && el.naturalWidth") > 0  # loaded (CSP allows it), but blurred
    assert not AuditEvent.objects.filter(action="case.media_revealed").exists()

    page.get_by_role("button", name="Reveal media 1").click()
    page.wait_for_selector("#media-0.revealed")
    assert filter_of(page.locator("#media-0 img")) == "none"
    assert "blur" in filter_of(second)
    assert page.get_by_role("button", name="Reveal media 2").is_visible()
    page.wait_for_function("document.getElementById('live').textContent.includes('Media 1 is revealed')")
    revealed = AuditEvent.objects.filter(action="case.media_revealed", actor_name="mod1")
    assert revealed.count() == 1 and revealed.get().data["index"] == 0

    # The reveal is remembered for this session: a reload keeps media 1 visible, media 2 blurred.
    page.reload()
    assert filter_of(page.locator("#media-0 img")) == "none"
    assert "blur" in filter_of(page.locator("#media-1 img"))


def test_double_click_casts_one_vote(page_for, people, file_case):
    case_id = str(file_case(text="double click"))
    page = page_for(people["moderators"][0])
    assert claim_via_ui(page) == case_id
    page.locator("#vote-outcome-no_violation").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Cast vote", exact=True).dblclick()
    assert "Your vote was recorded." in live_text(page)
    assert "already" not in live_text(page)
    assert Vote.objects.filter(review__case_id=case_id).count() == 1
