"""The console in German: the language switcher, <html lang>, translated UI
strings (locale/de, added by the lead) and German date formats; reported
right-to-left text keeps its own direction."""
import re

import pytest
from django.urls import reverse

from .conftest import axe_check, claim_via_ui

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def switch_to_german(page):
    page.get_by_label("Language").select_option("de")
    with page.expect_navigation():
        page.get_by_role("button", name="Switch").click()


def test_german_ui(page_for, people, file_case):
    case_id = str(file_case(text="مرحبا بالعالم — هذا نص عربي"))
    page = page_for(people["moderators"][0])
    assert claim_via_ui(page) == case_id
    switch_to_german(page)
    assert page.url.endswith(reverse("console:case", args=[case_id]))  # back where we were
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.locator("html").get_attribute("dir") == "ltr"

    # Dates follow the German format (Django's de formats: d.m.Y H:i).
    opened = page.locator(".case-meta time").first.inner_text()
    assert re.fullmatch(r"\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}", opened), opened
    # Arabic reported text is laid out right-to-left inside the German page.
    direction = page.locator(".reported-text").first.evaluate("el => getComputedStyle(el).direction")
    assert direction == "rtl"

    # Translated UI strings. If this fails with English text, locale/de/LC_MESSAGES/django.po
    # (and the compiled .mo) has not been written yet: the lead adds the German catalogue.
    logout = reverse("console:logout")
    sign_out = page.locator(f"form[action='{logout}'] button").inner_text()
    assert sign_out == "Abmelden", f"German catalogue missing? sign-out button reads {sign_out!r}"
    assert page.get_by_role("link", name="Meine Arbeit").is_visible()
    axe_check(page)
