"""Real-browser test infrastructure: Debian's Chromium driven by Playwright
against pytest-django's live server on 127.0.0.1.

One browser per session; every user gets a fresh browser context (own
cookies), so two moderators can work side by side. Every page records
console errors, uncaught page errors and CSP violations, and defines
`window.__pwned`, which hostile payloads call if they ever run: a page that
ends a test with an unexpected problem or a recorded call fails the test.

The live server answers from a thread of this process, so the data a test
writes must be committed (transactional tests: the `live_server` fixture
asks for `transactional_db`, whose flush the audit truncate guard in
tests/conftest.py allows)."""
import os
import re
import struct
import zlib
from pathlib import Path

import pytest
from django.core.cache import cache
from django.urls import reverse

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 900}

# Defined before any page script runs. Payloads in tests/console/hostile_corpus.py call
# window.__pwned(name); CSP violations are collected from the DOM event as well.
INIT_SCRIPT = """
window.__pwned = (n) => { window.__pwnedCalls = (window.__pwnedCalls || []).concat([n]); };
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push({directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample});
});
"""



@pytest.fixture(scope="session")
def live_server(request):
    """The live server on 127.0.0.1 (pytest-django's default is "localhost"), any free port."""
    from pytest_django.live_server_helper import LiveServer

    server = LiveServer("127.0.0.1:0")
    yield server
    server.stop()


@pytest.fixture(scope="package")
def browser():
    """One Chromium for all browser tests. Package scope: Playwright's sync API keeps an
    asyncio loop running in this thread while it lives, so it is stopped as soon as the
    browser tests are done, and the rest of the suite runs without it. Meanwhile Django's
    ORM must be told to run beside that loop (the tests use the ORM only between browser
    calls, never concurrently with them)."""
    from playwright.sync_api import sync_playwright

    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


