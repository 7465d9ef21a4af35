"""The marketer's "Sending health" panel on a campaign's results page: its rates against the thresholds, and why
sending stopped."""

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from delivery.services.events import record_delivery_event
from reputation.services.holds import place_hold
from tests.campaigns.results_world import (  # noqa: F401 - fixtures
    make_campaign,
    marketer_fixture,
    recipient_of,
    shop_fixture,
)
from tests.reputation.page_world import count

pytestmark = pytest.mark.django_db


def panel(user, campaign) -> str:
    client = Client()
    client.force_login(user)
    html = client.get(reverse("campaigns:campaign_results", args=[campaign.pk])).content.decode()
    return re.search(r"<section class=\"sending-health\".*?</section>", html, re.S).group(0)


def row(html: str, kind: str) -> str:
    return re.search(rf'<tr data-health="{kind}".*?</tr>', html, re.S).group(0)


def test_the_panel_shows_the_campaign_and_its_domain_counted_from_its_events(marketer, shop, settings):
    settings.REPUTATION_MIN_VOLUME = 3
    campaign = make_campaign(shop, ["a@gmail.example", "b@gmail.example", "c@gmail.example", "d@gmail.example"])
    for address in ("a@gmail.example", "b@gmail.example", "c@gmail.example"):
        record_delivery_event(recipient=recipient_of(campaign, address), event_type="sent", transport="smtp")
    record_delivery_event(recipient=recipient_of(campaign, "d@gmail.example"), event_type="bounced",
                          transport="smtp", reject_reason="invalid", reason="user_unknown")  # fmt: skip

    html = panel(marketer, campaign)

    mine = row(html, "campaign")
    assert ">4<" in mine and "25.0\u00a0%" in mine and "At the pause threshold" in mine
    assert "shop.example, last 24 hours" in row(html, "domain")
    assert "sending pauses at 10.0\u00a0% bounces or 0.30\u00a0% complaints" in html


@pytest.mark.parametrize(
    ("counts", "standing"),
    [({"delivered": 20}, "Too few sent to judge (under 100)"),
     ({"delivered": 1000}, "Healthy"),
     ({"delivered": 1000, "complained": 2}, "Above the warning threshold"),
     ({"delivered": 930, "bounced_hard": 70}, "Above the warning threshold")],
)  # fmt: skip
def test_the_standing_follows_the_thresholds_and_the_minimum_volume(marketer, shop, counts, standing):
    campaign = make_campaign(shop, [])
    count("campaign", str(campaign.pk), at=timezone.now(), **counts)

    assert standing in row(panel(marketer, campaign), "campaign")


def test_a_held_campaign_says_why(marketer, shop):
    campaign = make_campaign(shop, [])
    place_hold(kind="campaign", key=campaign.pk, cause="guardrail", evidence={},
               reason="Bounce rate 12.0 % over the campaign so far (120 of 1000), past the 10 % pause.")  # fmt: skip

    html = panel(marketer, campaign)

    assert "Sending stopped" in row(html, "campaign")
    assert "past the 10 % pause" in html
    assert "Healthy" in row(html, "domain") or "Too few sent" in row(html, "domain")
