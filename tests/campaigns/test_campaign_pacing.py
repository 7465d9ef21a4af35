"""Pacing with an injected clock: the planned rate and end, impossible deadlines, the pacer's allowance, warm-up."""

from datetime import UTC, datetime, timedelta

import pytest

from campaigns.models import Campaign
from campaigns.pacing import plan, warmup_cap
from campaigns.services import fanout
from campaigns.services.campaigns import preflight, schedule
from campaigns.services.fanout import release_due, start_due_campaigns
from tests.campaigns.campaign_world import (
    add_contacts,
    everyone_fixture,  # noqa: F401 - fixtures
    new_campaign,
    newsletter_fixture,  # noqa: F401
    spring_fixture,  # noqa: F401
)
from tests.campaigns.unsubscribe_world import marketer_fixture, shop_fixture  # noqa: F401

NINE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _limits(settings, monkeypatch):
    settings.OUTBOUND_DOMAIN_RATE_PER_MINUTE = 3000
    settings.OUTBOUND_SENDER_RATE_PER_MINUTE = 3000
    settings.CAMPAIGN_WARMUP_DAILY_CAPS = []
    monkeypatch.setattr(fanout, "dispatch_due", lambda *, queue: None)  # the tests look at releases, not sends


def campaign_at(**fields) -> Campaign:
    return Campaign(from_address="alice@shop.example", send_at=NINE, **fields)


@pytest.mark.django_db
def test_without_a_deadline_it_goes_as_fast_as_the_slowest_limit():
    paced = plan(campaign_at(), audience_by_domain={"gmail.com": 6000, "example.org": 3000}, now=NINE)

    # 9,000 at the sender's 3,000 a minute: three minutes (gmail.com alone would take two).
    assert (paced.rate_per_minute, paced.finishes_at, paced.problems) == (3000, NINE + timedelta(minutes=3), [])


@pytest.mark.django_db
def test_a_deadline_spreads_the_sends_evenly_until_it():
    paced = plan(campaign_at(finish_by=NINE + timedelta(hours=9)), audience_by_domain={"gmail.com": 5400}, now=NINE)

    assert (paced.rate_per_minute, paced.finishes_at, paced.problems) == (10, NINE + timedelta(hours=9), [])


@pytest.mark.django_db
def test_a_deadline_the_domain_limit_cannot_meet_is_named_up_front(settings):
    settings.OUTBOUND_SENDER_RATE_PER_MINUTE = 100_000

    paced = plan(
        campaign_at(finish_by=NINE + timedelta(minutes=10)),
        audience_by_domain={"gmail.com": 40_000, "example.org": 10},
        now=NINE,
    )

    assert paced.problems == [
        "It cannot finish by the deadline: gmail.com has 40,000 recipients and the limit per domain lets it take "
        "3,000 a minute, so it needs until 2026-03-02 09:13 UTC."
    ]


@pytest.mark.django_db
def test_a_deadline_beyond_the_campaigns_own_maximum_rate_is_impossible():
    paced = plan(
        campaign_at(max_per_hour=600, finish_by=NINE + timedelta(hours=1)),
        audience_by_domain={"example.org": 1200},
        now=NINE,
    )

    assert paced.problems == [
        "It cannot finish by the deadline: its maximum of 600 an hour, so it needs until 2026-03-02 11:00 UTC."
    ]


@pytest.mark.django_db
def test_the_warm_up_of_a_new_domain_makes_a_big_campaign_take_days(settings):
    settings.CAMPAIGN_WARMUP_DAILY_CAPS = [50, 100, 500]

    paced = plan(campaign_at(finish_by=NINE + timedelta(days=1)), audience_by_domain={"example.org": 1000}, now=NINE)

    assert paced.finishes_at == NINE + timedelta(days=3)
    assert "the warm-up of its From domain caps it at 50, 100, 500 a day" in paced.problems[0]
    assert plan(campaign_at(), audience_by_domain={"example.org": 40}, now=NINE).finishes_at < NINE + timedelta(
        hours=1
    )  # within the first day's cap: the warm-up does not bind


def test_the_preflight_reports_an_impossible_deadline(marketer, spring, everyone, shop, newsletter, settings):
    settings.OUTBOUND_SENDER_RATE_PER_MINUTE = 1
    add_contacts(shop, newsletter, [f"d{i}@remote.example" for i in range(5)])
    campaign = new_campaign(
        marketer, spring, everyone, send_at=NINE + timedelta(minutes=1), finish_by=NINE + timedelta(minutes=3)
    )

    messages = [p.message for p in preflight(campaign, now=NINE) if p.field == "finish_by"]

    assert messages == [
        "It cannot finish by the deadline: the sender's limit of 1 a minute, so it needs until 2026-03-02 09:06 UTC."
    ]


def started_at_nine(marketer, spring, everyone, **fields) -> Campaign:
    campaign = new_campaign(marketer, spring, everyone, send_at=NINE, **fields)
    schedule(campaign=campaign, user=marketer, now=NINE - timedelta(minutes=1))
    start_due_campaigns(now=NINE)
    return Campaign.objects.get(pk=campaign.pk)


def test_the_pacer_spreads_what_is_left_over_the_time_left(marketer, spring, everyone, shop, newsletter):
    add_contacts(shop, newsletter, [f"s{i}@remote.example" for i in range(120)])
    started_at_nine(marketer, spring, everyone, finish_by=NINE + timedelta(hours=1))

    assert release_due(now=NINE) == 2  # 120 in 60 minutes
    assert release_due(now=NINE + timedelta(seconds=30)) == 0
    assert release_due(now=NINE + timedelta(minutes=1, seconds=1)) == 2
    # Nothing released for half an hour (say it was paused): the rest is spread over the half hour left.
    assert release_due(now=NINE + timedelta(minutes=30)) == 4  # 116 left in 30 minutes
    # Past the deadline, what is left goes as fast as it may.
    assert release_due(now=NINE + timedelta(hours=1, minutes=1)) == 112


def test_the_warm_up_caps_a_new_domains_campaigns_per_day(marketer, spring, everyone, shop, newsletter, settings):
    settings.CAMPAIGN_WARMUP_DAILY_CAPS = [5, 10]
    add_contacts(shop, newsletter, [f"w{i}@remote.example" for i in range(30)])
    started_at_nine(marketer, spring, everyone)

    assert warmup_cap("shop.example", now=NINE) == 5
    assert release_due(now=NINE) == 5
    assert release_due(now=NINE + timedelta(hours=5)) == 0
    assert release_due(now=NINE + timedelta(days=1, minutes=1)) == 10  # day 2: ten in 24 hours
    assert release_due(now=NINE + timedelta(days=1, hours=5)) == 0
    assert warmup_cap("shop.example", now=NINE + timedelta(days=2)) is None  # warmed up
    assert release_due(now=NINE + timedelta(days=2)) == 15
