"""Hostile reported content on the case page: every entry of the corpus is
shown exactly, as text, and never reaches an href or src; media stay
blurred until one is revealed, which is audited."""
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from django.urls import reverse
from django.utils.html import escape

from audit.models import AuditEvent
from cases.services import ReportInput, SubjectInput
from console.templatetags.console_tags import bidi_visible
from reviews.intake import report_intake
from reviews.models import Review
from reviews.services import seat_assign

from .hostile_corpus import ALL, HOSTILE_URLS

SUBJECT_URL_MAX = 2048  # cases_subject.url is a varchar(2048); the API refuses longer URLs
DISPLAY_NAME_MAX = 255  # cases_subject.display_name is a varchar(255)


def _url(case_id, name="case", *extra):
    return reverse(f"console:{name}", args=[case_id, *extra])


def _storable(text):
    """PostgreSQL text and jsonb cannot hold NUL, and the API refuses it
    (integrations.api.serializers): a NUL never reaches a case. The rest of the
    payload must still render exactly."""
    return text.replace("\x00", "")


@pytest.fixture
def file_hostile(console_source, system_actor, policy_book, workflows):
    counter = {"n": 0}

    def file(payload, *, url=None, media_url=None, display_name=None):
        counter["n"] += 1
        external_id = f"hostile-{counter['n']}"
        media = [{"url": media_url if media_url is not None else payload, "mime_type": "image/png"}]
        fields = {"latest_text": payload, "latest_media": media}
        if url is not None:
            fields["url"] = url
        item = ReportInput(
            subject=SubjectInput(kind="content", external_id=external_id, fields=fields,
                                 author_external_id=f"author-{counter['n']}", author_display_name=display_name,
                                 as_received={"kind": "content", "external_id": external_id, "text": payload,
                                              "media": media, "url": url or ""}),
            policy=policy_book["spam"], reporter_kind="user", reporter_external_id="r1", description=payload,
        )
        return report_intake(source=console_source, api_client_id=None, actor=system_actor, item=item).case_id

    return file


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, [(name, value or "") for name, value in attrs]))


def _tags(html):
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser.tags


LINK_ATTRIBUTES = {"href", "src", "action", "hx-post", "hx-get", "formaction", "srcdoc", "data"}
OUR_HTMX = {"hx-post", "hx-target", "hx-swap", "hx-headers"}


def _assert_inert(html, hostile=None):
    """Parses the page as a browser would: only our own tags and attributes,
    no event handlers or inline styles, links only to this site or http(s)."""
    for tag, attrs in _tags(html):
        assert tag not in {"iframe", "svg", "style", "object", "embed", "base", "form-injected"}, tag
        if tag == "script":
            assert [name for name, _ in attrs if name != "defer"] == ["src"] and attrs[0][1].startswith("/static/")
        for name, value in attrs:
            assert not name.startswith("on") and name not in {"style", "srcdoc"}, (tag, name)
            assert not name.startswith("hx-") or name in OUR_HTMX, (tag, name)
            if name in LINK_ATTRIBUTES:
                assert value.startswith(("/", "#", "https://", "http://")), (tag, name, value[:80])
                if hostile:
                    assert hostile not in value, (tag, name, value[:80])


@pytest.mark.parametrize(("name", "payload"), ALL, ids=[name for name, _ in ALL])
def test_hostile_text_renders_exactly_and_inert(name, payload, file_hostile, people, sign_in):
    payload = _storable(payload)
    fits_url = len(payload) <= SUBJECT_URL_MAX
    fits_name = len(payload) <= DISPLAY_NAME_MAX
    case_id = file_hostile(payload, url=payload if fits_url else None,
                           display_name=payload if fits_name else "someone")
    mod1 = people["moderators"][0]
    seat_assign(review_id=Review.objects.get(case_id=case_id).pk, moderator=mod1,
                lead=User.objects.get(username="admin1"))
    client = sign_in(mod1)
    response = client.get(_url(case_id))
    assert response.status_code == 200
    html = response.content.decode()
    # Escaped, with every directional control character wrapped in a visible, isolating marker span
    # (console_tags.bidi_visible); the characters themselves stay.
    escaped = str(bidi_visible(payload))
    # text as reported, the report's description, the media URL as placeholder text
    # (+ display name and the original's address when they fit their columns)
    expected = 3 + fits_url + fits_name
    assert html.count(escaped) >= expected, (html.count(escaped), expected)
    assert f'<div class="reported-text" dir="auto">{escaped}</div>' in html
    assert f'<span class="reported-inline media-url" dir="auto">{escaped}</span>' in html
    if escaped != payload:
        assert payload not in html
    _assert_inert(html, payload)
    # revealing the hostile media item keeps it inert too
    fragment = client.post(_url(case_id, "reveal-media", 0), HTTP_HX_REQUEST="true").content.decode()
    assert f'<span class="reported-inline media-url" dir="auto">{escaped}</span>' in fragment
    if escaped != payload:
        assert payload not in fragment
    _assert_inert(fragment, payload)


