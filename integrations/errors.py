"""One error shape for every API failure:

    {"detail": "<summary>", "code": "<machine code>",
     "errors": [{"field": "subject.external_id", "code": "required", "message": "..."}]}

`errors` is empty when the problem is not about one field. Domain errors
(cases.errors.DomainError) become 409.
"""

import logging

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from cases.errors import DomainError

log = logging.getLogger(__name__)


def printable(text):
    """`text` with unpaired surrogates escaped (as \\udXXX). Error messages and
    field paths echo what the client sent, and a lone surrogate from a JSON
    escape cannot be encoded as UTF-8: rendering it would be a 500."""
    text = str(text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def flatten(detail, path=""):
    """Turns DRF's nested error detail into [{field, code, message}]."""
    out = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            key = printable(key)
            sub = path if key in ("non_field_errors",) else (f"{path}.{key}" if path else key)
            out.extend(flatten(value, sub))
    elif isinstance(detail, list):
        if all(not isinstance(v, (dict, list)) for v in detail):
            for value in detail:
                out.append({"field": path, "code": getattr(value, "code", "invalid"), "message": printable(value)})
        else:
            for index, value in enumerate(detail):
                if value:
                    out.extend(flatten(value, f"{path}.{index}" if path else str(index)))
    else:
        out.append({"field": path, "code": getattr(detail, "code", "invalid"), "message": printable(detail)})
    return out


def error_body(detail, code, errors=()):
    return {"detail": printable(detail), "code": code, "errors": list(errors)}


def exception_handler(exc, context):
    headers = {}
    if isinstance(exc, DomainError):
        set_rollback()
        errors = [{"field": exc.field, "code": exc.code, "message": str(exc)}] if exc.field else []
        return Response(error_body(str(exc), exc.code, errors), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, (Http404, ObjectDoesNotExist)):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # a genuine server error: let Django log it and answer 500
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    set_rollback()
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten(exc.detail)
        body = error_body("invalid input: " + "; ".join(f"{e['field'] or '(body)'}: {e['message']}" for e in errors[:5]),
                          "invalid", errors)
    else:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        codes = exc.get_codes()
        body = error_body(detail, codes if isinstance(codes, str) else exc.default_code)
    return Response(body, status=exc.status_code, headers=headers)
