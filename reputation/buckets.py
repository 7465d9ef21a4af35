"""The time buckets the reputation counters are kept in, and which of them make up a window (pure: no database).

Every outcome is added to three buckets of its subject and metric: its 5-minute
bucket (kept 2 days: the last hour), its hour (kept ``REPUTATION_HOURLY_KEPT_DAYS``:
the last 24 hours, and the edges of longer windows) and its day (kept
``REPUTATION_DAILY_KEPT_DAYS``). A window is then at most a few dozen rows per
subject and metric:

- HOUR: the 12 five-minute buckets ending with the current one;
- DAY: the 24 hours ending with the current one;
- WEEK, MONTH: the 7 × 24 (30 × 24) hours ending with the current one, read
  as the whole UTC days in the middle plus the hours at both ends.

The window therefore ends now and starts at most one bucket later than
``now - window`` (the current bucket is partial): up to 5 minutes short for
the hour, up to an hour short for the others.
"""

from datetime import UTC, datetime, timedelta

from reputation.figures import WINDOW_SECONDS, Window

FIVE_MINUTES, HOUR, DAY = 300, 3600, 86400
SPANS = (FIVE_MINUTES, HOUR, DAY)
FIVE_MINUTES_KEPT = timedelta(days=2)

# The bucket length of each point of ``selectors.series``.
SERIES_SPAN = {Window.HOUR: FIVE_MINUTES, Window.DAY: HOUR, Window.WEEK: DAY, Window.MONTH: DAY}


def floor(moment: datetime, span: int) -> datetime:
    """The start (UTC) of the ``span``-second bucket holding ``moment``."""
    seconds = int(moment.timestamp())
    return datetime.fromtimestamp(seconds - seconds % span, UTC)


def window_ranges(window: Window, now: datetime) -> list[tuple[int, datetime, datetime]]:
    """``(span, first bucket, last bucket)`` ranges (inclusive) whose buckets add up to the window ending ``now``."""
    window = Window(window)
    if window == Window.HOUR:
        last = floor(now, FIVE_MINUTES)
        return [(FIVE_MINUTES, last - timedelta(seconds=3600 - FIVE_MINUTES), last)]
    last_hour = floor(now, HOUR)
    first_hour = last_hour - timedelta(seconds=WINDOW_SECONDS[window] - HOUR)
    if window == Window.DAY:
        return [(HOUR, first_hour, last_hour)]
    today = floor(now, DAY)
    first_whole_day = floor(first_hour, DAY)
    if first_whole_day < first_hour:
        first_whole_day += timedelta(days=1)
    ranges = []
    if first_hour < first_whole_day:
        ranges.append((HOUR, first_hour, first_whole_day - timedelta(hours=1)))
    if first_whole_day < today:
        ranges.append((DAY, first_whole_day, today - timedelta(days=1)))
    ranges.append((HOUR, today, last_hour))
    return ranges


def series_buckets(window: Window, now: datetime) -> tuple[int, list[datetime]]:
    """``(span, bucket starts in order)`` of the points of a window's series, the last one holding ``now``."""
    window = Window(window)
    span = SERIES_SPAN[window]
    count = WINDOW_SECONDS[window] // span
    last = floor(now, span)
    return span, [last - timedelta(seconds=span * (count - 1 - index)) for index in range(count)]
