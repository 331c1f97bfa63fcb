"""Unit tests for reviews.clock (pure SLA clock arithmetic; no database)."""

import math
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reviews.clock import (
    ALWAYS,
    MAX_HORIZON,
    Calendar,
    add_working_time,
    deadlines,
    resume_deadline,
    working_seconds_between,
)
from tests.hypothesis_profiles import examples

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
H = 3600
MIN = 60

WEEKDAYS_9_17 = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
ALL_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def at(zone, y, m, d, hh=0, mm=0, ss=0):
    return datetime(y, m, d, hh, mm, ss, tzinfo=zone)


def utc(y, m, d, hh=0, mm=0, ss=0):
    return datetime(y, m, d, hh, mm, ss, tzinfo=UTC)


def business(tz="Europe/Berlin", holidays=()):
    return Calendar.from_config(tz=tz, weekly_hours=WEEKDAYS_9_17, holidays=holidays)


def every_day(tz, *intervals, holidays=()):
    return Calendar.from_config(tz=tz, weekly_hours={d: [list(iv) for iv in intervals] for d in ALL_DAYS}, holidays=holidays)


def only(tz, day, *intervals):
    return Calendar.from_config(tz=tz, weekly_hours={day: [list(iv) for iv in intervals]}, holidays=())


# --------------------------------------------------------------------------- business hours, weekends


def test_weekend_is_skipped():
    cal = business()
    due = add_working_time(at(BERLIN, 2026, 1, 2, 16), 2 * H, cal)  # Friday 16:00
    assert due == at(BERLIN, 2026, 1, 5, 10)  # Monday 10:00
    assert due.tzinfo is UTC
    assert due.astimezone(BERLIN).time() == time(10, 0)
    assert working_seconds_between(at(BERLIN, 2026, 1, 2, 16), due, cal) == 2 * H


def test_weekend_skip_across_spring_forward_keeps_local_hours():
    cal = business()
    due = add_working_time(at(BERLIN, 2026, 3, 27, 16), 2 * H, cal)  # Fri 16:00 CET (15:00 UTC)
    assert due == utc(2026, 3, 30, 8)  # Mon 10:00 CEST
    assert due.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 3, 30, 10)


def test_deadline_that_uses_up_an_interval_is_its_closing_time():
    cal = business()
    assert add_working_time(at(BERLIN, 2026, 1, 2, 16), H, cal) == at(BERLIN, 2026, 1, 2, 17)  # not Monday 09:00
    assert add_working_time(at(BERLIN, 2026, 1, 2, 16), H + 1, cal) == at(BERLIN, 2026, 1, 5, 9, 0, 1)


def test_start_at_opening_closing_and_while_closed():
    cal = business()
    assert add_working_time(at(BERLIN, 2026, 1, 5, 9), 30 * MIN, cal) == at(BERLIN, 2026, 1, 5, 9, 30)
    assert add_working_time(at(BERLIN, 2026, 1, 5, 17), 30 * MIN, cal) == at(BERLIN, 2026, 1, 6, 9, 30)
    assert add_working_time(at(BERLIN, 2026, 1, 5, 6), 30 * MIN, cal) == at(BERLIN, 2026, 1, 5, 9, 30)
    assert add_working_time(at(BERLIN, 2026, 1, 3, 12), 30 * MIN, cal) == at(BERLIN, 2026, 1, 5, 9, 30)  # Saturday
    assert working_seconds_between(at(BERLIN, 2026, 1, 5, 0), at(BERLIN, 2026, 1, 12, 0), cal) == 40 * H


def test_zero_seconds_returns_start_even_when_closed():
    cal = business()
    closed = at(BERLIN, 2026, 1, 3, 12)  # Saturday
    assert add_working_time(closed, 0, cal) == closed
    assert add_working_time(closed, 0, cal).tzinfo is UTC
    assert add_working_time(at(BERLIN, 2026, 1, 5, 11), 0.0, cal) == at(BERLIN, 2026, 1, 5, 11)
    assert add_working_time(closed, 1e-6, cal) == at(BERLIN, 2026, 1, 5, 9) + timedelta(microseconds=1)


def test_start_zone_does_not_matter():
    cal = business(tz="America/New_York")
    instant = at(NEW_YORK, 2026, 1, 2, 16)
    same = [instant, instant.astimezone(UTC), instant.astimezone(BERLIN)]
    results = {add_working_time(s, 5 * H, cal) for s in same}
    assert results == {at(NEW_YORK, 2026, 1, 5, 13)}


