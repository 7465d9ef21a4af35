"""The whole of a campaign in headless Chromium, as the issue's "done when" reads: a marketer builds a segment,
schedules a campaign to it, watches it send with a live progress bar, pauses and resumes it, and reads its
results with charts. The pacer and the delivery engine run for real in the test's process, one step at a
time (a release window of one person; the broker is unreachable, so that the delivery tasks they dispatch
wait and each step is the test's), to a loopback SMTP server: the page follows them by polling."""

# ruff: noqa: F811 - the fixtures imported below are pytest fixtures, used as arguments

import re

import pytest

from campaigns.models import Campaign, Segment
from campaigns.services.contacts import create_contact
from campaigns.services.fanout import finish_done, release_due, start_due_campaigns
from delivery.services.engine import deliver_batch
from mailboxes.models import Recipient
from tests.campaigns.campaign_ui_world import alice, newsletter, workspace  # noqa: F401 - fixtures
from tests.support.broker import unreachable_broker
from tests.support.browser import BROWSER_MARKS, shot, sign_in

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = [*BROWSER_MARKS, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def people(workspace):
    """Three VIPs and one other contact, all on the loopback SMTP server's domain."""
    for address, vip in [("ann", "yes"), ("ben", "yes"), ("cy", "yes"), ("dee", "no")]:
        create_contact(
            workspace=workspace, address=f"{address}@remote.example", name=address.title(),
            attributes={"vip": vip}, consent_source="test",
        )  # fmt: skip


def tick() -> int:
    """One pacer tick, which releases (at most) one person, then a bulk worker's claim of what is due."""
    released = release_due()
    deliver_batch(queue=Recipient.Queue.BULK)
    return released


def test_segment_schedule_watch_pause_resume_and_read_the_results(
    page, alice, newsletter, people, remote_domain, smtp_server, settings
):
    settings.CAMPAIGN_RELEASE_WINDOW = 1
    with unreachable_broker():
        journey(page, newsletter, smtp_server)


def journey(page, newsletter, smtp_server):
    sign_in(page, "alice@shop.test")
    page.goto(page.base + "/marketing/segments/")
    page.click("text=New segment")
    page.fill("#id_name", "VIPs")
    page.click("text=Add a rule")
    rule = page.locator("[data-rule-row]").nth(0)
    rule.locator("[data-rule-field]").select_option("attribute")
    rule.locator("[data-rule-key]").fill("vip")
    rule.locator("[data-rule-op]").select_option("equals")
    rule.locator("[data-rule-value]").fill("yes")
    expect(page.locator("[data-count=sendable]")).to_have_text("3")  # the count follows the rule
    page.click("button:has-text('Create segment')")
    page.wait_for_url(re.compile(r"/marketing/segments/\d+/$"))
    vips = Segment.objects.get(name="VIPs")

    page.click("#sidebar a:has-text('Campaigns')")
    page.click("text=New campaign")
    page.fill("#id_name", "VIP preview")
    page.select_option("#id_template", str(newsletter.pk))
    page.select_option("#id_segment", str(vips.pk))
    expect(page.locator("[data-sendable]")).to_have_text("3")
    page.check("input[name=send_mode][value=now]")
    page.click("button:has-text('Save draft')")
    page.wait_for_url(re.compile(r"/marketing/campaigns/\d+/$"))
    expect(page.locator("[data-preflight-ok]")).to_be_visible()
    page.click("[data-action=schedule]")
    expect(page.locator(".campaign-meta [data-status]")).to_have_text("Scheduled")
    campaign = Campaign.objects.get(name="VIP preview")

    # The pacer starts it, and its next tick hands the first person to the outbox.
    assert start_due_campaigns() == [campaign.pk]
    assert tick() == 1
    expect(page.locator(".campaign-meta [data-status]")).to_have_text("Sending", timeout=15_000)
    progress = page.locator("[data-progress-text]")
    expect(progress).to_contain_text("1 of 3 sent", timeout=15_000)
    shot(page, "campaign-journey-sending")

    page.click("[data-action=pause]")
    expect(page.locator(".campaign-meta [data-status]")).to_have_text("Paused")
    assert tick() == 0  # nobody more is handed out while the campaign is paused
    assert len(smtp_server.messages) == 1

    page.click("[data-action=resume]")
    expect(page.locator(".campaign-meta [data-status]")).to_have_text("Sending")
    assert tick() == 1
    expect(progress).to_contain_text("2 of 3 sent", timeout=15_000)  # the bar moves as they go
    assert tick() == 1
    assert finish_done() == 1
    expect(page.locator(".campaign-meta [data-status]")).to_have_text("Sent", timeout=15_000)
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == [
        "ann@remote.example", "ben@remote.example", "cy@remote.example",
    ]  # fmt: skip  # everyone once, and not dee

    page.click("[data-results] a, a[data-results]")
    page.wait_for_url(re.compile(r"/marketing/campaigns/\d+/results/$"))
    expect(page.locator("[data-metric=sent]")).to_have_text("3")
    expect(page.locator("[data-metric=remaining]")).to_have_text("0")
    assert page.locator("svg.line-chart polyline").count() > 0  # the chart over time
    assert page.locator("figure.chart table, figure.chart + table, .chart-table").count() > 0  # and its table
    shot(page, "campaign-journey-results")
