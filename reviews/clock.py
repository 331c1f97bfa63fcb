"""SLA clock arithmetic: open (working) time against a weekly calendar.

Plain Python, no Django: every function here is pure and works on
timezone-aware datetimes. Results are always aware datetimes in UTC.

Model
-----
A :class:`Calendar` is a weekly template of opening intervals in *local wall
time* of an IANA zone, plus a set of local holiday dates. ``calendar=None``
(:data:`ALWAYS`) means 24/7: plain elapsed time.

* Weekdays are numbered 0=Mon .. 6=Sun.
* An interval ``(start, end)`` belongs to the local date it starts on.
  ``end == time(0, 0)`` means midnight at the end of that day (24:00). An
  interval whose ``end <= start`` runs overnight and ends on the next local
  day (so ``00:00-00:00`` and ``09:00-09:00`` are 24-hour intervals).
* A holiday removes the intervals that *start* on that date. An overnight
  interval that started the evening before runs to its normal end.
* Open time is measured in real elapsed seconds (UTC), never in wall-clock
  arithmetic: on a DST-change day ``00:00-24:00`` lasts 23 or 25 hours, and
  ``09:00-17:00`` lasts 8 hours.

DST rule (deterministic): every wall-clock endpoint is mapped to an instant
with zoneinfo and ``fold=0``, then normalised through UTC.

* An ambiguous wall time (fall-back, the repeated hour) is its *first*
  occurrence, i.e. the one with the pre-transition (summer) offset.
  Europe/Berlin 2026-10-25 02:30 -> 00:30 UTC.
* A nonexistent wall time (spring-forward gap) is read with the offset in
  force before the gap, so it lands that far *after* the jump.
  Europe/Berlin 2026-03-29 02:30 -> 01:30 UTC (= 03:30 CEST).
* An interval whose mapped end is not after its mapped start is empty
  (e.g. Berlin ``02:00-03:00`` on 2026-03-29). Mapped intervals that overlap
  or touch (possible around a gap) are merged, so no time counts twice.

Arithmetic
----------
Internally everything is integer microseconds (the resolution of datetime);
``seconds`` arguments are rounded to the nearest microsecond.

* ``working_seconds_between(s, e)`` = open time in ``[s, e)``; 0 if ``e <= s``.
* ``add_working_time(s, x)`` = the *earliest* instant ``t >= s`` with
  ``working_seconds_between(s, t) >= x``. Consequences:
  - ``x == 0`` returns ``s`` itself (converted to UTC), open or not;
  - a deadline that uses up an interval exactly lands on its closing time
    (Fri 17:00), not on the next opening (Mon 09:00);
  - round trip: ``working_seconds_between(s, add_working_time(s, x)) == x``
    (to the microsecond), and ``t = add_working_time(s, working_seconds_between(s, e))``
    is the earliest instant with the same open time as ``e``: ``e`` itself when
    open time runs right up to ``e``, otherwise the last closing time before
    ``e`` (or ``s`` when nothing was open in ``[s, e)``). So ``t <= e`` and
    ``working_seconds_between(t, e) == 0``.
* Work is done per day (a few zoneinfo conversions per local day), never per
  second. ``add_working_time`` gives up with ``ValueError`` when the target is
  not reached within :data:`MAX_HORIZON` (10 years) of the start, which also
  catches a calendar that never opens (e.g. everything a holiday).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "ALWAYS",
    "DAY_NAMES",
    "MAX_HORIZON",
    "Calendar",
    "add_working_time",
    "deadlines",
    "resume_deadline",
    "working_seconds_between",
]

ALWAYS = None
"""The 24/7 calendar: open time is plain elapsed time."""

MAX_HORIZON = timedelta(days=3653)
"""add_working_time raises ValueError beyond this distance from the start."""

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_DAY_US = 86_400 * 1_000_000
_ONE_DAY = timedelta(days=1)
_US = timedelta(microseconds=1)
_TIME_RE = re.compile(r"^(\d{2}):(\d{2})$")


def _time_us(t: time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


def _fmt(t: time, *, end: bool = False) -> str:
    if end and t == time(0, 0):
        return "24:00"
    text = t.strftime("%H:%M")
    if t.second or t.microsecond:
        text = t.isoformat()
    return text


def _span(start: time, end: time) -> tuple[int, int]:
    """Microseconds from local midnight of the owning day; end may exceed one day."""
    s, e = _time_us(start), _time_us(end)
    if e <= s:  # overnight, or end == 00:00 meaning 24:00
        e += _DAY_US
    return s, e


@dataclass(frozen=True)
class Calendar:
    """Weekly opening hours in an IANA zone plus local holiday dates.

    ``weekly`` maps weekday (0=Mon..6=Sun) to opening intervals in local wall
    time; see the module docstring for overnight, 24:00, holiday and DST rules.
    Construction validates and normalises: every weekday 0..6 is present, the
    intervals of a day are tuples sorted by start, ``holidays`` is a frozenset.
    Invalid input raises ``ValueError``.
    """

    tz: str
    weekly: dict[int, tuple[tuple[time, time], ...]] = field(hash=False)
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        _zone(self.tz)  # validates
        if not isinstance(self.weekly, Mapping):
            raise ValueError("weekly must be a mapping of weekday (0=Mon..6=Sun) to intervals")
        weekly: dict[int, tuple[tuple[time, time], ...]] = {}
        for day, intervals in self.weekly.items():
            if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
                raise ValueError(f"weekday must be an int 0 (Mon) .. 6 (Sun), got {day!r}")
            if not isinstance(intervals, tuple | list):
                raise ValueError(f"{DAY_NAMES[day]}: expected a tuple of (start, end) intervals, got {intervals!r}")
            checked = []
            for interval in intervals:
                if not isinstance(interval, tuple | list) or len(interval) != 2:
                    raise ValueError(f"{DAY_NAMES[day]}: an interval is a (start, end) pair, got {interval!r}")
                start, end = interval
                for t in (start, end):
                    if not isinstance(t, time) or t.tzinfo is not None:
                        raise ValueError(f"{DAY_NAMES[day]}: interval bounds must be naive datetime.time, got {t!r}")
                checked.append((start.replace(fold=0), end.replace(fold=0)))
            weekly[day] = tuple(sorted(checked, key=lambda iv: _time_us(iv[0])))
        for day in range(7):
            weekly.setdefault(day, ())
        weekly = dict(sorted(weekly.items()))
        _check_overlaps(weekly)
        if not any(weekly.values()):
            raise ValueError("calendar has no opening hours in the whole week")

        try:
            holidays = frozenset(self.holidays)
        except TypeError:
            raise ValueError(f"holidays must be an iterable of dates, got {self.holidays!r}")
        for h in holidays:
            if isinstance(h, datetime) or not isinstance(h, date):
                raise ValueError(f"holidays must be datetime.date values, got {h!r}")
        object.__setattr__(self, "weekly", weekly)
        object.__setattr__(self, "holidays", holidays)

    @classmethod
    def from_config(
        cls,
        *,
        tz: str,
        weekly_hours: Mapping[str, Iterable[Iterable[str | time]]],
        holidays: Iterable[str | date] = (),
    ) -> Calendar:
        """Build from JSON-ish config.

        ``weekly_hours``: ``{"mon": [["09:00", "17:00"]], "sat": [], "sun": [["22:00", "06:00"]]}``.
        Day names are ``mon``..``sun`` (case-insensitive); missing days are
        closed. Times are ``"HH:MM"`` (or ``datetime.time``); ``"24:00"`` is
        accepted as an end and means midnight. ``holidays``: ISO dates
        ``"2026-12-25"`` (or ``datetime.date``).

        Raises ``ValueError`` for an unknown zone, a bad day name, a bad time,
        overlapping intervals (on one day, or an overnight interval running
        into the next day's first interval), or a week without opening hours.
        """
        _zone(tz)
        if not isinstance(weekly_hours, Mapping):
            raise ValueError(f"weekly_hours must be a mapping of day name to intervals, got {type(weekly_hours).__name__}")
        weekly: dict[int, tuple[tuple[time, time], ...]] = {}
        for name, intervals in weekly_hours.items():
            key = name.strip().lower() if isinstance(name, str) else name
            if key not in DAY_NAMES:
                raise ValueError(f"unknown day name {name!r}; expected one of {', '.join(DAY_NAMES)}")
            day = DAY_NAMES.index(key)
            if day in weekly:
                raise ValueError(f"day {name!r} given more than once")
            if isinstance(intervals, str) or not isinstance(intervals, Iterable):
                raise ValueError(f"{key}: expected a list of [start, end] pairs, got {intervals!r}")
            parsed = []
            for interval in intervals:
                if isinstance(interval, str) or not isinstance(interval, list | tuple) or len(interval) != 2:
                    raise ValueError(f"{key}: an interval is a [start, end] pair, got {interval!r}")
                start, end = interval
                parsed.append((_parse_time(start, key, is_end=False), _parse_time(end, key, is_end=True)))
            weekly[day] = tuple(parsed)

        if isinstance(holidays, str | date):
            raise ValueError("holidays must be a list of ISO dates, not a single value")
        parsed_holidays = set()
        for h in holidays:
            if isinstance(h, datetime):
                raise ValueError(f"holiday must be a date, not a datetime: {h!r}")
            if isinstance(h, date):
                parsed_holidays.add(h)
                continue
            try:
                if not isinstance(h, str):
                    raise TypeError
                parsed_holidays.add(date.fromisoformat(h.strip()))
            except (TypeError, ValueError):
                raise ValueError(f"bad holiday {h!r}: expected an ISO date like '2026-12-25'")
        return cls(tz=tz, weekly=weekly, holidays=frozenset(parsed_holidays))

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.tz)

    def _local_intervals(self, day: date, zone: ZoneInfo) -> Iterator[tuple[datetime, datetime]]:
        """UTC intervals owned by the local date ``day`` (none on a holiday); may be empty or overlapping."""
        if day in self.holidays:
            return
        for start, end in self.weekly[day.weekday()]:
            s_us, e_us = _span(start, end)
            s = datetime.combine(day, start, tzinfo=zone).astimezone(UTC)
            end_day = day + timedelta(days=e_us // _DAY_US)
            e = datetime.combine(end_day, end, tzinfo=zone).astimezone(UTC)
            if e > s:
                yield s, e


def _zone(tz: str) -> ZoneInfo:
    if not isinstance(tz, str) or not tz:
        raise ValueError(f"tz must be an IANA zone name like 'Europe/Berlin', got {tz!r}")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {tz!r}")


def _parse_time(value: object, day: str, *, is_end: bool) -> time:
    if isinstance(value, time):
        if value.tzinfo is not None:
            raise ValueError(f"{day}: time {value!r} must be naive (local wall time)")
        return value
    if isinstance(value, str):
        m = _TIME_RE.match(value.strip())
        if m:
            hour, minute = int(m.group(1)), int(m.group(2))
            if is_end and (hour, minute) == (24, 0):
                return time(0, 0)
            if hour <= 23 and minute <= 59:
                return time(hour, minute)
    raise ValueError(f"{day}: bad time {value!r}; expected 'HH:MM' (00:00-23:59, or 24:00 as an end)")


def _check_overlaps(weekly: Mapping[int, tuple[tuple[time, time], ...]]) -> None:
    for day in range(7):
        spans = [(_span(s, e), (s, e)) for s, e in weekly[day]]
        for (prev, (ps, pe)), (cur, (cs, ce)) in zip(spans, spans[1:]):
            if cur[0] < prev[1]:
                raise ValueError(
                    f"{DAY_NAMES[day]}: overlapping intervals {_fmt(ps)}-{_fmt(pe, end=True)} and {_fmt(cs)}-{_fmt(ce, end=True)}"
                )
        if spans:
            (last_s, last_e), (ls, le) = spans[-1]
            spill = last_e - _DAY_US
            nxt = (day + 1) % 7
            if spill > 0 and weekly[nxt] and _time_us(weekly[nxt][0][0]) < spill:
                ns, ne = weekly[nxt][0]
                raise ValueError(
                    f"{DAY_NAMES[day]} {_fmt(ls)}-{_fmt(le, end=True)} runs overnight into "
                    f"{DAY_NAMES[nxt]} {_fmt(ns)}-{_fmt(ne, end=True)}: overlapping intervals"
                )


# --------------------------------------------------------------------------- core


def _utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value!r}")
    return value.astimezone(UTC)


def _to_us(seconds: float, name: str = "seconds") -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError(f"{name} must be a number, got {seconds!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {seconds!r}")
    return round(seconds * 1_000_000)


def _us(delta: timedelta) -> int:
    return delta // _US


def _open_intervals(calendar: Calendar, since: datetime, until: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Disjoint open intervals (UTC, ascending) intersected with [since, until).

    Walks local dates one at a time. Intervals owned by a day start at or after
    that day's local midnight and end no later than midnight two days later, so after
    adding day ``d`` nothing owned by a later day can start before local
    midnight of ``d - 1`` (a generous bound that survives any real-world offset
    jump); merged intervals ending by then are final and can be yielded.
    """
    zone = calendar.zone
    day = since.astimezone(zone).date() - timedelta(days=2)
    pending: list[tuple[datetime, datetime]] = []
    last_day = date.max - timedelta(days=3)
    while True:
        pending.extend(calendar._local_intervals(day, zone))
        pending.sort()
        merged: list[tuple[datetime, datetime]] = []
        for s, e in pending:
            if merged and s <= merged[-1][1]:
                if e > merged[-1][1]:
                    merged[-1] = (merged[-1][0], e)
            else:
                merged.append((s, e))
        floor = datetime.combine(day - _ONE_DAY, time(0), tzinfo=zone).astimezone(UTC)
        done = floor >= until or day >= last_day
        pending = []
        for s, e in merged:
            if done or e <= floor:
                s, e = max(s, since), min(e, until)
                if e > s:
                    yield s, e
            else:
                pending.append((s, e))
        if done:
            return
        day += _ONE_DAY


def _working_us(start: datetime, end: datetime, calendar: Calendar | None) -> int:
    if end <= start:
        return 0
    if calendar is None:
        return _us(end - start)
    return sum(_us(e - s) for s, e in _open_intervals(calendar, start, end))


def _add_us(start: datetime, amount: int, calendar: Calendar | None) -> datetime:
    if amount == 0:
        return start
    if calendar is None:
        return start + timedelta(microseconds=amount)
    remaining = amount
    for s, e in _open_intervals(calendar, start, start + MAX_HORIZON):
        length = _us(e - s)
        if remaining <= length:
            return s + timedelta(microseconds=remaining)
        remaining -= length
    raise ValueError(
        f"calendar {calendar.tz!r} does not provide {amount / 1e6:g} s of open time within "
        f"{MAX_HORIZON.days} days of {start.isoformat()} (does it ever open?)"
    )


# --------------------------------------------------------------------------- public API


def add_working_time(start: datetime, seconds: float, calendar: Calendar | None) -> datetime:
    """The earliest instant (aware, UTC) at which ``seconds`` of open time have
    elapsed since ``start``.

    ``start`` must be timezone-aware (any zone). ``seconds`` must be finite and
    >= 0 and is rounded to microseconds. ``seconds == 0`` returns ``start``
    (in UTC) even when the calendar is closed then; a deadline that ends an
    interval exactly is that interval's closing time. ``calendar=None`` is
    plain elapsed time. Raises ``ValueError`` if the open time is not reached
    within ``MAX_HORIZON`` (10 years).
    """
    return _add_us(_utc(start, "start"), _to_us(seconds), calendar)


def working_seconds_between(start: datetime, end: datetime, calendar: Calendar | None) -> float:
    """Open time in ``[start, end)`` in seconds (microsecond precision); 0.0 if ``end <= start``."""
    return _working_us(_utc(start, "start"), _utc(end, "end"), calendar) / 1_000_000


def deadlines(
    start: datetime, seconds: float, calendar: Calendar | None, warn_fraction: float = 0.75
) -> tuple[datetime, datetime]:
    """``(warn_at, due_at)`` in UTC: due after ``seconds`` of open time, warn after
    ``seconds * warn_fraction``. Requires ``0 < warn_fraction <= 1`` (ValueError otherwise)."""
    if isinstance(warn_fraction, bool) or not isinstance(warn_fraction, int | float) or not 0 < warn_fraction <= 1:
        raise ValueError(f"warn_fraction must be in (0, 1], got {warn_fraction!r}")
    start_utc = _utc(start, "start")
    total = _to_us(seconds)
    warn_at = _add_us(start_utc, round(total * warn_fraction), calendar)
    due_at = _add_us(start_utc, total, calendar)
    return warn_at, due_at


def resume_deadline(held_at: datetime, due_at: datetime, resumed_at: datetime, calendar: Calendar | None) -> datetime:
    """New due time (UTC) after a hold: the open time that was left at ``held_at``
    (``working_seconds_between(held_at, due_at)``) is added from ``resumed_at``.

    Open time during the hold is not consumed. If the case was held at or after
    its due time nothing is left and the result is ``resumed_at`` (already due).
    ``resumed_at`` before ``held_at`` raises ``ValueError``.
    """
    held = _utc(held_at, "held_at")
    due = _utc(due_at, "due_at")
    resumed = _utc(resumed_at, "resumed_at")
    if resumed < held:
        raise ValueError(f"resumed_at {resumed.isoformat()} is before held_at {held.isoformat()}")
    return _add_us(resumed, _working_us(held, due, calendar), calendar)
