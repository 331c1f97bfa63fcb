"""Validation of intake bodies with msgspec: the fast path of
`POST /api/v1/reports` and of each item of `POST /api/v1/reports/batch`.

The DRF serializers (`serializers.ReportInSerializer`, `BatchItemSerializer`)
stay the definition: they give the OpenAPI schema and every error message.
This module accepts a body only when those serializers would accept it and
returns the same validated data; anything it does not accept outright (a
type, a limit, a pattern, a blank where one is refused, surrounding spaces
that DRF would trim, an unknown policy) returns None, and the caller runs the
serializer, which answers with its usual 400 naming the field and the reason
(or, should it accept after all, with its validated data). So a valid report
costs a msgspec conversion and a few checks instead of building and running
some forty DRF fields, and an invalid one costs what it did before.

tests/integrations/test_fast_intake.py holds the fast path to that promise:
for valid and invalid bodies (written by hand and generated) its answer is
either None or exactly the serializer's validated data.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import msgspec
from rest_framework import serializers as drf

from cases.models import ReporterKind, SubjectKind
from cases.selectors import active_policies
from signals.identifiers import normalise as identifier_normalise

from ..countries import ISO_3166_ALPHA2
from . import serializers as s

_UNSET = msgspec.UNSET
Unset = msgspec.UnsetType

_SubjectKind = Literal[tuple(SubjectKind.values)]  # type: ignore[valid-type]
_ReporterKind = Literal[tuple(ReporterKind.values)]  # type: ignore[valid-type]


class _Strict(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    pass


class _Media(_Strict):
    url: str
    sha256: str | Unset = _UNSET
    mime_type: str | Unset = _UNSET


class _Author(_Strict):
    external_id: int | str
    display_name: str | Unset = _UNSET


class _Subject(_Strict):
    kind: _SubjectKind
    external_id: int | str
    url: str | Unset = _UNSET
    display_name: str | Unset = _UNSET
    author: _Author | Unset = _UNSET
    text: str | Unset = _UNSET
    media: list[_Media] | Unset = _UNSET
    language: str | Unset = _UNSET
    metadata: dict[str, Any] | Unset = _UNSET


class _Reporter(_Strict):
    kind: _ReporterKind = ReporterKind.USER.value
    external_id: int | str | Unset = _UNSET


class _Identifiers(_Strict):
    email: str | Unset = _UNSET
    phone: str | Unset = _UNSET
    device: str | Unset = _UNSET
    payment: str | Unset = _UNSET
    ip_prefix: str | Unset = _UNSET


class _MediaHash(_Strict):
    sha256: str | Unset = _UNSET
    pdq: str | Unset = _UNSET


class _Signals(_Strict):
    subject: _Identifiers | Unset = _UNSET
    author: _Identifiers | Unset = _UNSET
    media: list[_MediaHash] | Unset = _UNSET


class _ReportIn(_Strict):
    subject: _Subject
    policy: str
    reporter: _Reporter | Unset = _UNSET
    description: str | Unset = _UNSET
    jurisdiction: list[str] | Unset = _UNSET
    # int or float, not bool (msgspec never takes a bool for a number); float() below, as DRF's FloatField
    classifier_score: int | float | Unset = _UNSET
    signals: _Signals | Unset = _UNSET


class _BatchItemIn(_ReportIn):
    idempotency_key: str | Unset = _UNSET


class _Refused(Exception):
    """The fast path does not vouch for this body: the serializer decides."""


def _text(value: str, max_length: int, *, blank: bool = True) -> str:
    """A CharField without trimming: length, blank, NUL and lone surrogates."""
    if len(value) > max_length or (not blank and value == "") or s._text_problem(value):
        raise _Refused
    return value


def _trimmed(value: str, max_length: int) -> str:
    """A CharField that DRF trims (trim_whitespace=True, blank refused): only
    values that trimming leaves alone are taken here."""
    if value != value.strip() or value == "":
        raise _Refused
    return _text(value, max_length)


def _external_id(value: int | str, *, blank: bool = False) -> str:
    if isinstance(value, int):
        value = str(value)
    return _text(value, s.MAX_EXTERNAL_ID, blank=blank)


def _url(value: str) -> str:
    value = _text(value, s.MAX_URL, blank=False)
    lowered = value.lower()
    if not (lowered.startswith("https://") or lowered.startswith("http://")) or len(value) < 9 or any(
        c.isspace() for c in value
    ):
        raise _Refused
    return value


def _pattern(value: str, regex, max_length: int) -> str:
    if len(value) > max_length or not regex.fullmatch(value):
        raise _Refused
    return value


def _subject(subject: _Subject) -> dict:
    out: dict[str, Any] = {"kind": subject.kind, "external_id": _external_id(subject.external_id)}
    if subject.url is not _UNSET:
        out["url"] = _url(subject.url)
    if subject.display_name is not _UNSET:
        out["display_name"] = _text(subject.display_name, s.MAX_DISPLAY_NAME)
    if subject.author is not _UNSET:
        if subject.kind != SubjectKind.CONTENT:
            raise _Refused
        author = {"external_id": _external_id(subject.author.external_id)}
        if subject.author.display_name is not _UNSET:
            author["display_name"] = _text(subject.author.display_name, s.MAX_DISPLAY_NAME)
        out["author"] = author
    if subject.text is not _UNSET:
        out["text"] = _text(subject.text, s.MAX_TEXT)
    if subject.media is not _UNSET:
        if len(subject.media) > s.MAX_MEDIA:
            raise _Refused
        media = []
        for m in subject.media:
            item = {"url": _url(m.url)}
            if m.sha256 is not _UNSET:
                item["sha256"] = _pattern(m.sha256, s._SHA256, 64).lower()
            if m.mime_type is not _UNSET:
                item["mime_type"] = _pattern(m.mime_type, s._MIME, 255)
            media.append(item)
        out["media"] = media
    if subject.language is not _UNSET:
        out["language"] = _pattern(subject.language, s._LANGUAGE, s.MAX_LANGUAGE)
    if subject.metadata is not _UNSET:
        out["metadata"] = _metadata(subject.metadata)
    return out


def _metadata(value: dict) -> dict:
    try:
        s.check_json_value(value)
    except drf.ValidationError:
        raise _Refused from None
    if len(json.dumps(value, ensure_ascii=False).encode("utf-8")) > s.MAX_METADATA_BYTES:
        raise _Refused
    return value


def _identifiers(identifiers: _Identifiers) -> dict:
    out = {}
    for kind in ("email", "phone", "device", "payment", "ip_prefix"):
        value = getattr(identifiers, kind)
        if value is _UNSET:
            continue
        value = _trimmed(value, s.MAX_IDENTIFIER)
        try:
            identifier_normalise(kind, value)
        except ValueError:
            raise _Refused from None
        out[kind] = value
    return out


def _signals(signals: _Signals) -> dict:
    out: dict[str, Any] = {}
    if signals.subject is not _UNSET:
        out["subject"] = _identifiers(signals.subject)
    if signals.author is not _UNSET:
        out["author"] = _identifiers(signals.author)
    if signals.media is not _UNSET:
        if len(signals.media) > s.MAX_SIGNAL_MEDIA:
            raise _Refused
        media = []
        for m in signals.media:
            item = {}
            if m.sha256 is not _UNSET:
                item["sha256"] = _pattern(m.sha256, s._SHA256, 64).lower()
            if m.pdq is not _UNSET:
                item["pdq"] = _pattern(_trimmed(m.pdq, 64).lower(), s._SHA256, 64)
            if not item:
                raise _Refused
            media.append(item)
        out["media"] = media
    return out


def _validated(body: _ReportIn) -> dict:
    policy = active_policies().get(body.policy)
    if policy is None:  # unknown, or one DRF would find only after trimming: its message names the codes
        raise _Refused
    out: dict[str, Any] = {"subject": _subject(body.subject), "policy": policy}
    if body.reporter is not _UNSET:
        reporter = {"kind": body.reporter.kind}
        if body.reporter.external_id is not _UNSET:
            reporter["external_id"] = _external_id(body.reporter.external_id, blank=True)
        out["reporter"] = reporter
    if body.description is not _UNSET:
        out["description"] = _text(body.description, s.MAX_DESCRIPTION)
    if body.jurisdiction is not _UNSET:
        codes = body.jurisdiction
        if len(codes) > s.MAX_JURISDICTIONS or any(code not in ISO_3166_ALPHA2 for code in codes):
            raise _Refused
        out["jurisdiction"] = list(dict.fromkeys(codes))
    if body.classifier_score is not _UNSET:
        score = float(body.classifier_score)
        if not 0.0 <= score <= 1.0 or (out.get("reporter") or {}).get("kind") != ReporterKind.AUTOMATED:
            raise _Refused
        out["classifier_score"] = score
    if body.signals is not _UNSET:
        signals = _signals(body.signals)
        if signals.get("subject") and out["subject"]["kind"] != SubjectKind.ACCOUNT:
            raise _Refused
        if signals.get("author") and not out["subject"].get("author"):
            raise _Refused
        out["signals"] = signals
    return out


def report_in(raw: dict) -> dict | None:
    """ReportInSerializer's validated data for `raw`, or None: run the serializer."""
    try:
        return _validated(msgspec.convert(raw, _ReportIn))
    except (msgspec.MsgspecError, _Refused, ValueError, OverflowError):  # a lone surrogate; an int beyond float
        return None


def batch_item_in(raw: dict) -> dict | None:
    """BatchItemSerializer's validated data for `raw`, or None: run the serializer."""
    try:
        body = msgspec.convert(raw, _BatchItemIn)
        out = _validated(body)
        if body.idempotency_key is not _UNSET:
            out["idempotency_key"] = _pattern(body.idempotency_key, s._IDEMPOTENCY_KEY, s.MAX_IDEMPOTENCY_KEY)
        return out
    except (msgspec.MsgspecError, _Refused, ValueError, OverflowError):  # a lone surrogate; an int beyond float
        return None
