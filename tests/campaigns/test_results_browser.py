"""The results page in headless Chromium (Playwright, live server): the progress bar follows the sending, then stops.

Screenshots go to ``artifacts/screenshots/`` as the webmail's browser tests' do.
"""

import re

import pytest

from campaigns.models import Campaign
from delivery.services.events import record_delivery_event
from tests.campaigns.results_world import (  # noqa: F401 - fixtures
    make_campaign,
    marketer_fixture,
    recipient_of,
    shop_fixture,
)
from tests.support import browser as webmail_browser

playwright_sync = pytest.importorskip("playwright.sync_api")

browser = webmail_browser.browser
page = webmail_browser.page
pytestmark = [*webmail_browser.BROWSER_MARKS, pytest.mark.django_db(transaction=True)]


def test_the_progress_bar_follows_the_sending_and_the_page_settles_when_it_ends(page, marketer, shop):
    campaign = make_campaign(shop, ["ann@gmail.example", "bo@gmail.example", "cy@yahoo.example"])
    ann, bo = recipient_of(campaign, "ann@gmail.example"), recipient_of(campaign, "bo@gmail.example")
    record_delivery_event(recipient=ann, event_type="sent", transport="smtp")
    record_delivery_event(
        recipient=ann, event_type="clicked", transport="tracking", update_status=False,
        metadata={"machine": False, "unique": True, "url": "https://shop.example/sale"},
    )  # fmt: skip
    page.goto(page.base + "/signin/")
    page.fill("#id_username", marketer.primary_address)
    page.fill("#id_password", webmail_browser.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/mail/$"))

    page.goto(f"{page.base}/marketing/campaigns/{campaign.pk}/results/")
    bar = page.get_by_role("progressbar")
    playwright_sync.expect(bar).to_have_attribute("aria-valuenow", "1")
    assert page.locator("svg.line-chart polyline").count() == 5
    assert "https://shop.example/sale" in page.inner_text("#links-title + table")
    webmail_browser.shot(page, "campaign-results-sending")

    record_delivery_event(recipient=bo, event_type="bounced", transport="smtp", reject_reason="invalid")

    playwright_sync.expect(bar).to_have_attribute("aria-valuenow", "2")  # the next poll brings it
    playwright_sync.expect(page.locator("[data-metric=remaining]")).to_have_text("1")

    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENT)

    # The poll that sees the end reloads the page: final numbers, no more polling.
    playwright_sync.expect(page.locator("#campaign-progress")).not_to_have_attribute("hx-trigger", "every 2s")
    assert page.locator("[hx-trigger]").count() == 0
    webmail_browser.shot(page, "campaign-results-sent")