def test_long_horizon_is_exact_and_fast():
    cal = business()
    start = at(BERLIN, 2026, 1, 5, 9)  # Monday
    due = add_working_time(start, 2000 * H, cal)  # 50 working weeks
    assert due == at(BERLIN, 2026, 12, 18, 17)  # Friday, after both DST changes
    assert working_seconds_between(start, due, cal) == 2000 * H


# --------------------------------------------------------------------------- lunch break


LUNCH = {day: [["09:00", "12:00"], ["13:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


@pytest.mark.parametrize(
    ("start", "seconds", "expected"),
    [
        ((11, 0), 2 * H, (14, 0)),  # runs through the lunch break
        ((9, 0), 3 * H, (12, 0)),  # ends exactly at lunch: 12:00, not 13:00
        ((12, 0), 1, (13, 0, 1)),  # start on the closing boundary
        ((12, 30), 30 * MIN, (13, 30)),  # start between the intervals
        ((13, 0), 4 * H, (17, 0)),  # start on the opening boundary
        ((7, 0), H, (10, 0)),  # before opening
    ],
)
def test_lunch_break(start, seconds, expected):
    cal = Calendar.from_config(tz="Europe/Berlin", weekly_hours=LUNCH, holidays=[])
    assert add_working_time(at(BERLIN, 2026, 1, 5, *start), seconds, cal) == at(BERLIN, 2026, 1, 5, *expected)


def test_lunch_break_counts_no_time():
    cal = Calendar.from_config(tz="Europe/Berlin", weekly_hours=LUNCH, holidays=[])
    assert working_seconds_between(at(BERLIN, 2026, 1, 5, 12, 15), at(BERLIN, 2026, 1, 5, 12, 45), cal) == 0
    assert working_seconds_between(at(BERLIN, 2026, 1, 5), at(BERLIN, 2026, 1, 6), cal) == 7 * H
    assert working_seconds_between(at(BERLIN, 2026, 1, 5, 11, 30), at(BERLIN, 2026, 1, 5, 13, 30), cal) == H
    assert add_working_time(at(BERLIN, 2026, 1, 5, 16), 2 * H, cal) == at(BERLIN, 2026, 1, 6, 10)


# --------------------------------------------------------------------------- overnight


def test_overnight_interval_started_the_day_before():
    cal = every_day("Europe/Berlin", ("22:00", "06:00"))
    assert add_working_time(at(BERLIN, 2026, 1, 6, 3), H, cal) == at(BERLIN, 2026, 1, 6, 4)
    assert add_working_time(at(BERLIN, 2026, 1, 6, 5), 2 * H, cal) == at(BERLIN, 2026, 1, 6, 23)
    assert add_working_time(at(BERLIN, 2026, 1, 6, 12), H, cal) == at(BERLIN, 2026, 1, 6, 23)
    assert working_seconds_between(at(BERLIN, 2026, 1, 5, 12), at(BERLIN, 2026, 1, 6, 12), cal) == 8 * H


def test_overnight_only_on_sunday_runs_into_monday():
    cal = only("Europe/Berlin", "sun", ("22:00", "06:00"))
    start = at(BERLIN, 2026, 1, 4, 23)  # Sunday
    assert add_working_time(start, 7 * H, cal) == at(BERLIN, 2026, 1, 5, 6)
    assert add_working_time(start, 8 * H, cal) == at(BERLIN, 2026, 1, 11, 23)
    assert working_seconds_between(at(BERLIN, 2026, 1, 5, 5), at(BERLIN, 2026, 1, 11, 23), cal) == 2 * H


def test_midnight_end_and_24_00_are_the_same_and_full_day_intervals():
    a = every_day("Europe/Berlin", ("22:00", "00:00"))
    b = every_day("Europe/Berlin", ("22:00", "24:00"))
    assert a == b
    assert a.weekly[0] == ((time(22), time(0)),)
    assert working_seconds_between(at(BERLIN, 2026, 1, 5), at(BERLIN, 2026, 1, 6), a) == 2 * H
    full = every_day("Europe/Berlin", ("00:00", "00:00"))
    assert working_seconds_between(at(BERLIN, 2026, 1, 5, 7), at(BERLIN, 2026, 1, 8, 7), full) == 72 * H
    nine_to_nine = only("Europe/Berlin", "mon", ("09:00", "09:00"))  # end <= start: 24 hours
    assert working_seconds_between(at(BERLIN, 2026, 1, 5), at(BERLIN, 2026, 1, 12), nine_to_nine) == 24 * H


# --------------------------------------------------------------------------- holidays


def test_holiday_is_skipped():
    cal = business(holidays=["2026-12-25", "2026-12-28"])  # Fri, Mon
    assert add_working_time(at(BERLIN, 2026, 12, 24, 16), 2 * H, cal) == at(BERLIN, 2026, 12, 29, 10)
    assert add_working_time(at(BERLIN, 2026, 12, 25, 10), H, cal) == at(BERLIN, 2026, 12, 29, 10)  # start on a holiday
    assert working_seconds_between(at(BERLIN, 2026, 12, 21), at(BERLIN, 2027, 1, 4), cal) == 8 * 8 * H
    assert working_seconds_between(at(BERLIN, 2026, 12, 21), at(BERLIN, 2027, 1, 4), business()) == 10 * 8 * H


def test_overnight_interval_around_a_holiday():
    cal = every_day("Europe/Berlin", ("22:00", "06:00"), holidays=["2026-12-25"])
    # Dec 24 22:00 -> Dec 25 06:00 counts (started the day before); Dec 25 22:00 is skipped.
    assert working_seconds_between(at(BERLIN, 2026, 12, 24, 21), at(BERLIN, 2026, 12, 27), cal) == 10 * H
    assert add_working_time(at(BERLIN, 2026, 12, 25, 5), 2 * H, cal) == at(BERLIN, 2026, 12, 26, 23)
    assert add_working_time(at(BERLIN, 2026, 12, 24, 23), 7 * H, cal) == at(BERLIN, 2026, 12, 25, 6)
    # The same interval on the day *after* the holiday is back.
    assert working_seconds_between(at(BERLIN, 2026, 12, 26, 21), at(BERLIN, 2026, 12, 27, 7), cal) == 8 * H


def test_calendar_that_never_opens_hits_the_guard():
    mondays = [date(2026, 1, 5) + timedelta(weeks=w) for w in range(600)]  # beyond 10 years
    cal = Calendar.from_config(tz="UTC", weekly_hours={"mon": [["09:00", "10:00"]]}, holidays=[d.isoformat() for d in mondays])
    with pytest.raises(ValueError, match="ever open"):
        add_working_time(utc(2026, 1, 1), 1, cal)
    assert working_seconds_between(utc(2026, 1, 1), utc(2030, 1, 1), cal) == 0
    # A real calendar with an absurd SLA also stops at the horizon instead of looping on.
    with pytest.raises(ValueError, match="3653 days"):
        add_working_time(utc(2026, 1, 1), 100_000 * H, business())
    assert MAX_HORIZON == timedelta(days=3653)


# --------------------------------------------------------------------------- DST: Europe/Berlin


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("Europe/Berlin", date(2026, 3, 29), 23),
        ("Europe/Berlin", date(2026, 3, 28), 24),
        ("Europe/Berlin", date(2026, 10, 25), 25),
        ("America/New_York", date(2026, 3, 8), 23),
        ("America/New_York", date(2026, 3, 9), 24),
        ("America/New_York", date(2026, 11, 1), 25),
    ],
)
def test_full_day_is_real_elapsed_time(zone, day, hours):
    tz = ZoneInfo(zone)
    cal = every_day(zone, ("00:00", "00:00"))
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    assert working_seconds_between(start, end, cal) == hours * H
    assert add_working_time(start, hours * H, cal) == end


@pytest.mark.parametrize(("zone", "day"), [("Europe/Berlin", date(2026, 3, 29)), ("Europe/Berlin", date(2026, 10, 25)),
                                           ("America/New_York", date(2026, 3, 8)), ("America/New_York", date(2026, 11, 1))])
def test_nine_to_five_on_dst_day_is_eight_hours(zone, day):
    tz = ZoneInfo(zone)
    cal = every_day(zone, ("09:00", "17:00"))
    start = datetime.combine(day, time(9), tzinfo=tz)
    assert add_working_time(start, 8 * H, cal) == datetime.combine(day, time(17), tzinfo=tz)
    assert working_seconds_between(datetime.combine(day, time(0), tzinfo=tz), datetime.combine(day, time(23), tzinfo=tz),
                                   cal) == 8 * H


def test_berlin_nonexistent_time_maps_forward_through_utc():
    cal = only("Europe/Berlin", "sun", ("02:30", "04:00"))
    # 2026-03-29: 02:30 does not exist; read with +01:00 it is 01:30 UTC = 03:30 CEST. 04:00 CEST = 02:00 UTC.
    day_start = at(BERLIN, 2026, 3, 29)
    assert working_seconds_between(day_start, at(BERLIN, 2026, 3, 30), cal) == 30 * MIN
    assert add_working_time(day_start, 1, cal) == utc(2026, 3, 29, 1, 30, 1)
    assert add_working_time(day_start, 30 * MIN, cal) == utc(2026, 3, 29, 2)
    assert working_seconds_between(at(BERLIN, 2026, 3, 22), at(BERLIN, 2026, 3, 23), cal) == 90 * MIN  # normal Sunday


def test_berlin_interval_inside_the_gap_is_empty_and_ambiguous_hour_counts_twice():
    cal = only("Europe/Berlin", "sun", ("02:00", "03:00"))
    assert working_seconds_between(at(BERLIN, 2026, 3, 29), at(BERLIN, 2026, 3, 30), cal) == 0
    # 2026-10-25: 02:00 (fold=0) is the first one, 00:00 UTC; 03:00 CET is 02:00 UTC.
    assert working_seconds_between(at(BERLIN, 2026, 10, 25), at(BERLIN, 2026, 10, 26), cal) == 2 * H
    assert add_working_time(at(BERLIN, 2026, 10, 25), 1, cal) == utc(2026, 10, 25, 0, 0, 1)


def test_berlin_ambiguous_time_is_first_occurrence():
    cal = only("Europe/Berlin", "sun", ("02:30", "03:30"))
    assert working_seconds_between(at(BERLIN, 2026, 10, 25), at(BERLIN, 2026, 10, 26), cal) == 2 * H
    assert add_working_time(at(BERLIN, 2026, 10, 25), 1, cal) == utc(2026, 10, 25, 0, 30, 1)
    assert add_working_time(at(BERLIN, 2026, 10, 25), 2 * H, cal) == utc(2026, 10, 25, 2, 30)


def test_berlin_gap_mapping_overlap_is_not_counted_twice():
    # 01:00-02:30 -> 00:00-01:30 UTC and 03:00-04:00 -> 01:00-02:00 UTC on 2026-03-29: union is 2 h, not 2.5 h.
    cal = only("Europe/Berlin", "sun", ("01:00", "02:30"), ("03:00", "04:00"))
    assert working_seconds_between(at(BERLIN, 2026, 3, 29), at(BERLIN, 2026, 3, 30), cal) == 2 * H
    assert add_working_time(at(BERLIN, 2026, 3, 29), 2 * H, cal) == utc(2026, 3, 29, 2)
    assert working_seconds_between(at(BERLIN, 2026, 3, 22), at(BERLIN, 2026, 3, 23), cal) == 2.5 * H


def test_berlin_business_week_across_fall_back():
    cal = business()
    assert add_working_time(at(BERLIN, 2026, 10, 23, 16), 2 * H, cal) == utc(2026, 10, 26, 9)  # Mon 10:00 CET
    assert working_seconds_between(at(BERLIN, 2026, 10, 19), at(BERLIN, 2026, 11, 2), cal) == 80 * H


# --------------------------------------------------------------------------- DST: America/New_York


def test_new_york_business_hours_across_both_changes():
    cal = business(tz="America/New_York")
    assert add_working_time(at(NEW_YORK, 2026, 3, 6, 16), 2 * H, cal) == utc(2026, 3, 9, 14)  # Mon 10:00 EDT
    assert add_working_time(at(NEW_YORK, 2026, 10, 30, 16), 2 * H, cal) == utc(2026, 11, 2, 15)  # Mon 10:00 EST


def test_new_york_overnight_interval_across_dst_changes():
    cal = only("America/New_York", "sat", ("22:00", "06:00"))
    # Oct 31 22:00 EDT (02:00 UTC) -> Nov 1 06:00 EST (11:00 UTC): 9 h. Mar 7 22:00 EST -> Mar 8 06:00 EDT: 7 h.
    assert working_seconds_between(at(NEW_YORK, 2026, 10, 31, 12), at(NEW_YORK, 2026, 11, 1, 12), cal) == 9 * H
    assert working_seconds_between(at(NEW_YORK, 2026, 3, 7, 12), at(NEW_YORK, 2026, 3, 8, 12), cal) == 7 * H
    assert add_working_time(at(NEW_YORK, 2026, 10, 31, 12), 9 * H, cal) == utc(2026, 11, 1, 11)


def test_new_york_ambiguous_and_nonexistent_times():
    fall = only("America/New_York", "sun", ("01:30", "02:30"))
    # 01:30 (fold=0) is EDT = 05:30 UTC; 02:30 EST = 07:30 UTC.
    assert working_seconds_between(at(NEW_YORK, 2026, 11, 1), at(NEW_YORK, 2026, 11, 2), fall) == 2 * H
    assert add_working_time(at(NEW_YORK, 2026, 11, 1), 1, fall) == utc(2026, 11, 1, 5, 30, 1)
    spring = only("America/New_York", "sun", ("02:30", "04:00"))
    # 02:30 does not exist on 2026-03-08; read with -05:00 it is 07:30 UTC (03:30 EDT); 04:00 EDT = 08:00 UTC.
    assert working_seconds_between(at(NEW_YORK, 2026, 3, 8), at(NEW_YORK, 2026, 3, 9), spring) == 30 * MIN
    assert add_working_time(at(NEW_YORK, 2026, 3, 8), 1, spring) == utc(2026, 3, 8, 7, 30, 1)


# --------------------------------------------------------------------------- 24/7


def test_always_is_plain_elapsed_time():
    assert ALWAYS is None
    start = at(BERLIN, 2026, 3, 29)
    due = add_working_time(start, 24 * H, ALWAYS)
    assert due == start.astimezone(UTC) + timedelta(hours=24)  # real hours, not wall-clock arithmetic
    assert due.tzinfo is UTC
    assert due.astimezone(BERLIN).hour == 1  # 24 real hours over a 23-hour day
    assert working_seconds_between(start, due, None) == 24 * H
    assert working_seconds_between(due, start, None) == 0
    assert add_working_time(start, 0, None) == start
    assert add_working_time(start, 1.5e-6, None) == start + timedelta(microseconds=2)


def test_end_not_after_start_is_zero():
    cal = business()
    t = at(BERLIN, 2026, 1, 5, 10)
    assert working_seconds_between(t, t, cal) == 0
    assert working_seconds_between(t, t - timedelta(hours=5), cal) == 0


# --------------------------------------------------------------------------- deadlines


def test_deadlines_default_warn_fraction():
    cal = business()
    warn, due = deadlines(at(BERLIN, 2026, 1, 5, 9), 16 * H, cal)
    assert warn == at(BERLIN, 2026, 1, 6, 13)  # 12 open hours
    assert due == at(BERLIN, 2026, 1, 6, 17)
    warn, due = deadlines(at(BERLIN, 2026, 1, 5, 9), 8 * H, cal, 0.75)
    assert (warn, due) == (at(BERLIN, 2026, 1, 5, 15), at(BERLIN, 2026, 1, 5, 17))


def test_deadlines_full_fraction_and_always():
    cal = business()
    warn, due = deadlines(at(BERLIN, 2026, 1, 2, 16), 2 * H, cal, 1.0)
    assert warn == due == at(BERLIN, 2026, 1, 5, 10)
    warn, due = deadlines(utc(2026, 1, 1), 4 * H, None, 0.5)
    assert (warn, due) == (utc(2026, 1, 1, 2), utc(2026, 1, 1, 4))


@pytest.mark.parametrize("fraction", [0, 0.0, 1.5, -0.25, math.nan, math.inf, "0.5", None])
def test_deadlines_invalid_warn_fraction(fraction):
    with pytest.raises(ValueError, match="warn_fraction"):
        deadlines(utc(2026, 1, 1), H, None, fraction)


# --------------------------------------------------------------------------- holds


def test_hold_over_weekend_consumes_no_time():
    cal = business()
    due = add_working_time(at(BERLIN, 2026, 1, 2, 16), 2 * H, cal)  # Mon 10:00
    # Held Fri 16:30 (30 min used, 90 left), resumed Monday 09:00: the weekend is free.
    assert resume_deadline(at(BERLIN, 2026, 1, 2, 16, 30), due, at(BERLIN, 2026, 1, 5, 9), cal) == at(BERLIN, 2026, 1, 5, 10, 30)
    # Held after closing on Friday and resumed before opening on Monday: due unchanged.
    assert resume_deadline(at(BERLIN, 2026, 1, 2, 18), due, at(BERLIN, 2026, 1, 5, 8), cal) == due


def test_hold_of_three_open_hours_moves_due_by_three_open_hours():
    cal = business()
    due = at(BERLIN, 2026, 1, 6, 12)  # Tuesday noon
    assert resume_deadline(at(BERLIN, 2026, 1, 5, 10), due, at(BERLIN, 2026, 1, 5, 13), cal) == at(BERLIN, 2026, 1, 6, 15)
    # Three open hours spread over a night: Mon 16:00 -> Tue 11:00.
    assert resume_deadline(at(BERLIN, 2026, 1, 5, 16), due, at(BERLIN, 2026, 1, 6, 11), cal) == at(BERLIN, 2026, 1, 6, 15)
    # Three open hours spill the deadline into the next day.
    assert resume_deadline(at(BERLIN, 2026, 1, 6, 9), at(BERLIN, 2026, 1, 6, 16), at(BERLIN, 2026, 1, 6, 12), cal) == (
        at(BERLIN, 2026, 1, 7, 11)
    )


def test_hold_after_due_resumes_already_due():
    cal = business()
    due = at(BERLIN, 2026, 1, 5, 10)
    resumed = at(BERLIN, 2026, 1, 10, 12)  # Saturday
    assert resume_deadline(at(BERLIN, 2026, 1, 5, 11), due, resumed, cal) == resumed
    assert resume_deadline(due, due, resumed, cal) == resumed


def test_hold_with_always_and_invalid_order():
    assert resume_deadline(utc(2026, 1, 1, 1), utc(2026, 1, 1, 3), utc(2026, 1, 2), None) == utc(2026, 1, 2, 2)
    with pytest.raises(ValueError, match="before held_at"):
        resume_deadline(utc(2026, 1, 2), utc(2026, 1, 3), utc(2026, 1, 1), business())


# --------------------------------------------------------------------------- argument checks


@pytest.mark.parametrize("seconds", [-1, -1e-3, math.nan, math.inf, "60", None])
def test_invalid_seconds(seconds):
    with pytest.raises(ValueError, match="seconds"):
        add_working_time(utc(2026, 1, 1), seconds, business())
    with pytest.raises(ValueError, match="seconds"):
        add_working_time(utc(2026, 1, 1), seconds, None)


def test_naive_datetimes_are_rejected():
    naive = datetime(2026, 1, 5, 10)
    with pytest.raises(ValueError, match="timezone-aware"):
        add_working_time(naive, H, business())
    with pytest.raises(ValueError, match="timezone-aware"):
        add_working_time(naive, H, None)
    with pytest.raises(ValueError, match="end must be timezone-aware"):
        working_seconds_between(utc(2026, 1, 5), naive, business())
    with pytest.raises(ValueError, match="due_at must be timezone-aware"):
        resume_deadline(utc(2026, 1, 5), naive, utc(2026, 1, 6), None)


# --------------------------------------------------------------------------- from_config / validation


def test_from_config_normalises():
    cal = Calendar.from_config(
        tz="Europe/Berlin",
        weekly_hours={"Mon": [["13:00", "17:00"], ["09:00", "12:00"]], " sun ": [("22:00", "06:00")], "sat": []},
        holidays=["2026-12-25", date(2026, 12, 26)],
    )
    assert cal.tz == "Europe/Berlin"
    assert cal.zone is BERLIN
    assert cal.weekly[0] == ((time(9), time(12)), (time(13), time(17)))
    assert cal.weekly[6] == ((time(22), time(6)),)
    assert cal.weekly[1] == cal.weekly[5] == ()
    assert set(cal.weekly) == set(range(7))
    assert cal.holidays == frozenset({date(2026, 12, 25), date(2026, 12, 26)})
    direct = Calendar(tz="Europe/Berlin", weekly={6: [(time(22), time(6))], 0: ((time(13), time(17)), (time(9), time(12)))},
                      holidays={date(2026, 12, 26), date(2026, 12, 25)})
    assert direct == cal
    assert hash(direct) == hash(cal)


def test_adjacent_intervals_are_allowed():
    cal = Calendar.from_config(
        tz="UTC", weekly_hours={"mon": [["09:00", "12:00"], ["12:00", "17:00"]], "sun": [["22:00", "09:00"]]}, holidays=[]
    )
    assert working_seconds_between(utc(2026, 1, 4, 20), utc(2026, 1, 6), cal) == 19 * H
    assert add_working_time(utc(2026, 1, 5, 11), 2 * H, cal) == utc(2026, 1, 5, 13)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(tz="Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
        (dict(tz=""), "tz must be"),
        (dict(tz="../etc/passwd"), "unknown time zone"),
        (dict(weekly_hours={"monday": [["09:00", "17:00"]]}), "unknown day name 'monday'"),
        (dict(weekly_hours={"mon": [["09:00", "17:00"]], "Mon": []}), "more than once"),
        (dict(weekly_hours={"mon": [["9:00", "17:00"]]}), "mon: bad time '9:00'"),
        (dict(weekly_hours={"mon": [["09:00", "25:00"]]}), "bad time '25:00'"),
        (dict(weekly_hours={"mon": [["09:60", "17:00"]]}), "bad time '09:60'"),
        (dict(weekly_hours={"mon": [["24:00", "17:00"]]}), "bad time '24:00'"),
        (dict(weekly_hours={"mon": [[900, 1700]]}), "bad time 900"),
        (dict(weekly_hours={"mon": [["09:00"]]}), "start, end"),
        (dict(weekly_hours={"mon": ["09:00-17:00"]}), "start, end"),
        (dict(weekly_hours={"mon": "09:00-17:00"}), "list of"),
        (dict(weekly_hours=[["09:00", "17:00"]]), "mapping"),
        (dict(weekly_hours={"tue": [["09:00", "12:00"], ["11:00", "14:00"]]}),
         "tue: overlapping intervals 09:00-12:00 and 11:00-14:00"),
        (dict(weekly_hours={"tue": [["22:00", "06:00"], ["23:00", "23:30"]]}), "overlapping"),
        (dict(weekly_hours={"sun": [["22:00", "06:00"]], "mon": [["05:00", "09:00"]]}),
         "sun 22:00-06:00 runs overnight into mon"),
        (dict(weekly_hours={"sat": [["10:00", "10:00"]], "sun": [["09:00", "11:00"]]}), "runs overnight"),
        (dict(weekly_hours={}), "no opening hours"),
        (dict(weekly_hours={d: [] for d in ALL_DAYS}), "no opening hours"),
        (dict(holidays=["25.12.2026"]), "bad holiday '25.12.2026'"),
        (dict(holidays=[20261225]), "bad holiday"),
        (dict(holidays="2026-12-25"), "list of ISO dates"),
        (dict(holidays=[datetime(2026, 12, 25)]), "not a datetime"),
    ],
)
def test_from_config_errors(kwargs, message):
    config = dict(tz="Europe/Berlin", weekly_hours=WEEKDAYS_9_17, holidays=[]) | kwargs
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Calendar.from_config(**config)


