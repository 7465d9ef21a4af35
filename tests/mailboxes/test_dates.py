"""Short dates of the list and the conversation: the reader's today, time zone and language."""

import datetime
import zoneinfo

import pytest
from django.template import Context, Template
from django.utils import timezone, translation

from mailboxes.dates import full_date, short_date

UTC = datetime.UTC
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
LOS_ANGELES = zoneinfo.ZoneInfo("America/Los_Angeles")
NOW = datetime.datetime(2026, 12, 7, 15, 30, tzinfo=UTC)  # 16:30 in Paris


@pytest.mark.parametrize(
    ("value", "language", "expected"),
    [
        (datetime.datetime(2026, 12, 7, 13, 5, tzinfo=UTC), "en", "14:05"),
        (datetime.datetime(2026, 12, 7, 13, 5, tzinfo=UTC), "zh-hans", "14:05"),
        (datetime.datetime(2026, 12, 3, 9, 0, tzinfo=UTC), "en", "3 Dec"),
        (datetime.datetime(2026, 12, 3, 9, 0, tzinfo=UTC), "zh-hans", "12月3日"),
        (datetime.datetime(2025, 12, 3, 9, 0, tzinfo=UTC), "en", "3 Dec 2025"),
        (datetime.datetime(2025, 12, 3, 9, 0, tzinfo=UTC), "zh-hans", "2025年12月3日"),
        # Yesterday evening is a day, not a time, even if fewer than 24 hours ago.
        (datetime.datetime(2026, 12, 6, 22, 0, tzinfo=UTC), "en", "6 Dec"),
    ],
)
def test_today_this_year_and_older(value, language, expected):
    assert short_date(value, now=NOW, tz=PARIS, language=language) == expected


def test_the_readers_today_decides_not_the_servers():
    # 23:30 UTC on 6 Dec is already 07:30 on 7 Dec in Shanghai, but still the afternoon of the 6th in Los Angeles.
    value = datetime.datetime(2026, 12, 6, 23, 30, tzinfo=UTC)
    now = datetime.datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    assert short_date(value, now=now, tz=SHANGHAI, language="en") == "07:30"
    assert short_date(value, now=now, tz=LOS_ANGELES, language="en") == "15:30"
    assert short_date(value, now=now, tz=UTC, language="en") == "6 Dec"
    # And it is 7 Dec in Shanghai but yesterday's mail from the 6th there is a day.
    earlier = datetime.datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    assert short_date(earlier, now=now, tz=SHANGHAI, language="en") == "6 Dec"


def test_new_year_in_a_far_time_zone():
    # 31 Dec 2026 20:00 UTC is already 1 Jan 2027 in Shanghai: the old year's mail shows its year.
    now = datetime.datetime(2026, 12, 31, 20, 0, tzinfo=UTC)
    value = datetime.datetime(2026, 12, 30, 12, 0, tzinfo=UTC)
    assert short_date(value, now=now, tz=SHANGHAI, language="en") == "30 Dec 2026"
    assert short_date(value, now=now, tz=UTC, language="en") == "30 Dec"


def test_across_a_daylight_saving_change():
    # Paris leaves summer time at 01:00 UTC on 25 Oct 2026: 00:30 UTC is 02:30 CEST, 01:30 UTC is 02:30 CET.
    now = datetime.datetime(2026, 10, 25, 12, 0, tzinfo=UTC)
    before = datetime.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    after = datetime.datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert short_date(before, now=now, tz=PARIS, language="en") == "02:30"
    assert short_date(after, now=now, tz=PARIS, language="en") == "02:30"
    assert full_date(before, tz=PARIS, language="en") == "Sun 25 Oct 2026, 02:30 CEST"
    assert full_date(after, tz=PARIS, language="en") == "Sun 25 Oct 2026, 02:30 CET"
    # 22:30 UTC on 24 Oct is 00:30 on the 25th in Paris (summer time): today there.
    assert short_date(datetime.datetime(2026, 10, 24, 22, 30, tzinfo=UTC), now=now, tz=PARIS, language="en") == "00:30"


def test_full_date_in_both_languages():
    value = datetime.datetime(2025, 12, 3, 6, 5, tzinfo=UTC)
    assert full_date(value, tz=SHANGHAI, language="en") == "Wed 3 Dec 2025, 14:05 CST"
    assert full_date(value, tz=SHANGHAI, language="zh-hans") == "2025年12月3日 14:05 CST"


def test_empty_values():
    assert short_date(None) == "" and full_date(None) == ""


def test_the_filters_use_the_active_time_zone_and_language():
    value = timezone.now()
    template = Template("{% load webmail %}{{ value|mail_date }}|{{ value|mail_date_full }}")
    with timezone.override(SHANGHAI), translation.override("zh-hans"):
        short, full = template.render(Context({"value": value})).split("|")
    local = timezone.localtime(value, SHANGHAI)
    # Today's mail shows its time (a run that crosses midnight in Shanghai shows the date instead).
    still_today = timezone.localtime(timezone.now(), SHANGHAI).date() == local.date()
    assert short == (local.strftime("%H:%M") if still_today else f"{local.month}月{local.day}日")
    assert full.startswith(f"{local.year}年{local.month}月{local.day}日")
