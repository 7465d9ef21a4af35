"""Times on a user's clock: "tomorrow 8:00", "next Monday", a date and time typed in a form.

Schedule send and snooze both offer such times in the user's time zone
(``accounts.preferences.time_zone_of``) and read back what the user typed.
"""

import datetime as dt
from zoneinfo import ZoneInfo

MORNING = dt.time(8, 0)


class NoSuchLocalTime(ValueError):
    """Not a date and time, or one the clocks skip in that zone (spring forward)."""

    def __init__(self, *, skipped: bool):
        super().__init__("a time the clocks skip" if skipped else "not a date and time")
        self.skipped = skipped


def at(day: dt.date, clock: dt.time, zone: ZoneInfo) -> dt.datetime:
    # fold=0: an hour that happens twice (the clocks going back) is the first one.
    return dt.datetime.combine(day, clock, tzinfo=zone)


def next_monday(today: dt.date) -> dt.date:
    """The coming Monday, never today."""
    return today + dt.timedelta(days=7 - today.weekday())


def parse_local(value: str, *, zone: ZoneInfo) -> dt.datetime:
    """``YYYY-MM-DDTHH:MM`` (what a datetime-local field posts) on the zone's clock, as an aware instant.

    A value with its own offset keeps it. Raises ``NoSuchLocalTime``.
    """
    try:
        naive = dt.datetime.fromisoformat((value or "").strip())
    except ValueError:
        raise NoSuchLocalTime(skipped=False) from None
    if naive.tzinfo is not None:
        return naive
    local = naive.replace(tzinfo=zone)
    try:
        round_trip = local.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None)
    except OverflowError:  # year 1 or 9999
        raise NoSuchLocalTime(skipped=False) from None
    # A time the clocks skip does not exist: it does not survive a round trip through UTC.
    if round_trip != naive:
        raise NoSuchLocalTime(skipped=True)
    return local
