"""axe-core on every console page, with data on it, per role; the README
screenshots (docs/screenshots/, written only with QUORUM_SCREENSHOTS=1)."""
import pytest
from django.urls import reverse

from reviews.models import AppellantKind, Review
from reviews.services import appeal_file, seat_assign

from .conftest import assert_no_overflow, axe_check, claim_and_vote, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def console_data(people, file_case, media_url, system_actor):
    """A little of everything: a decided and appealed case, a split one waiting for a senior,
    open cases, and a case with two media held by mod4."""
    mods, seniors = people["moderators"], people["seniors"]
    with_media = str(file_case(
        text="Limited offer!!! Visit the link to claim your prize — مرحبا", url="https://forum.example/p/1",
        media=[{"url": media_url("one"), "mime_type": "image/png"}, {"url": media_url("two"), "mime_type": "image/png"}],
        author="spammer-42", description="Reported by several users as spam"))
    seat_assign(review_id=Review.objects.get(case_id=with_media, state="open").pk, moderator=mods[3], lead=seniors[0])

    decided = str(file_case(text="Buy followers now", policy="spam", author="spammer-42"))
    claim_and_vote(decided, mods[0], "remove_content", rationale="Commercial spam.")
    claim_and_vote(decided, mods[1], "remove_content", rationale="Spam, same network.")
    appeal_file(case_id=decided, appellant_kind=AppellantKind.AFFECTED_USER,
                statement="I was only sharing a deal with friends.", actor=system_actor)

    split = str(file_case(text="Is this satire?", policy="harassment"))
    claim_and_vote(split, mods[0], "no_violation")
    claim_and_vote(split, mods[1], "label", policy="harassment", rationale="Needs a label.")
    claim_and_vote(split, mods[2], "remove_content", policy="harassment", rationale="Targets a person.")

    for i in range(3):
        file_case(text=f"Open case number {i}", policy=["spam", "harassment", "hate"][i % 3])
    return {"with_media": with_media, "decided": decided, "split": split}


WIDTHS = (1280, 390, 320)


def check_widths(page):
    """axe (WCAG 2.2 A/AA + best practice) and no sideways page scroll at desktop, phone and
    the 320 px reflow width (WCAG 1.4.10); the viewport is put back afterwards."""
    original = page.viewport_size
    try:
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            assert_no_overflow(page)
            axe_check(page)
    finally:
        page.set_viewport_size(original)


def set_language(page, code):
    """Switches the console language through the real switcher (a POST), staying on the page."""
    page.get_by_label("Language" if code == "de" else "Sprache").select_option(code)
    with page.expect_navigation():
        page.locator("form.language button").click()
    assert page.locator("html").get_attribute("lang") == code


def visit(page, url, name=None, *, heading=None):
    """Opens `url` and checks it in English and in German at every width; the page is left
    in English. Screenshots are taken in both languages (<name>.png and <name>-de.png)."""
    response = page.goto(url)
    assert response.status == 200, f"{url}: {response.status}"
    if heading:
        assert heading.lower() in page.get_by_role("heading", level=1).inner_text().lower()
    assert page.locator("h1").count() == 1
    if name:
        screenshot(page, name)
    check_widths(page)
    set_language(page, "de")
    if name:
        screenshot(page, f"{name}-de")
    check_widths(page)
    set_language(page, "en")


def test_moderator_pages(page_for, people, console_data):
    page = page_for(people["moderators"][3])
    visit(page, reverse("console:my-work"), "my-work", heading="My work")
    assert page.get_by_role("button", name="Claim next in General").is_visible()
    visit(page, reverse("console:queue", args=["general"]), "queue", heading="General")
    # The filter form, used as a person would: choose, apply, read the filtered list.
    page.get_by_label("Policy").select_option(label="Hateful conduct")
    page.get_by_label("Sort by").select_option("oldest")
    with page.expect_navigation():
        page.get_by_role("button", name="Apply").click()
    assert "policy=hate" in page.url and "Open case number 2" in page.locator("main").inner_text()
    assert "Buy followers now" not in page.locator("main").inner_text()
    axe_check(page)
    visit(page, reverse("console:case", args=[console_data["with_media"]]), "case")
    assert page.locator(".media-item.blurred img").count() == 2
    assert page.get_by_role("button", name="Cast vote", exact=True).is_visible()
    visit(page, reverse("console:case", args=[console_data["decided"]]))


def test_senior_pages(page_for, people, console_data):
    page = page_for(people["seniors"][1])
    visit(page, reverse("console:escalations"), "escalations", heading="Escalations")
    assert "Reviewers disagreed (split)" in page.locator("main").inner_text()
    visit(page, reverse("console:appeals"), "appeals", heading="Appeals")
    assert "I was only sharing a deal with friends." in page.locator("main").inner_text()
    visit(page, reverse("console:dashboard"), "dashboard", heading="Dashboard")
    assert page.locator("main svg").count() >= 1  # charts are inline SVG
    visit(page, reverse("console:dashboard") + "?window=7d")
    visit(page, reverse("console:case", args=[console_data["split"]]))  # lead actions: assign, hold, note
    assert page.get_by_label("Reason for the hold").is_visible()
    # the decided case's DSA statement is held (no mappings here): its errors and the correction form
    page.goto(reverse("console:case", args=[console_data["decided"]]))
    page.get_by_text("Correct before publication").click()
    assert page.get_by_label("Territorial scope").is_visible()
    check_widths(page)


def test_auditor_pages(page_for, people, console_data):
    page = page_for(people["auditor"])
    visit(page, reverse("console:audit") + f"?case={console_data['decided']}", "audit", heading="Audit")
    assert page.locator("table.audit-events tbody tr").count() >= 5
    page.get_by_role("button", name="Verify this case’s chain").click()
    page.wait_for_selector("#verify-result .verify-ok")
    assert page.locator("#verify-result").inner_text().startswith("Verified")
    assert "Not checked" in page.locator("#verify-result").inner_text()
    axe_check(page)
    visit(page, reverse("console:audit"), heading="Audit")
    visit(page, reverse("console:case", args=[console_data["decided"]]))
    visit(page, reverse("console:escalations"))
    visit(page, reverse("console:dashboard"))


def test_dsa_pages(page_for, people, console_data, console_source, policy_book):
    """The leads' DSA page (flaggers, sanctions, proposals) and the transparency report, with rows in every table."""
    from django.utils import timezone

    from audit.context import Actor
    from trust.flaggers import flagger_save
    from trust.models import ReporterSanction, TrustedFlagger

    flagger_save(flagger=TrustedFlagger(name="Hotline e.V."), actor=Actor.system("t"),
                 expertise=[policy_book["spam"]], identities=[(console_source, "hotline")])
    ReporterSanction.objects.create(source=console_source, reporter_external_id="troll-1", kind="suspension",
                                    reason="12 of your 13 notices were found to be manifestly unfounded.",
                                    notices=13, unfounded=12, created_at=timezone.now(),
                                    ends_at=timezone.now() + timezone.timedelta(days=30))
    page = page_for(people["seniors"][1])
    visit(page, reverse("console:trust"), "dsa", heading="Trusted flaggers")
    assert "Hotline e.V." in page.locator("main").inner_text()
    visit(page, reverse("console:transparency"), "transparency", heading="Transparency report")
    assert page.locator("main table").count() == 5  # one table per section; the fifth is the per-trusted-flagger breakdown (G3)
