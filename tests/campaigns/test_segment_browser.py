"""A marketer builds a segment in headless Chromium: the count follows each rule as it is added, changed
and removed, with the keyboard as well as the mouse, and the saved segment's count is on the list."""

import re

import pytest

from campaigns.models import Contact, ListMembership, Segment
from campaigns.services.contacts import create_list
from delivery.models import Suppression
from tests.campaigns import contacts_support as support
from tests.support import browser as webmail_browser

alice, workspace = support.alice, support.workspace
browser = webmail_browser.browser
pytestmark = webmail_browser.BROWSER_MARKS


@pytest.fixture
def desk(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(60000)
    problems = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.base = live_server.url
    yield page
    context.close()
    assert not problems, problems


@pytest.fixture
def contacts(workspace):
    """Ten contacts on "News": four pros (one suppressed), and two of the pros are over 40."""
    news = create_list(workspace=workspace, name="News")
    for n in range(10):
        plan = "pro" if n < 4 else "free"
        contact = Contact.objects.create(
            domain=workspace, address=f"p{n}@example.org", attributes={"plan": plan, "age": 30 + n * 5}
        )
        ListMembership.objects.create(contact_list=news, contact=contact)
    Contact.objects.create(domain=workspace, address="elsewhere@example.org", attributes={"plan": "pro"})
    Suppression.objects.create(address="p0@example.org", scope="global", reason="hard_bounce")
    return news


def counts(page) -> tuple[str, str, str]:
    return tuple(page.inner_text(f"[data-count={part}]") for part in ("audience", "suppressed", "sendable"))


def wait_for_counts(page, expected: tuple[str, str, str]):
    audience, suppressed, sendable = expected
    page.wait_for_function(
        "([a, s, w]) => { const t = p => (document.querySelector(`[data-count=${p}]`) || {}).textContent;"
        " return t('audience') === a && t('suppressed') === s && t('sendable') === w; }",
        arg=[audience, suppressed, sendable],
    )


def test_a_marketer_builds_a_segment_and_sees_the_count_change_as_rules_are_added(desk, alice, contacts):
    support_sign_in(desk)
    desk.goto(desk.base + "/marketing/segments/")
    desk.click("text=New segment")
    desk.wait_for_url(re.compile(r"/marketing/segments/new/$"))
    assert counts(desk) == ("11", "1", "10")

    desk.fill("#id_name", "Older pros")
    desk.locator("#id_lists").get_by_label("News").check()
    wait_for_counts(desk, ("10", "1", "9"))

    desk.click("text=Add a rule")
    row = desk.locator("[data-rule-row]").nth(0)
    row.locator("[data-rule-field]").select_option("attribute")
    assert row.locator("[data-rule-key]").is_visible()
    row.locator("[data-rule-key]").fill("plan")
    row.locator("[data-rule-op]").select_option("equals")
    row.locator("[data-rule-value]").fill("pro")
    wait_for_counts(desk, ("4", "1", "3"))
    assert "p0@example.org" in desk.inner_text("#segment-count")  # the sample marks the suppressed one
    assert "suppressed" in desk.locator(".segment-sample li", has_text="p0@example.org").inner_text()

    # A second rule; the new row's field has the focus, for the keyboard.
    desk.click("text=Add a rule")
    assert desk.evaluate("document.activeElement.matches('[data-rule-row]:nth-child(2) [data-rule-field]')")
    second = desk.locator("[data-rule-row]").nth(1)
    second.locator("[data-rule-field]").select_option("attribute")
    second.locator("[data-rule-key]").fill("age")
    second.locator("[data-rule-op]").select_option("gt")
    assert not second.locator("[data-rule-op] option[value=opened_within]").is_enabled()  # not for attributes
    second.locator("[data-rule-value]").fill("40")
    wait_for_counts(desk, ("1", "0", "1"))  # p3, 45: the only pro over 40
    webmail_browser.shot(desk, "segment-editor")

    # Any rule instead of all: pros or over 40.
    desk.select_option("#id_match", "any")
    wait_for_counts(desk, ("10", "1", "9"))
    desk.select_option("#id_match", "all")
    wait_for_counts(desk, ("1", "0", "1"))

    # A value that is not a number says so instead of counting.
    second.locator("[data-rule-value]").fill("forty")
    desk.wait_for_selector("#segment-count .problem:has-text('A number.')")
    second.locator("[data-rule-value]").fill("35")
    wait_for_counts(desk, ("2", "0", "2"))

    # Removing the first rule widens it again.
    desk.locator("[data-rule-row]").nth(0).locator("[data-remove-rule]").click()
    wait_for_counts(desk, ("8", "0", "8"))

    desk.click("button:has-text('Create segment')")
    desk.wait_for_url(re.compile(r"/marketing/segments/\d+/$"))
    saved = Segment.objects.get(name="Older pros")
    assert saved.definition["rules"] == [{"field": "attributes.age", "op": "gt", "value": 35}]
    assert desk.locator("[data-rule-row]").count() == 1 and counts(desk) == ("8", "0", "8")

    desk.click("#sidebar >> text=Segments")
    desk.wait_for_selector("[data-segment-count]:has-text('8')")
    assert "Older pros" in desk.inner_text("main")


def support_sign_in(page):
    page.goto(page.base + "/signin/")
    page.fill("#id_username", "alice@shop.test")
    page.fill("#id_password", webmail_browser.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/mail/$"))
