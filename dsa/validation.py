"""The transparency database's validation rules for one statement of
reasons, as a pure function: {field: [reasons]}, empty when it validates.

Mirrors the rules the Commission's API applies (shared reference,
"Fields"), so that a statement that passes here is accepted there, and one
that does not is held with every field named instead of being refused at
submission time.
"""

import re
from collections.abc import Container
from datetime import date
from typing import Any

from . import vocabulary as v

Errors = dict[str, list[str]]

_PUID = re.compile(v.PUID_PATTERN)
_LANGUAGE = re.compile(r"^[A-Z]{2}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)

KNOWN_FIELDS = frozenset({
    "decision_visibility", "decision_visibility_other", "decision_monetary", "decision_monetary_other",
    "decision_provision", "decision_account", "account_type", "decision_ground", "decision_ground_reference_url",
    "illegal_content_legal_ground", "illegal_content_explanation", "incompatible_content_ground",
    "incompatible_content_explanation", "incompatible_content_illegal", "content_type", "content_type_other",
    "category", "category_addition", "category_specification", "category_specification_other", "territorial_scope",
    "content_language", "content_date", "application_date", "end_date_account_restriction",
    "end_date_monetary_restriction", "end_date_service_restriction", "end_date_visibility_restriction",
    "decision_facts", "source_type", "source_identity", "automated_detection", "automated_decision", "puid",
    "content_id",
})


def _add(errors: Errors, field: str, reason: str) -> None:
    errors.setdefault(field, []).append(reason)


def _text(errors: Errors, s: dict, field: str, limit: int, *, required: bool) -> None:
    value = s.get(field)
    if value is None or value == "":
        if required:
            _add(errors, field, "required")
        return
    if not isinstance(value, str):
        _add(errors, field, "must be a string")
    elif not value.strip():
        _add(errors, field, "must not be blank")
    elif len(value) > limit:
        _add(errors, field, f"at most {limit} characters, got {len(value)}")


def _one_of(errors: Errors, s: dict, field: str, allowed: Container[str], *, required: bool) -> None:
    value = s.get(field)
    if value is None or value == "":
        if required:
            _add(errors, field, "required")
        return
    if value not in allowed:
        _add(errors, field, f"not a known value: {value!r}")


def _list_of(errors: Errors, s: dict, field: str, allowed: Container[str], *, required: bool) -> list:
    value = s.get(field)
    if value is None or value == []:
        if required:
            _add(errors, field, "required: a non-empty list")
        return []
    if not isinstance(value, list):
        _add(errors, field, "must be a list")
        return []
    unknown = [x for x in value if x not in allowed]
    if unknown:
        _add(errors, field, f"not known values: {', '.join(map(repr, unknown))}")
    if len(set(map(str, value))) != len(value):
        _add(errors, field, "values must be distinct")
    return value


def _date(errors: Errors, s: dict, field: str, *, required: bool, low: str, high: str | None = None) -> None:
    value = s.get(field)
    if value is None:
        if required:
            _add(errors, field, "required")
        return
    if not isinstance(value, str) or not _DATE.match(value):
        _add(errors, field, "must be a date YYYY-MM-DD")
        return
    try:
        date.fromisoformat(value)
    except ValueError:
        _add(errors, field, "not a calendar date")
        return
    if value < low or (high is not None and value > high):
        _add(errors, field, f"must lie between {low} and {high}" if high else f"must be on or after {low}")


def validate_statement(s: dict[str, Any]) -> Errors:
    """Every rule the schema states for one statement. Pure; no I/O."""
    errors: Errors = {}
    for field in sorted(set(s) - KNOWN_FIELDS):
        _add(errors, field, "not a field of the schema")

    visibility = _list_of(errors, s, "decision_visibility", v.DECISION_VISIBILITY, required=False)
    _one_of(errors, s, "decision_monetary", v.DECISION_MONETARY, required=False)
    _one_of(errors, s, "decision_provision", v.DECISION_PROVISION, required=False)
    _one_of(errors, s, "decision_account", v.DECISION_ACCOUNT, required=False)
    if not visibility and not any(s.get(f) for f in ("decision_monetary", "decision_provision", "decision_account")):
        _add(errors, "decision_visibility", "required unless decision_monetary, decision_provision or "
                                            "decision_account is given")
    _text(errors, s, "decision_visibility_other", v.MAX_SHORT_TEXT, required=v.VISIBILITY_OTHER in visibility)
    _text(errors, s, "decision_monetary_other", v.MAX_SHORT_TEXT,
          required=s.get("decision_monetary") == v.MONETARY_OTHER)
    _one_of(errors, s, "account_type", v.ACCOUNT_TYPE, required=False)

    _one_of(errors, s, "decision_ground", v.DECISION_GROUND, required=True)
    ground = s.get("decision_ground")
    _text(errors, s, "illegal_content_legal_ground", v.MAX_SHORT_TEXT, required=ground == v.GROUND_ILLEGAL)
    _text(errors, s, "illegal_content_explanation", v.MAX_EXPLANATION, required=ground == v.GROUND_ILLEGAL)
    _text(errors, s, "incompatible_content_ground", v.MAX_SHORT_TEXT, required=ground == v.GROUND_INCOMPATIBLE)
    _text(errors, s, "incompatible_content_explanation", v.MAX_EXPLANATION, required=ground == v.GROUND_INCOMPATIBLE)
    _one_of(errors, s, "incompatible_content_illegal", v.YES_NO, required=False)
    url = s.get("decision_ground_reference_url")
    if url:
        if not isinstance(url, str) or len(url) > v.MAX_SHORT_TEXT or not _URL.match(url):
            _add(errors, "decision_ground_reference_url", f"must be an http(s) URL of at most {v.MAX_SHORT_TEXT} "
                                                          "characters")

    content_types = _list_of(errors, s, "content_type", v.CONTENT_TYPE, required=True)
    _text(errors, s, "content_type_other", v.MAX_SHORT_TEXT, required=v.CONTENT_TYPE_OTHER in content_types)

    _one_of(errors, s, "category", v.CATEGORY, required=True)
    _list_of(errors, s, "category_addition", v.CATEGORY, required=False)
    _list_of(errors, s, "category_specification", v.CATEGORY_SPECIFICATION, required=False)
    _text(errors, s, "category_specification_other", v.MAX_SHORT_TEXT, required=False)
    if "territorial_scope" not in s:
        _add(errors, "territorial_scope", "required: send the list of EEA countries (empty is not allowed here)")
    else:
        _list_of(errors, s, "territorial_scope", v.EEA_COUNTRIES, required=True)

    language = s.get("content_language")
    if language not in (None, "") and (not isinstance(language, str) or not _LANGUAGE.match(language)):
        _add(errors, "content_language", "must be an ISO 639-1 code in upper case")
    _date(errors, s, "content_date", required=True, low=v.CONTENT_DATE_MIN, high=v.CONTENT_DATE_MAX)
    _date(errors, s, "application_date", required=True, low=v.APPLICATION_DATE_MIN)
    for field in v.END_DATE_FIELDS.values():
        _date(errors, s, field, required=False, low=v.APPLICATION_DATE_MIN)
    for field in v.END_DATE_FIELDS.values():
        if s.get(field) and isinstance(s.get("application_date"), str) and s[field] < s["application_date"]:
            _add(errors, field, "must not be before application_date")

    _text(errors, s, "decision_facts", v.MAX_DECISION_FACTS, required=True)
    _one_of(errors, s, "source_type", v.SOURCE_TYPE, required=True)
    _text(errors, s, "source_identity", v.MAX_SHORT_TEXT, required=False)
    _one_of(errors, s, "automated_detection", v.YES_NO, required=True)
    _one_of(errors, s, "automated_decision", v.AUTOMATED_DECISION, required=True)
    puid = s.get("puid")
    if not puid:
        _add(errors, "puid", "required")
    elif not isinstance(puid, str) or not _PUID.match(puid):
        _add(errors, "puid", f"1 to {v.MAX_PUID} characters of A-Z, a-z, 0-9, '-' and '_'")
    content_id = s.get("content_id")
    if content_id is not None and (not isinstance(content_id, dict) or set(content_id) != {"EAN-13"}
                                   or not re.fullmatch(r"\d{13}", str(content_id.get("EAN-13")))):
        _add(errors, "content_id", 'must be {"EAN-13": "<13 digits>"}')
    return errors