@pytest.mark.parametrize("hostile", HOSTILE_URLS)
def test_hostile_urls_never_reach_an_href_or_src(hostile, file_hostile, people, sign_in):
    case_id = file_hostile("harmless text", url=hostile, media_url=hostile)
    mod1 = people["moderators"][0]
    client = sign_in(mod1)
    with override_settings(CONSOLE_MEDIA_ORIGINS=["https://evil.example", "http://evil.example"]):
        html = client.get(_url(case_id)).content.decode()
        assert escape(hostile) in html  # shown as text ...
        _assert_inert(html, hostile)  # ... never as a link or an image
        assert "<img" not in html
        assert "not an http(s) address: not linked" in html
        # revealed, it is still not linked
        client.post(_url(case_id, "reveal-media", 0))
        revealed = client.get(_url(case_id)).content.decode()
    assert 'class="media-item revealed"' in revealed and "Not a web address: not linked." in revealed
    _assert_inert(revealed, hostile)


def test_media_is_blurred_by_default_and_reveal_is_audited_once(people, file_case, sign_in):
    case_id = file_case(media=[{"url": "https://media.example/one.png"}, {"url": "https://media.example/two.png"}])
    client = sign_in(people["moderators"][0])
    html = client.get(_url(case_id)).content.decode()
    assert html.count('class="media-item blurred"') == 2 and "Reveal media 1" in html and "Reveal media 2" in html
    assert "<img" not in html  # media.example is not an allowed media origin: placeholders only
    assert "https://media.example/two.png" in html and 'href="https://media.example/two.png"' not in html
    response = client.post(_url(case_id, "reveal-media", 1), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    fragment = response.content.decode()
    assert fragment.strip().startswith('<li class="media-item revealed" id="media-1">')
    assert "blurred" not in fragment and "Reveal media" not in fragment
    assert 'href="https://media.example/two.png" rel="noopener noreferrer" target="_blank"' in fragment
    assert "data-announce-on-load" in fragment
    events = AuditEvent.objects.filter(stream=f"case:{case_id}", action="case.media_revealed")
    assert events.count() == 1
    event = events.get()
    assert event.data == {"index": 1, "url": "https://media.example/two.png"} and event.actor_name == "mod1"
    # the page remembers it for this session: item 2 revealed, item 1 still blurred
    html = client.get(_url(case_id)).content.decode()
    assert 'class="media-item revealed" id="media-1"' in html and 'class="media-item blurred" id="media-0"' in html
    # another session sees both blurred
    other = sign_in(people["moderators"][1]).get(_url(case_id)).content.decode()
    assert other.count('class="media-item blurred"') == 2


def test_reveal_without_javascript_redirects_back_to_the_item(people, file_case, sign_in):
    case_id = file_case(media=[{"url": "https://media.example/one.png"}])
    client = sign_in(people["moderators"][0])
    response = client.post(_url(case_id, "reveal-media", 0))
    assert response.status_code == 302 and response["Location"] == _url(case_id) + "#media-0"
    assert AuditEvent.objects.filter(stream=f"case:{case_id}", action="case.media_revealed").count() == 1
    assert 'class="media-item revealed" id="media-0"' in client.get(_url(case_id)).content.decode()


def test_reveal_of_a_missing_item_is_404_and_not_audited(people, file_case, sign_in):
    case_id = file_case(media=[{"url": "https://media.example/one.png"}])
    assert sign_in(people["moderators"][0]).post(_url(case_id, "reveal-media", 5)).status_code == 404
    assert not AuditEvent.objects.filter(action="case.media_revealed").exists()


@override_settings(CONSOLE_MEDIA_ORIGINS=["https://media.example"])
def test_allowed_media_origin_loads_a_blurred_thumbnail(people, file_case, sign_in):
    case_id = file_case(media=[{"url": "https://media.example/one.png"}, {"url": "https://elsewhere.example/x.png"}])
    html = sign_in(people["moderators"][0]).get(_url(case_id)).content.decode()
    first = html.split('id="media-0"')[1].split("</li>")[0]
    second = html.split('id="media-1"')[1].split("</li>")[0]
    assert '<img src="https://media.example/one.png"' in first and 'class="media-item blurred" id="media-0"' in html
    assert "<img" not in second and "https://elsewhere.example/x.png" in second


def test_page_sends_the_strict_content_security_policy(people, file_case, sign_in):
    case_id = file_case(text="<script>alert(1)</script>")
    response = sign_in(people["moderators"][0]).get(_url(case_id))
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp
    assert response["X-Content-Type-Options"] == "nosniff" and response["Referrer-Policy"] == "same-origin"
    _assert_inert(response.content.decode())
