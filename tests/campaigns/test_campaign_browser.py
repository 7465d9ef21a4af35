"""In headless Chromium: a marketer creates a campaign, reads what the check before scheduling finds, follows the
links to fix each problem (the segment's live count follows her choice), schedules it on her own clock, watches
it start, pauses, resumes and cancels it."""

# ruff: noqa: F811 - the fixtures imported below are pytest fixtures, used as arguments

import datetime as dt
import re

import pytest
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.services.fanout import start_due_campaigns
from tests.campaigns.campaign_ui_world import alice, customers, newsletter, workspace  # noqa: F401 - fixtures
from tests.support.browser import BROWSER_MARKS, shot, sign_in

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = [*BROWSER_MARKS, pytest.mark.django_db(transaction=True)]


def test_marketer_creates_fixes_schedules_pauses_resumes_and_cancels_a_campaign(page, alice, newsletter, customers):
    next_year = timezone.now().year + 1
    sign_in(page, "alice@shop.test")
    page.click("a:has-text('Marketing')")
    page.click("#sidebar a:has-text('Campaigns')")
    page.wait_for_url(re.compile(r"/marketing/campaigns/$"))
    page.click("text=New campaign")

    browser_zone = page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
    expect(page.locator("#id_time_zone")).to_have_value(browser_zone)  # a new campaign starts on her clock
    page.fill("#id_name", "Christmas news")
    page.select_option("#id_time_zone", "Asia/Shanghai")
    page.fill("#id_send_at", f"{next_year}-12-24T09:00")
    expect(page.locator("input[name=send_mode][value=later]")).to_be_checked()  # typing a time chose "at"
    page.click("button:has-text('Save draft')")
    page.wait_for_url(re.compile(r"/marketing/campaigns/\d+/$"))

    problems = page.locator(".preflight-problems li")
    expect(problems).to_have_count(2)
    expect(page.locator("[data-field=template]")).to_contain_text("Choose a template.")
    expect(page.locator("[data-field=segment]")).to_contain_text("Choose a segment.")
    expect(page.locator("[data-action=schedule]")).to_be_visible()
    shot(page, "campaign-preflight")

    page.click("[data-field=template] a:has-text('Fix')")
    page.wait_for_url(re.compile(r"/edit/#id_template$"))
    expect(page.locator("#id_send_at")).to_have_value(f"{next_year}-12-24T09:00")  # shown back on her clock
    page.select_option("#id_template", str(newsletter.pk))
    page.select_option("#id_segment", str(customers.pk))
    expect(page.locator("[data-sendable]")).to_have_text("2")  # three in the segment, one suppressed
    expect(page.locator("#segment-counts")).to_contain_text("1 suppressed")
    shot(page, "campaign-form")
    page.click("button:has-text('Save')")

    expect(page.locator("[data-preflight-ok]")).to_be_visible()
    page.locator("[data-action=schedule]").focus()
    page.keyboard.press("Enter")  # the buttons work from the keyboard
    expect(page.locator(".flash")).to_contain_text("Scheduled")
    expect(page.locator(".campaign-meta [data-status]")).to_have_text("Scheduled")
    expect(page.locator("[data-send-at]")).to_have_text(f"{next_year}-12-24 09:00")
    expect(page.locator("[data-action=unschedule]")).to_be_visible()
    expect(page.locator("[data-action=schedule]")).to_have_count(0)
    campaign = Campaign.objects.get()
    assert campaign.status == "scheduled"
    assert campaign.send_at == dt.datetime(next_year, 12, 24, 1, 0, tzinfo=dt.UTC)
    shot(page, "campaign-scheduled")

    # The pacer starts it at its time: the page, polling its progress, shows the new status and buttons.
    assert start_due_campaigns(now=campaign.send_at) == [campaign.pk]
    expect(page.locator(".campaign-meta [data-status]")).to_have_text("Sending", timeout=15_000)
    expect(page.locator("[data-progress]")).to_be_visible()
    page.click("[data-action=pause]")
    expect(page.locator(".campaign-meta [data-status]")).to_have_text("Paused")
    page.click("[data-action=resume]")
    expect(page.locator(".campaign-meta [data-status]")).to_have_text("Sending")
    page.once("dialog", lambda dialog: dialog.accept())  # "Cancel this campaign?"
    page.click("[data-action=cancel]")
    expect(page.locator(".campaign-meta [data-status]")).to_have_text("Cancelled")
    expect(page.locator("[data-results]")).to_be_visible()
    campaign.refresh_from_db()
    assert campaign.status == "cancelled" and campaign.started_at is not None

    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing runs off a phone's screen
    page.goto(page.base + "/marketing/campaigns/")
    expect(page.locator(f"tr[data-campaign='{campaign.pk}'] [data-status]")).to_have_text("Cancelled")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
