"""Times on the user's clock, shared by schedule send and snooze."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from mailboxes.local_times import MORNING, NoSuchLocalTime, at, next_monday, parse_local

BERLIN = ZoneInfo("Europe/Berlin")


def test_a_typed_time_is_read_on_the_users_clock():
    assert parse_local("2026-12-24T09:30", zone=BERLIN) == dt.datetime(2026, 12, 24, 8, 30, tzinfo=dt.UTC)


def test_a_time_with_its_own_offset_keeps_it():
    assert parse_local("2026-12-24T09:30+05:00", zone=BERLIN) == dt.datetime(2026, 12, 24, 4, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize("value", ["", "tomorrow", "2026-13-01T08:00", "9999-12-31T23:59+00:00x"])
def test_what_is_not_a_time_is_refused(value):
    with pytest.raises(NoSuchLocalTime) as refused:
        parse_local(value, zone=BERLIN)
    assert not refused.value.skipped


def test_a_time_the_clocks_skip_is_refused():
    with pytest.raises(NoSuchLocalTime) as refused:
        parse_local("2026-03-29T02:30", zone=BERLIN)  # 02:00 → 03:00 that night
    assert refused.value.skipped


def test_an_hour_that_happens_twice_is_the_first_one():
    first = at(dt.date(2026, 10, 25), dt.time(2, 30), BERLIN)  # 03:00 → 02:00 that night
    assert first.astimezone(dt.UTC) == dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("today", "monday"),
    [(dt.date(2026, 12, 7), dt.date(2026, 12, 14)), (dt.date(2026, 12, 6), dt.date(2026, 12, 7))],
)
def test_next_monday_is_never_today(today, monday):
    assert next_monday(today) == monday
    assert at(monday, MORNING, BERLIN).hour == 8