@pytest.mark.parametrize(
    ("weekly", "message"),
    [
        ({7: ((time(9), time(17)),)}, "weekday must be"),
        ({"mon": ((time(9), time(17)),)}, "weekday must be"),
        ({0: (("09:00", "17:00"),)}, "naive datetime.time"),
        ({0: ((time(9, tzinfo=UTC), time(17)),)}, "naive datetime.time"),
        ({0: ((time(9),),)}, "pair"),
        ({0: ((time(9), time(12)), (time(11), time(13)))}, "overlapping"),
        ({0: ()}, "no opening hours"),
    ],
)
def test_direct_construction_is_validated(weekly, message):
    with pytest.raises(ValueError, match=message):
        Calendar(tz="UTC", weekly=weekly, holidays=frozenset())


def test_direct_construction_rejects_bad_zone_and_holidays():
    week = {0: ((time(9), time(17)),)}
    with pytest.raises(ValueError, match="unknown time zone"):
        Calendar(tz="Europe/Atlantis", weekly=week, holidays=frozenset())
    with pytest.raises(ValueError, match="datetime.date"):
        Calendar(tz="UTC", weekly=week, holidays=frozenset({"2026-12-25"}))


# --------------------------------------------------------------------------- properties

# name -> (calendar, largest duration in hours drawn for it: keeps every example to a few hundred days of walking)
CALENDARS = {
    "business-berlin": (business(holidays=["2026-12-25", "2026-12-28", "2027-01-01", "2026-03-30"]), 200),
    "lunch-new-york": (
        Calendar.from_config(tz="America/New_York", weekly_hours=LUNCH | {"sat": [["10:00", "14:00"]]},
                             holidays=["2026-11-26", "2026-03-09"]),
        150,
    ),
    "overnight-berlin": (
        every_day("Europe/Berlin", ("22:00", "06:00"), holidays=["2026-10-25", "2026-03-28", "2026-12-25"]),
        200,
    ),
    "dst-edges-new-york": (
        Calendar.from_config(tz="America/New_York", weekly_hours={"sun": [["01:00", "03:30"]], "sat": [["22:00", "00:30"]]},
                             holidays=[]),
        40,
    ),
    "gap-overlap-berlin": (
        Calendar.from_config(tz="Europe/Berlin",
                             weekly_hours={"sun": [["01:00", "02:30"], ["03:00", "04:00"]], "wed": [["02:00", "03:00"]]},
                             holidays=[]),
        30,
    ),
    "full-days-berlin": (every_day("Europe/Berlin", ("00:00", "00:00"), holidays=["2026-10-24"]), 500),
    "always": (ALWAYS, 500),
}
TRANSITIONS = [utc(2026, 3, 8, 7), utc(2026, 3, 29, 1), utc(2026, 10, 25, 1), utc(2026, 11, 1, 6)]

