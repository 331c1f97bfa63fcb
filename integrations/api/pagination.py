"""Page sizes and cursors, shared by every list of the REST API.

Cursors are opaque to clients: URL-safe base64 without padding of a short
text. Each list has its own prefix, so a cursor from one list is refused by
another with a 400 naming the parameter."""

import base64
import binascii
import json
import re
import uuid
from datetime import datetime

from django.utils.dateparse import parse_datetime
from rest_framework import serializers
from rest_framework.response import Response

from .base import query_param

MAX_PAGE_SIZE = 200
PAGE_SIZE_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}
NEXT_PAGE_HINT = "invalid cursor; use the `next` URL of a previous page"

_NUMBER = re.compile(r"^(0|[1-9][0-9]{0,18})$")
_MAX_NUMBER = 2**63 - 1


def page_size_param(params, default: int) -> int:
    value = params.get("page_size")
    if value is None:
        return default
    try:
        page_size = int(value)
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError
    except ValueError:
        raise serializers.ValidationError(
            {"page_size": [f"must be an integer from 1 to {MAX_PAGE_SIZE}"]}) from None
    return page_size


def encode_cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode("ascii").rstrip("=")


def _decode(value: str, max_length: int) -> str:
    """The text a cursor holds; ValueError for anything that is not one."""
    if len(value) > max_length:
        raise ValueError
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError from None


def encode_number_cursor(prefix: str, number: int) -> str:
    return encode_cursor(f"{prefix}{number}")


def decode_number_cursor(value: str, *, prefix: str, param: str, hint: str = NEXT_PAGE_HINT) -> int:
    """The non-negative integer behind a cursor made by
    `encode_number_cursor` with `prefix`; a 400 naming `param` otherwise."""
    try:
        raw = _decode(value, 64)
        body = raw[len(prefix):]
        if not raw.startswith(prefix) or not _NUMBER.match(body) or int(body) > _MAX_NUMBER:
            raise ValueError
    except ValueError:
        raise serializers.ValidationError({param: [hint]}) from None
    return int(body)


def encode_time_id_cursor(at: datetime, row_id: uuid.UUID) -> str:
    return encode_cursor(json.dumps([at.isoformat(), str(row_id)]))


def decode_time_id_cursor(value: str, *, param: str = "cursor") -> tuple[datetime, uuid.UUID]:
    """(time, id) behind a cursor made by `encode_time_id_cursor`; a 400
    naming `param` otherwise."""
    try:
        decoded = json.loads(_decode(value, 200))
        if not (isinstance(decoded, list) and len(decoded) == 2 and all(isinstance(v, str) for v in decoded)):
            raise ValueError
        at = parse_datetime(decoded[0])
        if at is None or at.tzinfo is None:
            raise ValueError
        return at, uuid.UUID(decoded[1])
    except (ValueError, TypeError, RecursionError):
        raise serializers.ValidationError({param: [NEXT_PAGE_HINT]}) from None


def next_page_url(request, cursor: str) -> str:
    """This request's URL with `cursor` replaced."""
    query = request.query_params.copy()
    query["cursor"] = cursor
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


SINCE_HINT = "invalid cursor; use the `next_cursor` of a previous response, or omit it to start at the beginning"


def encode_sequence_cursor(prefix: str, sequence: int) -> str:
    return encode_number_cursor(prefix, sequence)


def decode_sequence_cursor(prefix: str, value: str) -> int:
    """The sequence a cursor with `prefix` stands for; a 400 naming `since`
    for anything that is not a cursor this API issued (decisions, notices)."""
    return decode_number_cursor(value, prefix=prefix, param="since", hint=SINCE_HINT)


def sequence_page(request, *, prefix, default_size, fetch, render):
    """One page of a feed numbered by sequence (decisions, notices):
    `fetch(source, since, limit)` and `render(item)`; the cursor says where
    the page ended, also on an empty page."""
    params = request.query_params
    since_param = query_param(params, "since")
    since = decode_sequence_cursor(prefix, since_param) if since_param else 0
    page_size = page_size_param(params, default_size)
    page = fetch(source=request.user.source, since=since, limit=page_size + 1)
    has_more = len(page) > page_size
    page = page[:page_size]
    last = page[-1].sequence if page else since
    return Response({"results": [render(item) for item in page], "next_cursor": encode_sequence_cursor(prefix, last),
                     "has_more": has_more})
