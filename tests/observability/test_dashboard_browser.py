"""The admin operator dashboard in headless Chromium (Playwright, live server): real traffic, keyboard, phone width.

Screenshots go to ``artifacts/screenshots/`` as the webmail's browser tests' do.
"""

import re

import pytest

from tests.factories import UserFactory
from tests.observability.world import receive_some, send_some
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


def test_an_operator_reads_the_traffic_and_changes_the_window_with_the_keyboard(
    page, operator, alice, bob, remote_domain, smtp_server
):
    send_some(alice, smtp_server)
    receive_some()
    sign_in_to_the_admin(page, operator)

    page.click("#dashboard-link a")
    page.wait_for_url(re.compile(r"/admin/delivery/deliveryevent/dashboard/$"))
    expect(page.locator("[data-total=submitted] dd")).to_have_text("1")
    expect(page.locator("[data-total=attempted] dd")).to_have_text("4")
    expect(page.locator("[data-total=bounced] dd")).to_have_text("1")
    expect(page.locator("[data-total=spam] dd")).to_have_text("1 / 4")
    expect(page.locator(".queue-now").first).to_contain_text("1")
    assert page.locator("#charts svg.line-chart").count() == 8
    webmail_browser.shot(page, "operator-dashboard")

    # The window picker is plain links: reached and followed with the keyboard.
    page.locator(".window-picker a", has_text="Last hour").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"window=hour"))
    expect(page.locator(".window-picker a[aria-current=page]")).to_have_text("Last hour")
    # A chart's numbers open as a table from the keyboard too.
    page.locator("#chart-outcomes summary").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#chart-outcomes table")).to_be_visible()
    assert not page.problems


def test_the_dashboard_reads_at_phone_width_without_sideways_scrolling(
    page, operator, alice, bob, remote_domain, smtp_server
):
    send_some(alice, smtp_server)
    receive_some()
    sign_in_to_the_admin(page, operator)
    page.set_viewport_size({"width": 390, "height": 844})

    page.goto(page.base + "/admin/delivery/deliveryevent/dashboard/?window=hour")

    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    assert page.locator("#charts svg.line-chart").first.bounding_box()["width"] <= 390
    webmail_browser.shot(page, "operator-dashboard-phone")