calendars = st.sampled_from(sorted(CALENDARS))
instants = st.one_of(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 6, 30),
                 timezones=st.sampled_from([UTC, BERLIN, NEW_YORK])),
    st.builds(lambda base, offset: base + timedelta(seconds=offset),
              st.sampled_from(TRANSITIONS), st.integers(-4 * 86400, 4 * 86400)),
)
PROPERTY = settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(name=calendars, start=instants, data=st.data())
def test_round_trip_add_then_measure(name, start, data):
    cal, max_hours = CALENDARS[name]
    seconds = data.draw(st.floats(min_value=0, max_value=max_hours * H, allow_nan=False, allow_infinity=False))
    due = add_working_time(start, seconds, cal)
    assert due.tzinfo is UTC
    assert due >= start
    assert abs(working_seconds_between(start, due, cal) - seconds) <= 1e-6
    if round(seconds * 1e6) > 0:  # earliest such instant: open time accrued right before it (sub-µs rounds to 0 → start)
        assert working_seconds_between(due - timedelta(microseconds=1), due, cal) == 1e-6


@PROPERTY
@given(name=calendars, start=instants, data=st.data())
def test_add_is_monotonic_and_composes(name, start, data):
    cal, max_hours = CALENDARS[name]
    us = st.integers(min_value=0, max_value=max_hours * H * 10**6 // 2)
    a, b = data.draw(us), data.draw(us)
    first = add_working_time(start, a / 1e6, cal)
    both = add_working_time(start, (a + b) / 1e6, cal)
    assert first <= both
    assert add_working_time(start, max(a, b) / 1e6, cal) >= add_working_time(start, min(a, b) / 1e6, cal)
    if b > 0:
        assert add_working_time(first, b / 1e6, cal) == both


@PROPERTY
@given(name=calendars, start=instants, data=st.data())
def test_round_trip_measure_then_add(name, start, data):
    cal, _ = CALENDARS[name]
    end = start.astimezone(UTC) + timedelta(seconds=data.draw(st.integers(min_value=-3600, max_value=30 * 86400)))
    mid = start.astimezone(UTC) + (end - start) * data.draw(st.floats(min_value=0, max_value=1))
    worked = working_seconds_between(start, end, cal)
    assert worked >= 0
    back = add_working_time(start, worked, cal)
    assert back <= max(end, start)
    assert working_seconds_between(start, back, cal) == worked
    assert working_seconds_between(back, end, cal) == 0  # only closed time between back and end
    if end > start:  # additivity
        parts = working_seconds_between(start, mid, cal) + working_seconds_between(mid, end, cal)
        assert round(parts * 1e6) == round(worked * 1e6)


def _oracle_open_minutes(cal, start, end):
    """Brute force: every interval of every local day, mapped the documented way, as a set of UTC minutes."""
    zone = cal.zone
    minutes = set()
    day = start.astimezone(zone).date() - timedelta(days=3)
    while day <= end.astimezone(zone).date() + timedelta(days=1):
        if day not in cal.holidays:
            for s, e in cal.weekly[day.weekday()]:
                end_day = day + timedelta(days=1) if e <= s else day
                s_utc = datetime.combine(day, s, tzinfo=zone).astimezone(UTC)
                e_utc = datetime.combine(end_day, e, tzinfo=zone).astimezone(UTC)
                minutes.update(range(int(s_utc.timestamp()) // 60, int(e_utc.timestamp()) // 60))
        day += timedelta(days=1)
    return minutes


@settings(max_examples=examples(30), deadline=None)
@given(name=st.sampled_from(sorted(n for n in CALENDARS if n != "always")), start=instants,
       length=st.integers(min_value=0, max_value=3 * 24 * 60))
def test_matches_brute_force_minutes(name, start, length):
    cal, _ = CALENDARS[name]
    start = start.astimezone(UTC).replace(second=0, microsecond=0)
    end = start + timedelta(minutes=length)
    first, last = int(start.timestamp()) // 60, int(end.timestamp()) // 60
    expected = sum(1 for m in _oracle_open_minutes(cal, start, end) if first <= m < last)
    assert working_seconds_between(start, end, cal) == expected * 60
