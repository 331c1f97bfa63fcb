"""The personal-data check every outgoing statement and notice passes
(DSA Art. 24(5): statements sent to the Commission must not contain personal
data). Pure: it looks for e-mail addresses, phone numbers and the
identifiers the caller knows belong to people (reporters' and the author's
external ids and names, reviewers' user names)."""

import re
from collections.abc import Iterable, Iterator
from typing import Any

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Seven or more digits, optionally grouped by spaces, dots, dashes or brackets, optionally with a leading +.
_PHONE = re.compile(r"(?<![\w-])\+?\(?\d[\d\s().-]{5,}\d(?![\w-])")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_HANDLE = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{2,}")


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}.{index}")


def _digits(text: str) -> int:
    return sum(c.isdigit() for c in text)


def personal_data_problems(payload: Any, *, identifiers: Iterable[str] = (),
                           skip: Iterable[str] = ()) -> dict[str, list[str]]:
    """{field path: [what was found]}; empty when nothing personal was found.
    `identifiers` are strings known to name a person (matched case-insensitively,
    ignored when shorter than 3 characters); `skip` are paths not to scan
    (our own opaque ids such as puid)."""
    skip = set(skip)
    names = [i.casefold() for i in identifiers if i and len(i.strip()) >= 3]
    problems: dict[str, list[str]] = {}
    for path, text in _strings(payload, ""):
        if path in skip:
            continue
        found = []
        if _EMAIL.search(text):
            found.append("an e-mail address")
        if any(_digits(m.group()) >= 7 and not _ISO_DATE.fullmatch(m.group().strip()) for m in _PHONE.finditer(text)):
            found.append("a phone number")
        if _HANDLE.search(text):
            found.append("a user handle")
        folded = text.casefold()
        if any(name in folded for name in names):
            found.append("the identifier or name of a person involved")
        if found:
            problems[path] = found
    return problems
