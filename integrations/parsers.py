import json
import math

from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text):
    # 1e400 is valid JSON but becomes float("inf"), which PostgreSQL's json
    # types refuse: a 500 at insert time unless refused here.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _bounded_int(text):
    # An integer too large for a float breaks every consumer that does
    # arithmetic on it (priority from metadata.reach, FloatField ...).
    value = int(text)
    if len(text) > 20:
        try:
            float(value)
        except OverflowError:
            raise ValueError(f"number {text[:40]}... is out of range") from None
    return value


class DuplicateKey(ValueError):
    def __init__(self, key):
        super().__init__(key)
        self.key = key


def _unique_keys(pairs):
    # {"policy": "spam", "policy": "hate"} would silently become "hate": what
    # was signed, logged or reviewed upstream may not be what is stored.
    out = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKey(key)
        out[key] = value
    return out


class StrictJSONParser(BaseParser):
    """JSON only (415 otherwise), strict UTF-8, no NaN/Infinity, no duplicate
    keys in an object (400 naming the key), a size limit per endpoint (413),
    and a clear 400 for anything malformed."""

    media_type = "application/json"
    default_limit = 1_048_576

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        view = parser_context.get("view")
        limit = getattr(view, "max_body_bytes", None) or self.default_limit
        request = parser_context.get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared:
            try:
                if int(declared) > limit:
                    raise PayloadTooLarge(f"request body is over the limit of {limit} bytes")
            except ValueError:
                raise exceptions.ParseError("invalid Content-Length") from None
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"request body is over the limit of {limit} bytes")
        charset = (parser_context.get("encoding") or "utf-8").lower()
        if charset.replace("_", "-") not in ("utf-8", "utf8"):
            raise exceptions.UnsupportedMediaType(media_type, detail="only UTF-8 JSON is accepted")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise exceptions.ParseError(f"request body is not valid UTF-8 (byte {exc.start})") from None
        try:
            return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_bounded_int,
                              object_pairs_hook=_unique_keys)
        except DuplicateKey as exc:
            raise exceptions.ValidationError({exc.key: [exceptions.ErrorDetail(
                f"the key {exc.key!r} appears more than once in one JSON object", code="duplicate_key")]}) from None
        except RecursionError:
            raise exceptions.ParseError("JSON is nested too deeply") from None
        except ValueError as exc:
            raise exceptions.ParseError(f"malformed JSON: {exc}") from None
