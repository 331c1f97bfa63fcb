"""Sign-in in a real browser: accessibility, keyboard alone, the announced
error, the session cookie over http://127.0.0.1, the language switcher and
the Content-Security-Policy actually enforced by Chromium."""
import pytest
from django.urls import reverse

from .conftest import axe_check, focus_outline, screenshot, watch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_login_page_passes_axe(open_page, people):
    page = open_page(reverse("console:login"))
    assert page.get_by_role("heading", level=1).inner_text() == "Sign in"
    axe_check(page)
    screenshot(page, "login")


def test_sign_in_by_keyboard_alone_lands_on_my_work(open_page, people):
    page = open_page(reverse("console:login"))
    # The user name field has autofocus: no mouse needed from the first key.
    assert page.evaluate("document.activeElement.id") == "id_username"
    page.keyboard.type("mod1")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "id_password"
    outline = focus_outline(page)
    assert outline["style"] != "none" and outline["width"] > 0, f"focus is not visible: {outline}"
    page.keyboard.type("x-mod1")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(reverse("console:my-work"))


def test_session_cookie_is_secure_and_works_over_http_127(open_page, people):
    """Test settings mark the session and CSRF cookies Secure (DEBUG is off); Chromium
    treats http://127.0.0.1 as potentially trustworthy and keeps them."""
    page = open_page(reverse("console:login"))
    page.get_by_label("User name").fill("mod2")
    page.get_by_label("Password").fill("x-mod2")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["sessionid"]["secure"] and cookies["sessionid"]["httpOnly"]
    assert cookies["csrftoken"]["secure"]
    # Signed in: the login page now sends us on, and My work does not bounce to the login page.
    page.goto(reverse("console:login"))
    assert page.url.endswith(reverse("console:my-work"))
    page.goto(reverse("console:my-work"))
    assert "/login/" not in page.url


def test_form_posts_carry_a_real_origin(open_page, people):
    """Django's CSRF check refuses a POST whose Origin header does not match the site, and
    Chromium sends `Origin: null` on same-origin form POSTs when the page's referrer policy
    is no-referrer: the policy must let the origin through for same-origin requests."""
    page = open_page(reverse("console:login"))
    origins = []
    page.on("request", lambda r: r.method == "POST" and origins.append(r.headers.get("origin")))
    page.get_by_label("User name").fill("mod3")
    page.get_by_label("Password").fill("x-mod3")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert origins == [page.evaluate("location.origin")], (
        f"form POST sent Origin {origins}: Referrer-Policy no-referrer makes Chromium send Origin: null")
    assert page.url.endswith(reverse("console:my-work"))


def test_wrong_password_is_announced(open_page, people):
    page = open_page(reverse("console:login"))
    page.get_by_label("User name").fill("mod1")
    page.get_by_label("Password").fill("not-the-password")
    watch(page).expect(r"status of 400 .*/login/")  # the form answers 400 with the error
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    assert alert.is_visible()
    assert "correct username and password" in alert.inner_text()
    assert page.get_by_label("User name").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("User name").get_attribute("aria-describedby") == "login-error"
    assert page.url.endswith(reverse("console:login")) and "sessionid" not in {c["name"] for c in page.context.cookies()}
    axe_check(page)


def test_language_switch_to_german_changes_html_lang(open_page, people):
    page = open_page(reverse("console:login"))
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_label("Language").select_option("de")
    with page.expect_navigation():
        page.get_by_role("button", name="Switch").click()
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.url.endswith(reverse("console:login"))
    # The choice sticks for the next page load.
    page.reload()
    assert page.locator("html").get_attribute("lang") == "de"


def test_csp_blocks_injected_inline_script_and_handlers(open_page, people):
    page = open_page()
    response = page.goto(reverse("console:login"))
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "object-src 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    watch(page).expect(r"Content Security Policy")
    page.evaluate("""() => {
        const s = document.createElement("script");
        s.textContent = "window.__pwned('inline-script')";
        document.body.appendChild(s);
        const holder = document.createElement("div");
        holder.innerHTML = '<img src="data:," onerror="window.__pwned(\\'inline-handler\\')">';
        document.body.appendChild(holder);
    }""")
    page.wait_for_function("window.__cspViolations.length >= 2")
    assert watch(page).pwned_calls() == []
    directives = {v["directive"] for v in watch(page).csp_violations()}
    assert directives & {"script-src-elem", "script-src"}, directives
    assert directives & {"script-src-attr", "script-src"}, directives
    # The page's own script (a file from 'self') did run: the shortcut helper is defined.
    assert page.evaluate("typeof window.quorumAnnounce") == "function"