def png_bytes(width=320, height=200):
    """A colourful PNG made here (no image library, nothing downloaded): stands in for reported media."""
    rows = b"".join(b"\x00" + b"".join(bytes(((x * 255) // width, (y * 255) // height, (x ^ y) & 0xFF))
                                         for x in range(width)) for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


MEDIA_PATH = "/__test-media__/"
_PNG = png_bytes()


@pytest.fixture
def media_url(settings, live_server):
    """media_url(name) -> an http URL on the live server's own origin (so the CSP's img-src 'self'
    allows it), listed in CONSOLE_MEDIA_ORIGINS; every browser context answers it with a PNG."""
    settings.CONSOLE_MEDIA_ORIGINS = [live_server.url]
    return lambda name: f"{live_server.url}{MEDIA_PATH}{name}.png"


@pytest.fixture(autouse=True)
def _clear_cache():
    """Failed sign-in counters live in the cache; every browser test starts without any."""
    cache.clear()
    yield
    cache.clear()


class Watch:
    """What went wrong in one page: console errors, uncaught errors; tests declare the
    problems they provoke on purpose with `expect(regex)`."""

    def __init__(self, page):
        self.page = page
        self.console_errors = []
        self.page_errors = []
        self.expected = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))

    def _console(self, msg):
        # Chromium asks for /favicon.ico by itself; the console has none, and that 404 is not the page's.
        if msg.type == "error" and not (msg.location or {}).get("url", "").endswith("/favicon.ico"):
            self.console_errors.append(f"{msg.text} [{(msg.location or {}).get('url', '')}]")

    def expect(self, pattern):
        self.expected.append(re.compile(pattern))

    def csp_violations(self):
        return self.page.evaluate("window.__cspViolations || []")

    def pwned_calls(self):
        return self.page.evaluate("window.__pwnedCalls || []")

    def unexpected(self):
        problems = [f"console: {t}" for t in self.console_errors] + [f"pageerror: {t}" for t in self.page_errors]
        return [p for p in problems if not any(rx.search(p) for rx in self.expected)]


@pytest.fixture
def open_page(browser, live_server):
    """open_page(path="/console/login/", locale="en-US") -> a Page in a fresh context.
    `watch(page)` gives its Watch."""
    contexts, watches = [], []

    def make(path=None, locale="en-US"):
        context = browser.new_context(base_url=live_server.url, locale=locale, viewport=VIEWPORT)
        context.set_default_timeout(10_000)
        context.add_init_script(INIT_SCRIPT)
        context.route(f"**{MEDIA_PATH}**", lambda route: route.fulfill(body=_PNG, content_type="image/png"))
        contexts.append(context)
        page = context.new_page()
        watch = Watch(page)
        watches.append(watch)
        page._quorum_watch = watch
        if path:
            page.goto(path)
        return page

    yield make
    failures = []
    for watch in watches:
        if watch.page.is_closed():
            continue
        try:
            calls = watch.pwned_calls()
        except Exception:  # page navigating or gone: the listeners below still tell
            calls = []
        if calls:
            failures.append(f"hostile payloads ran: {calls}")
        failures.extend(watch.unexpected())
    for context in contexts:
        context.close()
    assert not failures, "browser problems:\n" + "\n".join(failures)


def watch(page) -> Watch:
    return page._quorum_watch


def sign_in_form(page, username, password):
    """Signs in through the real form (CSRF token, session cookie, redirect)."""
    page.goto(reverse("console:login"))
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Sign in").click()
    status = navigation.value.status if navigation.value else None
    assert status != 403, (
        "the sign-in form was refused (403): Django's CSRF check rejects the POST, e.g. because "
        "Referrer-Policy no-referrer makes Chromium send Origin: null (test_form_posts_carry_a_real_origin)")


@pytest.fixture
def page_for(open_page):
    """page_for(user) -> a Page signed in as that user (own context), on My work."""

    def make(user, locale="en-US"):
        page = open_page(locale=locale)
        sign_in_form(page, user.get_username(), "x-" + user.get_username())
        assert "/login/" not in page.url, f"sign-in as {user} failed: {page.url}"
        return page

    return make


AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def axe_check(page, *, exclude_rules=()):
    """Runs axe-core in the page with the WCAG 2.0/2.1/2.2 A and AA rules and axe's best
    practices; fails on any violation, whatever its impact."""
    from axe_playwright_python.sync_playwright import Axe

    options = {"resultTypes": ["violations"], "runOnly": {"type": "tag", "values": AXE_TAGS}}
    if exclude_rules:
        options["rules"] = {rule: {"enabled": False} for rule in exclude_rules}
    violations = Axe().run(page, options=options).response["violations"]
    report = "\n".join(
        f"{v['impact']} {v['id']}: {v['help']}\n" + "\n".join(f"    {n.get('target')} {n.get('html', '')[:200]}"
                                                                for n in v["nodes"][:5])
        for v in violations)
    width = page.viewport_size["width"] if page.viewport_size else "?"
    assert not violations, f"axe violations on {page.url} at {width} px:\n{report}"
    return violations


def screenshot(page, name, *, full_page=True):
    """Writes docs/screenshots/<name>.png, only when QUORUM_SCREENSHOTS=1 (normal runs
    must not rewrite tracked files). Returns the path written or None."""
    if os.environ.get("QUORUM_SCREENSHOTS") != "1":
        return None
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled", caret="hide")
    return path


def assert_no_overflow(page):
    """The page does not scroll sideways."""
    widths = page.evaluate("({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})")
    assert widths["scroll"] <= widths["inner"], f"horizontal overflow on {page.url}: {widths}"


def focus_outline(page):
    """The computed outline of the focused element (style, width), for visible-focus checks."""
    return page.evaluate("""() => {
        const el = document.activeElement;
        if (!el || el === document.body) return null;
        const s = getComputedStyle(el);
        return {tag: el.tagName, style: s.outlineStyle, width: parseFloat(s.outlineWidth) || 0,
                shadow: s.boxShadow};
    }""")


# ---- data the pages show, made through the domain services (committed: the live server reads it) ----

def claim_and_vote(case_id, user, outcome, *, policy="spam", rationale="", duration_days=None):
    """A lead gives `user` a seat in the case's open stage (eligibility applies) and `user` votes."""
    from django.contrib.auth.models import User

    from cases.models import Policy
    from reviews.models import Outcome, Review
    from reviews.services import seat_assign, vote_cast

    review = Review.objects.get(case_id=case_id, state="open")
    lead = User.objects.filter(groups__name="senior_moderator").exclude(pk=user.pk).order_by("username").first()
    seat_assign(review_id=review.pk, moderator=user, lead=lead)
    return vote_cast(review_id=review.pk, reviewer=user, outcome=Outcome.objects.get(code=outcome),
                     policy=Policy.objects.get(code=policy), rationale=rationale, duration_days=duration_days)


def claim_via_ui(page, queue_name="General"):
    """My work → "Claim next in <queue>" → the case page; returns the case id from the URL."""
    page.goto(reverse("console:my-work"))
    with page.expect_navigation():
        page.get_by_role("button", name=f"Claim next in {queue_name}").click()
    match = re.search(r"/cases/([0-9a-f-]{36})/", page.url)
    assert match, f"claiming did not open a case page: {page.url}"
    return match.group(1)


def vote_via_ui(page, outcome, rationale, *, policy=None):
    """Votes on the open case page: outcome by code (e.g. "remove_content"), a rationale, Cast vote."""
    page.locator(f"#vote-outcome-{outcome}").check()
    if policy:
        page.get_by_label("Policy").select_option(policy)
    page.get_by_label("Rationale").fill(rationale)
    with page.expect_navigation():
        page.get_by_role("button", name="Cast vote", exact=True).click()


def live_text(page):
    """The live region's text, once the messages of the page load have been moved into it."""
    page.wait_for_function("() => !document.querySelector('#flash > *')", timeout=15_000)
    return page.locator("#live").inner_text()
