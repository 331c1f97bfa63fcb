"""Malformed and hostile input to POST /api/v1/reports: always a 4xx with the
one error shape naming the field and the reason, never a 500, and nothing
written (reports, cases, subjects, audit events)."""

import json

import pytest

from cases.models import Case, Subject

from .conftest import REPORTS_URL, assert_error, post_json, post_raw


def base():
    return {"subject": {"kind": "content", "external_id": "post-1", "text": "buy now"}, "policy": "spam"}


def with_(path, value):
    """base() with `value` set at a dotted path ("subject.metadata")."""
    body = base()
    target = body
    *parents, last = path.split(".")
    for name in parents:
        target = target.setdefault(name, {})
    target[last] = value
    return body


def without(path):
    body = base()
    target = body
    *parents, last = path.split(".")
    for name in parents:
        target = target[name]
    del target[last]
    return body


def nested(depth, leaf=1):
    """An object nested `depth` levels deep (depth 1 is {"k": leaf})."""
    value = leaf
    for _ in range(depth):
        value = {"k": value}
    return value


def automated(score):
    body = base()
    body["reporter"] = {"kind": "automated", "external_id": "clf-1"}
    body["classifier_score"] = score
    return body


SUBJECT = '"subject":{"kind":"content","external_id":"post-1"}'

