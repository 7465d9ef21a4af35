"""A campaign's outcomes count for the campaign, its sender, its sending domain and the bulk stream."""

import pytest
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.services import fanout
from campaigns.services.campaigns import schedule
from campaigns.services.fanout import release_due, start_due_campaigns
from reputation.figures import Figures, Window
from reputation.selectors import figures, subjects
from tests.campaigns.campaign_world import (
    add_contacts,
    deliver_bulk,
    new_campaign,
)


@pytest.fixture(autouse=True)
def _pacer_dispatch_recorded(monkeypatch):
    monkeypatch.setattr(fanout, "dispatch_due", lambda *, queue: None)  # the test runs the engine itself


def test_a_campaigns_outcomes_count_for_the_campaign(marketer, spring, everyone, shop, newsletter, smtp_server,
                                                    remote_domain):  # fmt: skip
    add_contacts(shop, newsletter, ["ann@remote.example", "ben@remote.example", "gone@remote.example"])
    smtp_server.handler.script("gone@remote.example", ["550 5.1.1 No such user"])
    campaign = new_campaign(marketer, spring, everyone)
    schedule(campaign=campaign, user=marketer)
    assert start_due_campaigns() == [campaign.pk]
    assert release_due() == 3

    deliver_bulk()

    campaign = Campaign.objects.get(pk=campaign.pk)
    got = figures("campaign", str(campaign.pk), Window.DAY, now=timezone.now())
    assert got == Figures(delivered=2, bounced_hard=1, unknown_user=1)
    assert figures("domain", "shop.example", Window.DAY, now=timezone.now()).sent == 3
    assert figures("stream", "bulk", Window.DAY, now=timezone.now()).sent == 3
    assert figures("user", str(marketer.pk), Window.DAY, now=timezone.now()).sent == 3
    assert subjects("campaign", Window.HOUR, now=timezone.now()) == {str(campaign.pk): 3}
