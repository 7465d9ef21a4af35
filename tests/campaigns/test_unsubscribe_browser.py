"""The preference page and the suppression page in headless Chromium, at phone width (Playwright, live server).

Screenshots go to ``artifacts/screenshots/`` as the webmail's browser tests' do.
"""

import re

import pytest

from campaigns.unsubscribe import make_token
from delivery.models import Suppression
from delivery.services import suppress_address
from tests.campaigns.unsubscribe_world import (  # noqa: F401 - fixtures
    READER,
    marketer_fixture,
    newsletter_fixture,
    offers_fixture,
    reader_fixture,
    shop_fixture,
)
from tests.support import browser as webmail_browser

playwright_sync = pytest.importorskip("playwright.sync_api")

PHONE = {"width": 390, "height": 844}
browser = webmail_browser.browser
pytestmark = [*webmail_browser.BROWSER_MARKS, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(viewport=PHONE, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(60000)
    problems = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.base = live_server.url
    yield page
    context.close()
    assert not problems, problems


def fits_the_screen(page, name: str) -> bool:
    webmail_browser.shot(page, name)
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_reader_leaves_the_list_on_a_phone_then_resubscribes(phone, shop, newsletter, reader):
    token = make_token(domain_id=shop.pk, address=READER, contact_list_id=newsletter.pk)
    phone.goto(f"{phone.base}/u/{token}/")
    assert fits_the_screen(phone, "unsubscribe-preferences-phone")

    phone.click("text=Unsubscribe from “Newsletter”")

    phone.wait_for_selector("[data-done=list]")
    assert "You have left the list “Newsletter”." in phone.inner_text("main")
    assert Suppression.objects.get().scope == Suppression.Scope.LIST
    phone.click("text=Resubscribe")
    phone.wait_for_selector("[data-done=resubscribe]")
    assert not Suppression.objects.exists()


def test_a_marketer_searches_the_suppression_list_on_a_phone(phone, marketer, shop):
    for n in range(3):
        suppress_address(address=f"gone{n}@remote.example", reason="manual", scope="stream", domain=shop, stream="bulk")
    suppress_address(address="left@remote.example", reason="unsubscribe", scope="stream", domain=shop, stream="bulk")
    phone.goto(phone.base + "/signin/")
    phone.fill("#id_username", marketer.primary_address)
    phone.fill("#id_password", webmail_browser.PASSWORD)
    phone.click("button[type=submit]")
    phone.wait_for_url(re.compile(r"/mail/$"))

    phone.goto(phone.base + "/marketing/suppressions/")
    assert phone.locator("[data-suppression]").count() == 4
    phone.fill("#suppression-q", "left@")  # htmx replaces the rows as the marketer types

    playwright_sync.expect(phone.locator("[data-suppression]")).to_have_count(1)
    assert "left@remote.example" in phone.inner_text("#suppression-rows")
    assert phone.locator("text=Remove").count() == 0  # a marketer removes nothing
    assert fits_the_screen(phone, "suppressions-phone")