# id: (payload, expected status, field named in errors (None: a body-level error), text in message/detail)
BAD_JSON_BODIES = {
    "missing subject": (without("subject"), 400, "subject", "required"),
    "missing policy": (without("policy"), 400, "policy", "required"),
    "missing subject.kind": (without("subject.kind"), 400, "subject.kind", "required"),
    "missing subject.external_id": (without("subject.external_id"), 400, "subject.external_id", "required"),
    "empty object": ({}, 400, "subject", "required"),
    "unknown top-level field": (with_("reporter_email", "a@b.c"), 400, "reporter_email", "unknown field"),
    "unknown nested field": (with_("subject.foo", 1), 400, "subject.foo", "unknown field"),
    "unknown field in reporter": (with_("reporter", {"kind": "user", "name": "x"}), 400, "reporter.name", "unknown field"),
    "unknown field in author": (with_("subject.author", {"external_id": "a", "age": 3}), 400, "subject.author.age",
                                "unknown field"),
    "unknown field in media item": (with_("subject.media", [{"url": "https://x.test/a.png", "size": 3}]), 400,
                                    "subject.media.0.size", "unknown field"),
    "subject is a string": (with_("subject", "post-1"), 400, "subject", "Expected a dictionary"),
    "subject is null": (with_("subject", None), 400, "subject", "null"),
    "subject is a list": (with_("subject", [base()["subject"]]), 400, "subject", "Expected a dictionary"),
    "unknown subject kind": (with_("subject.kind", "post"), 400, "subject.kind", "not a valid choice"),
    "external_id is a boolean": (with_("subject.external_id", True), 400, "subject.external_id", "string"),
    "external_id is an object": (with_("subject.external_id", {"id": 1}), 400, "subject.external_id", "string"),
    "external_id is null": (with_("subject.external_id", None), 400, "subject.external_id", "null"),
    "external_id is blank": (with_("subject.external_id", ""), 400, "subject.external_id", "blank"),
    "external_id over 255": (with_("subject.external_id", "x" * 256), 400, "subject.external_id", "255"),
    "policy is a list": (with_("policy", ["spam"]), 400, "policy", "string"),
    "unknown policy code": (with_("policy", "jaywalking"), 400, "policy", "valid codes: child_safety, harassment"),
    "unknown reporter kind": (with_("reporter", {"kind": "robot"}), 400, "reporter.kind", "not a valid choice"),
    "reporter is a string": (with_("reporter", "user"), 400, "reporter", "Expected a dictionary"),
    "classifier_score -0.1": (automated(-0.1), 400, "classifier_score", "greater than or equal to 0"),
    "classifier_score 1.5": (automated(1.5), 400, "classifier_score", "less than or equal to 1"),
    "classifier_score abc": (automated("abc"), 400, "classifier_score", "valid number"),
    "classifier_score numeric string": (automated("0.5"), 400, "classifier_score", "valid number"),
    "classifier_score boolean": (automated(True), 400, "classifier_score", "valid number"),
    "classifier_score from a user": (with_("classifier_score", 0.5), 400, "classifier_score", "automated"),
    "classifier_score from a trusted flagger": (
        {**base(), "reporter": {"kind": "trusted_flagger", "external_id": "tf"}, "classifier_score": 0.5},
        400, "classifier_score", "automated"),
    "NUL in text": (with_("subject.text", "a\u0000b"), 400, "subject.text", "Null characters are not allowed"),
    "NUL in description": (with_("description", "\u0000"), 400, "description", "Null characters are not allowed"),
    "NUL in reporter id": (with_("reporter", {"kind": "user", "external_id": "u\u0000"}), 400, "reporter.external_id",
                           "Null characters"),
    "NUL in metadata value": (with_("subject.metadata", {"note": "a\u0000"}), 400, "subject.metadata.note", "NUL"),
    "NUL in nested metadata value": (with_("subject.metadata", {"a": ["ok", "\u0000"]}), 400, "subject.metadata.a.1",
                                     "NUL"),
    "NUL in metadata key": (with_("subject.metadata", {"bad\u0000key": 1}), 400, "subject.metadata.bad\u0000key",
                            "key must not contain NUL"),
    "lone surrogate in text": (with_("subject.text", "a\ud800b"), 400, "subject.text", "Surrogate"),
    "lone surrogate in display name": (with_("subject.display_name", "\udfff"), 400, "subject.display_name", "Surrogate"),
    "lone surrogate in metadata value": (with_("subject.metadata", {"a": "\ud83d"}), 400, "subject.metadata.a",
                                         "surrogate"),
    "lone surrogate in metadata key": (with_("subject.metadata", {"\ud800": 1}), 400, "subject.metadata.\\ud800",
                                       "surrogate"),
    # Echoed input (a choice, a field name) must not make the error unrenderable.
    "lone surrogate as subject kind": (with_("subject.kind", "\ud800"), 400, "subject.kind", "\\ud800"),
    "lone surrogate as reporter kind": (with_("reporter", {"kind": "x\udc00"}), 400, "reporter.kind", "x\\udc00"),
    "lone surrogate as unknown field name": (with_("\ud800", 1), 400, "\\ud800", "unknown field"),
    "lone surrogate as policy": (with_("policy", "\ud800"), 400, "policy", "unknown policy"),
    "text over 200000 characters": (with_("subject.text", "x" * 200_001), 400, "subject.text", "200000"),
    "description over 10000": (with_("description", "d" * 10_001), 400, "description", "10000"),
    "javascript url": (with_("subject.url", "javascript:alert(1)"), 400, "subject.url", "http"),
    "data url": (with_("subject.url", "data:text/html,<script>alert(1)</script>"), 400, "subject.url", "http"),
    "url with a space": (with_("subject.url", "https://x.test/a b"), 400, "subject.url", "without spaces"),
    "url over 2048": (with_("subject.url", "https://x.test/" + "a" * 2048), 400, "subject.url", "2048"),
    "javascript media url": (with_("subject.media", [{"url": "javascript:alert(1)"}]), 400, "subject.media.0.url", "http"),
    "bad sha256": (with_("subject.media", [{"url": "https://x.test/a.png", "sha256": "z" * 64}]), 400,
                   "subject.media.0.sha256", "64 hexadecimal"),
    "short sha256": (with_("subject.media", [{"url": "https://x.test/a.png", "sha256": "ab" * 31}]), 400,
                     "subject.media.0.sha256", "64 hexadecimal"),
    "bad mime type": (with_("subject.media", [{"url": "https://x.test/a.png", "mime_type": "image png"}]), 400,
                      "subject.media.0.mime_type", "MIME type"),
    "media is an object": (with_("subject.media", {"url": "https://x.test/a.png"}), 400, "subject.media", "list"),
    "51 media": (with_("subject.media", [{"url": f"https://x.test/{n}.png"} for n in range(51)]), 400, "subject.media",
                 "50"),
    "bad language": (with_("subject.language", "english!"), 400, "subject.language", "BCP 47"),
    "author on an account": ({"subject": {"kind": "account", "external_id": "u1", "author": {"external_id": "u2"}},
                              "policy": "spam"}, 400, "subject.author", "only content subjects"),
    "metadata is a list": (with_("subject.metadata", [1, 2]), 400, "subject.metadata", "JSON object"),
    "metadata nested 9 levels": (with_("subject.metadata", nested(9)), 400, "subject.metadata.k.k.k.k.k.k.k.k",
                                 "deeper than 8"),
    "metadata nested 9 levels, empty leaf": (with_("subject.metadata", nested(8, leaf={})), 400,
                                             "subject.metadata.k.k.k.k.k.k.k.k", "deeper than 8"),
    "metadata nested 9 levels via lists": (with_("subject.metadata", {"a": [[[[[[[[1]]]]]]]]}), 400,
                                           "subject.metadata.a.0.0.0.0.0.0.0", "deeper than 8"),
    "metadata over 64 KiB": (with_("subject.metadata", {"blob": "x" * 70_000}), 400, "subject.metadata", "65536"),
    "jurisdiction XX": (with_("jurisdiction", ["DE", "XX"]), 400, "jurisdiction", "XX"),
    "jurisdiction lower case": (with_("jurisdiction", ["de"]), 400, "jurisdiction", "de"),
    "jurisdiction three letters": (with_("jurisdiction", ["DEU"]), 400, "jurisdiction.0", "2 characters"),
    "jurisdiction is a string": (with_("jurisdiction", "DE"), 400, "jurisdiction", "list"),
}


