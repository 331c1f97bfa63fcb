"""Hostile-looking content is ordinary data: stored and returned exactly as sent."""

import json

import pytest

from cases.models import Report, Subject

from .conftest import REPORTS_URL, post_json, post_raw

HOSTILE = {
    "html and script": '<script>alert("x")</script><img src=x onerror=alert(1)> &amp; &lt;b&gt; </textarea>',
    "sql-looking": "'; DROP TABLE cases_case; -- \" OR 1=1 /*",
    "template-looking": "{{ settings.SECRET_KEY }} {% debug %} ${jndi:ldap://x.test/a} %s %(x)s",
    "right-to-left override": "invoice\u202egnp.exe and \u202b\u202c\u2066\u2067\u2068\u2069",
    "zero width": "a\u200db\u200bc\u200cd\ufeffe\u2060f",
    "four-byte emoji": "\U0001f4a9\U0001f469\u200d\U0001f469\u200d\U0001f467 \U0001f1e9\U0001f1ea \U0010ffff",
    "combining flood": "Z" + "\u0336\u0337\u0338\u0489\u0300\u0301" * 500,
    "line separators": "line\u2028para\u2029next\r\nwindows\rold-mac\n",
    "control characters": "bell\x07 esc\x1b[31m red \x7f del \x85 nel \x01\x1f",
    "whitespace kept": "  leading and trailing spaces and tabs\t\t ",
    "noncharacters": "\ufffe\uffff\U0001fffe",
    "backslashes and quotes": 'C:\\path\\to "quoted" \\u0000 not a NUL',
}


def _subject(external_id, text):
    return {
        "kind": "content", "external_id": external_id, "text": text, "display_name": text[:255],
        "url": "https://x.test/p?q=<script>&r=\u202e", "language": "en",
        "author": {"external_id": f"author-{external_id}", "display_name": text[:255]},
        "media": [{"url": "https://x.test/m.png?<b>", "mime_type": "image/png", "sha256": "AB" * 32}],
        "metadata": {"note": text, text[:50]: [text, {"nested": text}], "reach": 10},
    }


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_text_round_trips_exactly(api, text):
    subject = _subject("hostile", text)
    response = post_json(api, REPORTS_URL, {"subject": subject, "policy": "spam", "description": text,
                                            "reporter": {"kind": "user", "external_id": text[:255]}})
    assert response.status_code == 201, response.content[:1000]

    detail = api.get(f"/api/v1/cases/{response.json()['case']['id']}")
    assert detail.status_code == 200
    case = detail.json()
    assert case["subject"]["text"] == text
    assert case["subject"]["display_name"] == text[:255]
    assert case["subject"]["author"] == {"external_id": "author-hostile", "display_name": text[:255]}
    assert case["subject"]["metadata"] == subject["metadata"]
    assert case["subject"]["url"] == subject["url"]
    (report,) = case["reports"]
    assert report["description"] == text
    assert report["reporter"] == {"kind": "user", "external_id": text[:255], "claimed_kind": None}
    # The evidence snapshot is the subject object exactly as received.
    assert report["snapshot"] == subject
    # And the database holds the same characters (no escaping, trimming or normalisation on the way in).
    stored = Subject.objects.get(external_id="hostile")
    assert stored.latest_text == text
    assert Report.objects.get().description == text


def test_text_as_the_external_id_round_trips(api):
    external_id = "\u202e\U0001f4a9<b>\u200d" + "\u0301" * 100
    response = post_json(api, REPORTS_URL, {"subject": {"kind": "account", "external_id": external_id}, "policy": "spam"})
    assert response.status_code == 201
    case = api.get(f"/api/v1/cases/{response.json()['case']['id']}").json()
    assert case["subject"]["external_id"] == external_id
    joined = post_json(api, REPORTS_URL, {"subject": {"kind": "account", "external_id": external_id}, "policy": "spam"})
    assert joined.status_code == 200 and joined.json()["case"]["id"] == response.json()["case"]["id"]


def test_100_kb_of_mixed_text_round_trips_exactly(api):
    chunk = "".join(HOSTILE.values())
    text = (chunk * (100_000 // len(chunk) + 1))[:100_000]
    assert len(text) == 100_000
    response = post_json(api, REPORTS_URL, {"subject": {"kind": "content", "external_id": "big", "text": text},
                                            "policy": "spam"})
    assert response.status_code == 201, response.content[:500]
    case = api.get(f"/api/v1/cases/{response.json()['case']['id']}").json()
    assert case["subject"]["text"] == text
    assert case["reports"][0]["snapshot"]["text"] == text


def test_raw_utf8_and_escaped_forms_are_the_same_text(api):
    text = "\U0001f4a9 \u202e \u200d caf\u00e9"
    raw = json.dumps({"subject": {"kind": "content", "external_id": "u", "text": text}, "policy": "spam"},
                     ensure_ascii=False).encode("utf-8")
    case_id = post_raw(api, REPORTS_URL, raw).json()["case"]["id"]
    case = api.get(f"/api/v1/cases/{case_id}").json()
    assert case["subject"]["text"] == text
    # Surrogate pairs as JSON escapes decode to the same astral character.
    escaped = b'{"subject":{"kind":"content","external_id":"v","text":"\\ud83d\\udca9"},"policy":"spam"}'
    case_id = post_raw(api, REPORTS_URL, escaped).json()["case"]["id"]
    assert api.get(f"/api/v1/cases/{case_id}").json()["subject"]["text"] == "\U0001f4a9"


def test_the_case_keeps_the_latest_snapshot_and_each_report_its_own(api):
    first = {"kind": "content", "external_id": "p", "text": "<b>first</b>", "metadata": {"v": 1}}
    second = {"kind": "content", "external_id": "p", "text": "second \u202e"}
    third = {"kind": "content", "external_id": "p"}  # carries no text: the latest text stays
    case_id = post_json(api, REPORTS_URL, {"subject": first, "policy": "spam"}).json()["case"]["id"]
    post_json(api, REPORTS_URL, {"subject": second, "policy": "spam"})
    post_json(api, REPORTS_URL, {"subject": third, "policy": "hate"})

    case = api.get(f"/api/v1/cases/{case_id}").json()
    assert case["subject"]["text"] == "second \u202e"
    assert case["subject"]["metadata"] == {"v": 1}
    assert [r["snapshot"] for r in case["reports"]] == [first, second, third]
    assert [r["policy"] for r in case["reports"]] == ["spam", "spam", "hate"]
