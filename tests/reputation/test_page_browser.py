"""The admin reputation page in headless Chromium (Playwright, live server): charts, keyboard, phone width, resume.

Screenshots go to ``artifacts/screenshots/`` as the webmail's browser tests' do.
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from reputation.models import SendingHold
from reputation.services.holds import place_hold
from tests.campaigns.results_world import (  # noqa: F401 - fixtures
    make_campaign,
    marketer_fixture,
    shop_fixture,
)
from tests.factories import UserFactory
from tests.reputation.page_world import count
from tests.support import browser as webmail_browser
from tests.support.admin_browser import sign_in_to_the_admin

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

browser = webmail_browser.browser
page = webmail_browser.page
pytestmark = [*webmail_browser.BROWSER_MARKS, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def operator(db):
    return UserFactory(address="root@example.test", display_name="Operator", admin=True)


def test_an_admin_reads_the_figures_and_resumes_a_paused_domain_with_the_keyboard(page, operator):
    at = timezone.now() - timedelta(minutes=1)
    count("domain", "shop.example", at=at, delivered=880, bounced_hard=120, unknown_user=110, complained=2)
    count("domain", "news.example", at=at, delivered=2000, bounced_soft=20, deferred=40)
    count("provider", "gmail", at=at, delivered=1900, bounced_hard=90, complained=2)
    count("provider", "microsoft", at=at, delivered=980, bounced_hard=50, deferred=40)
    SendingHold.objects.create(
        kind="domain", key="shop.example", cause="guardrail",
        reason="Bounce rate 12.0 % over the last hour (120 of 1000), past the 10 % pause.",
        evidence={"bounce_rate": "12.0 %", "sent": 1000, "window": "hour"},
    )  # fmt: skip
    sign_in_to_the_admin(page, operator)

    page.click("#reputation-link a")
    page.wait_for_url(re.compile(r"/admin/reputation/reputationalert/overview/$"))
    first = page.locator("table.senders tbody tr").first
    expect(first).to_have_attribute("data-key", "shop.example")
    expect(first.locator(".bounce")).to_have_text("12.0\u00a0%")
    expect(first.locator(".closeness")).to_contain_text("120.0\u00a0%")
    assert page.locator("#domain-charts svg.line-chart").count() == 4
    assert page.locator("#provider-charts [data-rate=bounce_rate] line.guide-pause").count() == 1
    webmail_browser.shot(page, "reputation-page")

    # The window picker is plain links: reachable and followed with the keyboard.
    page.locator(".window-picker a", has_text="Last 7 days").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"window=week"))
    expect(page.locator(".window-picker a[aria-current=page]")).to_have_text("Last 7 days")

    # Resume: the note is required by the form itself, then the hold goes and the domain may send.
    page.locator("#holds textarea").focus()
    page.keyboard.type("The list was cleaned of dead addresses.")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"#holds$"))
    expect(page.locator(".messagelist")).to_contain_text("may send again")
    expect(page.locator("#holds")).to_contain_text("No sender is paused or suspended.")
    hold = SendingHold.objects.get(key="shop.example")
    assert (hold.is_open, hold.resolution_note) == (False, "The list was cleaned of dead addresses.")


def test_the_page_reads_at_phone_width_without_sideways_scrolling(page, operator):
    at = timezone.now() - timedelta(minutes=1)
    count("domain", "a-rather-long-sending-domain-name.example", at=at, delivered=300, bounced_hard=12, complained=1)
    count("provider", "yahoo", at=at, delivered=300, bounced_hard=12, complained=1)
    sign_in_to_the_admin(page, operator)
    page.set_viewport_size({"width": 390, "height": 844})

    page.goto(page.base + "/admin/reputation/reputationalert/overview/?window=hour")

    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    chart = page.locator("#domain-charts svg.line-chart").first.bounding_box()
    assert chart["width"] <= 390
    webmail_browser.shot(page, "reputation-page-phone")


def test_a_marketer_sees_why_their_campaign_stopped_on_its_results_page(page, marketer, shop):
    campaign = make_campaign(shop, ["ann@gmail.example"])
    count("campaign", str(campaign.pk), at=timezone.now() - timedelta(minutes=1), delivered=880, bounced_hard=120)
    place_hold(kind="campaign", key=campaign.pk, cause="guardrail", evidence={"bounce_rate": 0.12},
               reason="Bounce rate 12.0 % over the campaign so far (120 of 1000), past the 10 % pause.")  # fmt: skip
    webmail_browser.sign_in(page, marketer.primary_address)

    page.goto(f"{page.base}/marketing/campaigns/{campaign.pk}/results/")

    mine = page.locator("[data-sending-health] tr[data-health=campaign]")
    expect(mine).to_contain_text("12.0\u00a0%")
    expect(mine.locator("[data-standing]")).to_have_text("Sending stopped")
    expect(page.locator("[data-sending-health] [data-hold-reason]")).to_contain_text("past the 10 % pause")
    webmail_browser.shot(page, "campaign-sending-health")