@pytest.mark.parametrize("payload, status, field, contains", BAD_JSON_BODIES.values(), ids=BAD_JSON_BODIES.keys())
def test_bad_json_body_is_rejected_naming_the_field_and_writes_nothing(api, counts, payload, status, field, contains):
    before = counts()
    response = post_json(api, REPORTS_URL, payload)
    body = assert_error(response, status, field, contains=contains)
    assert body["code"] == "invalid"
    assert body["detail"].startswith("invalid input: ")
    assert counts() == before


# (raw body, content type, status, text in detail)
BAD_RAW_BODIES = {
    "invalid UTF-8": (b'{"subject":{"kind":"content","external_id":"\xff\xfe"},"policy":"spam"}', "application/json",
                      400, "not valid UTF-8"),
    "overlong UTF-8 encoding of NUL": (b'{"policy":"spam","subject":{"kind":"content","external_id":"\xc0\x80"}}',
                                       "application/json", 400, "not valid UTF-8"),
    "UTF-8 encoded surrogate": (b'{"policy":"spam","subject":{"kind":"content","external_id":"\xed\xa0\x80"}}',
                                "application/json", 400, "not valid UTF-8"),
    "not JSON": (b"subject=post-1&policy=spam", "application/json", 400, "malformed JSON"),
    "truncated JSON": (b'{"subject": {"kind": "content"', "application/json", 400, "malformed JSON"),
    "trailing garbage": (b'{"policy": "spam"} {}', "application/json", 400, "malformed JSON"),
    "whitespace only": (b"   ", "application/json", 400, "malformed JSON"),
    "NaN literal": (('{' + SUBJECT + ',"policy":"spam","reporter":{"kind":"automated"},"classifier_score":NaN}').encode(),
                    "application/json", 400, "NaN"),
    "Infinity literal": (('{' + SUBJECT + ',"policy":"spam","reporter":{"kind":"automated"},"classifier_score":Infinity}')
                         .encode(), "application/json", 400, "Infinity"),
    "-Infinity in metadata": (b'{"subject":{"kind":"content","external_id":"p","metadata":{"reach":-Infinity}},'
                              b'"policy":"spam"}', "application/json", 400, "Infinity"),
    # 1e400 is valid JSON syntax but no float: PostgreSQL's jsonb refuses infinity.
    "number overflowing a float": (b'{"subject":{"kind":"content","external_id":"p","metadata":{"reach":1e400}},'
                                   b'"policy":"spam"}', "application/json", 400, "out of range"),
    "integer too large for a float": (b'{"subject":{"kind":"content","external_id":"p","metadata":{"reach":1'
                                      + b"0" * 400 + b'}},"policy":"spam"}', "application/json", 400, "out of range"),
    "integer with 5000 digits": (b'{"subject":{"kind":"content","external_id":"p","metadata":{"n":'
                                 + b"9" * 5000 + b'}},"policy":"spam"}', "application/json", 400, "malformed JSON"),
    "100000-deep array": (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "nested too deeply"),
    "100000-deep metadata": (b'{"subject":{"kind":"content","external_id":"p","metadata":' + b'{"a":' * 100_000
                             + b"1" + b"}" * 100_000 + b'},"policy":"spam"}', "application/json", 400,
                             "nested too deeply"),
    "JSON array": (json.dumps([base()]).encode(), "application/json", 400, "must be a JSON object"),
    "JSON string": (b'"report"', "application/json", 400, "must be a JSON object"),
    "JSON null": (b"null", "application/json", 400, "must be a JSON object"),
    "UTF-8 byte order mark": (b"\xef\xbb\xbf" + json.dumps(base()).encode(), "application/json", 400, "malformed JSON"),
    "text/plain": (json.dumps(base()).encode(), "text/plain", 415, "text/plain"),
    "form encoded": (b"policy=spam", "application/x-www-form-urlencoded", 415, "Unsupported media type"),
    "missing content type": (json.dumps(base()).encode(), "", 415, "Unsupported media type"),
    "latin-1 charset": (json.dumps(base()).encode(), "application/json; charset=latin-1", 415, "UTF-8"),
}


