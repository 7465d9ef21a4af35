"""Dates as the message list and the conversation show them, in the reader's time zone and language.

Like Gmail: the time for mail of today ("14:05"), the day for this year ("3 Dec", "12月3日"), the
full date for older years ("3 Dec 2025", "2025年12月3日"). "Today" is the reader's today: the active
time zone (accounts.middleware) decides it, not the server's.
"""

import contextlib
import datetime

from django.utils import dateformat, timezone, translation

# Per language (its prefix): today, this year, older, and the full date-time shown on hover.
_FORMATS = {
    "en": ("H:i", "j M", "j M Y", "D j M Y, H:i"),
    "zh": ("H:i", "n月j日", "Y年n月j日", "Y年n月j日 H:i"),
}


def _formats(language: str | None) -> tuple[str, str, str, str]:
    code = (language or translation.get_language() or "en").lower()
    return _FORMATS.get(code.split("-")[0], _FORMATS["en"])


def _local(value: datetime.datetime, tz) -> datetime.datetime:
    return timezone.localtime(value, tz or timezone.get_current_timezone())


def short_date(
    value: datetime.datetime | None, *, now: datetime.datetime | None = None, tz=None, language: str | None = None
) -> str:
    """``value`` in a few characters, relative to ``now`` (default: the current time)."""
    if not value:
        return ""
    local = _local(value, tz)
    today = _local(now or timezone.now(), tz).date()
    today_format, year_format, older_format, _full = _formats(language)
    if local.date() == today:
        fmt = today_format
    elif local.year == today.year:
        fmt = year_format
    else:
        fmt = older_format
    with translation.override(language) if language else contextlib.nullcontext():
        return dateformat.format(local, fmt)


def full_date(value: datetime.datetime | None, *, tz=None, language: str | None = None) -> str:
    """``value`` in full, with the weekday and the time zone (for ``title`` on hover)."""
    if not value:
        return ""
    with translation.override(language) if language else contextlib.nullcontext():
        local = _local(value, tz)
        # Django's "T" is empty for the hour repeated when clocks go back; tzname() knows the fold.
        return f"{dateformat.format(local, _formats(language)[3])} {local.tzname()}".strip()