@pytest.mark.parametrize("raw, content_type, status, contains", BAD_RAW_BODIES.values(), ids=BAD_RAW_BODIES.keys())
def test_bad_raw_body_is_a_clear_4xx_and_writes_nothing(api, counts, raw, content_type, status, contains):
    before = counts()
    response = post_raw(api, REPORTS_URL, raw, content_type=content_type)
    body = assert_error(response, status)
    assert contains in body["detail"] or any(contains in e["message"] for e in body["errors"]), body
    assert counts() == before


def test_body_over_the_intake_limit_is_413(api, counts, settings):
    assert settings.INTAKE_MAX_BODY_BYTES == 1_048_576
    payload = with_("subject.text", "x" * 1_048_576)  # would also be over the text limit: 413 must come first
    before = counts()
    body = assert_error(post_json(api, REPORTS_URL, payload), 413, code="payload_too_large")
    assert "1048576" in body["detail"]
    assert counts() == before


def test_body_just_under_the_limit_is_accepted(api):
    payload = with_("subject.text", "x" * 199_000)
    payload["subject"]["metadata"] = {"pad": "p" * 60_000}
    payload["description"] = "d" * 10_000
    raw = json.dumps(payload).encode()
    raw = raw[:-1] + b" " * (1_048_576 - len(raw)) + b"}"
    assert len(raw) == 1_048_576
    assert post_raw(api, REPORTS_URL, raw).status_code == 201


def test_a_lying_content_length_cannot_bypass_the_limit(api, counts):
    raw = json.dumps(with_("subject.text", "x" * 1_100_000)).encode()
    before = counts()
    response = api.generic("POST", REPORTS_URL, raw, content_type="application/json", CONTENT_LENGTH="100")
    # Django reads at most CONTENT_LENGTH bytes: the truncated body is malformed, never stored.
    assert response.status_code in (400, 413), response.content[:300]
    assert counts() == before


def test_limits_are_inclusive(api):
    payload = base()
    payload["subject"].update(external_id="e" * 255, text="t" * 200_000,
                              media=[{"url": f"https://x.test/{n}.png"} for n in range(50)],
                              metadata=nested(6, leaf={"deepest": [1]}))  # 8 levels of containers
    payload["jurisdiction"] = ["DE", "FR", "EU"]
    response = post_json(api, REPORTS_URL, payload)
    assert response.status_code == 201, response.content[:2000]


def test_classifier_score_bounds_are_inclusive_for_automated_reporters(api):
    for n, score in enumerate((0, 0.0, 1, 1.0, 0.73)):
        payload = automated(score)
        payload["subject"]["external_id"] = f"clf-{n}"
        response = post_json(api, REPORTS_URL, payload)
        assert response.status_code == 201, response.content


def test_jurisdiction_codes_are_deduplicated_and_kept_in_order(api):
    case_id = post_json(api, REPORTS_URL, with_("jurisdiction", ["FR", "EU", "FR", "DE"])).json()["case"]["id"]
    assert api.get(f"/api/v1/cases/{case_id}").json()["reports"][0]["jurisdiction"] == ["FR", "EU", "DE"]


def test_many_errors_are_all_listed(api, counts):
    before = counts()
    payload = {"subject": {"kind": "post", "external_id": "", "url": "ftp://x"}, "policy": "nope", "extra": 1}
    body = assert_error(post_json(api, REPORTS_URL, payload), 400)
    fields = {e["field"] for e in body["errors"]}
    # Unknown top-level fields are reported before the rest is looked at.
    assert fields == {"extra"}
    del payload["extra"]
    body = assert_error(post_json(api, REPORTS_URL, payload), 400)
    assert {e["field"] for e in body["errors"]} == {"subject.kind", "subject.external_id", "subject.url", "policy"}
    assert counts() == before


def test_rejected_reports_leave_existing_cases_untouched(api, report_body):
    case_id = post_json(api, REPORTS_URL, report_body("post-1")).json()["case"]["id"]
    subject = Subject.objects.get(external_id="post-1")
    for payload in (with_("subject.text", "\u0000"), with_("subject.metadata", nested(9))):
        payload["subject"]["external_id"] = "post-1"
        assert post_json(api, REPORTS_URL, payload).status_code == 400
    assert Case.objects.get(pk=case_id).report_count == 1
    subject.refresh_from_db()
    assert subject.latest_text == "buy now" and subject.metadata == {}
