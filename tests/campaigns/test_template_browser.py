"""The issue's "Done when" for templates, in headless Chromium: a marketer writes a template in two languages,
watches the live preview follow her typing, sends herself a test, saves version 2 and rolls back to version 1."""

# ruff: noqa: F811 - the fixtures imported below are pytest fixtures, used as arguments

import re

import pytest

from campaigns.models import Template
from mailboxes.models import Folder, MailboxItem
from tests.campaigns.template_fixtures import alice  # noqa: F401 - fixtures
from tests.support.browser import BROWSER_MARKS, shot, sign_in

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = [*BROWSER_MARKS, pytest.mark.django_db(transaction=True)]


def preview(page):
    return page.frame_locator("iframe.preview-frame")


def test_marketer_writes_a_template_in_two_languages_tests_it_and_rolls_back(page, alice):
    sign_in(page, "alice@shop.test")
    page.click("a:has-text('Marketing')")
    page.wait_for_url(re.compile(r"/marketing/templates/$"))
    page.click("text=New template")

    page.fill("#id_key", "order_receipt")
    page.fill("#id_name", "Order receipt")
    page.fill("#id_subject", "Your order {{ order_id }}")
    page.fill("#id_html", "<style>h1 { color: #0a7; }</style>\n<h1>Hello {{ name }}</h1>\n<p>Order {{ order_id }}</p>")
    page.click("[data-add-var]")
    row = page.locator("[data-var-row]").nth(1)
    row.locator("input[name=var_name]").fill("order_id")
    row.locator("input[name=var_example]").fill("A-1001")
    expect(preview(page).locator("p")).to_have_text("Order A-1001")
    expect(page.locator("[data-preview-subject]")).to_have_text("Your order A-1001")

    # The preview follows the typing, and a mistake is named next to its field.
    page.locator("#id_html").press("End")
    page.locator("#id_html").type("\n<p>{{ coupon }}</p>")
    expect(page.locator("#problems-html [data-variable=coupon]")).to_contain_text("line 4")
    page.fill("#id_html", "<style>h1 { color: #0a7; }</style>\n<h1>Hello {{ name }}</h1>\n<p>Order {{ order_id }}</p>")
    expect(page.locator("#problems-html li")).to_have_count(0)
    expect(preview(page).locator("h1")).to_have_text("Hello Ada")
    assert "color: #0a7" in (preview(page).locator("h1").get_attribute("style") or "")  # CSS inlined

    page.click("[data-preview-width=phone]")
    assert page.locator("iframe.preview-frame").bounding_box()["width"] == pytest.approx(375, abs=1)
    shot(page, "template-new")
    page.locator("#id_subject").press("Control+Enter")  # saves
    page.wait_for_url(re.compile(r"/marketing/templates/\d+/$"))
    expect(page.locator(".flash")).to_contain_text("version 1")
    default = Template.objects.get(key="order_receipt", locale="")
    assert [v["name"] for v in default.active_version.variables] == ["name", "order_id"]

    page.click("text=Add a variant: 简体中文 (zh-hans)")
    expect(page.locator("#id_subject")).to_have_value("Your order {{ order_id }}")
    page.fill("#id_subject", "您的订单 {{ order_id }}")
    page.fill("#id_html", "<h1>你好 {{ name }}</h1>\n<p>订单 {{ order_id }}</p>")
    expect(preview(page).locator("h1")).to_have_text("你好 Ada")
    page.click("button:has-text('Create template')")
    page.wait_for_url(re.compile(r"/marketing/templates/\d+/$"))
    chinese = Template.objects.get(key="order_receipt", locale="zh-hans")
    assert chinese.stream == default.stream and chinese.active_version.subject == "您的订单 {{ order_id }}"

    page.click(".variants a:has-text('Default')")
    page.click("[data-send-test]")
    expect(page.locator("#toasts .toast")).to_have_text("Test sent to alice@shop.test")
    item = MailboxItem.objects.get(user=alice, folder=Folder.INBOX)
    assert item.message.subject == "[Test] Your order A-1001"

    page.fill("#id_subject", "Receipt for order {{ order_id }}")
    page.fill("#id_comment", "clearer subject")
    expect(page.locator("[data-preview-subject]")).to_have_text("Receipt for order A-1001")
    page.locator("#id_comment").press("Control+Enter")
    expect(page.locator("tr[data-version='2'] [data-active]")).to_be_visible()
    default.refresh_from_db()
    assert default.active_version.number == 2

    page.click("tr[data-version='1'] a:has-text('Compare with active')")
    expect(page.locator("[data-part=subject] .diff-added")).to_have_text("+ Receipt for order {{ order_id }}")
    shot(page, "template-compare")
    page.click("button:has-text('Make version 1 active')")
    expect(page.locator("tr[data-version='1'] [data-active]")).to_be_visible()
    expect(page.locator("#id_subject")).to_have_value("Your order {{ order_id }}")
    default.refresh_from_db()
    assert default.active_version.number == 1 and default.versions.count() == 2

    page.click("tr[data-version='2'] a:has-text('Preview')")
    expect(page.locator("[data-preview-subject]")).to_have_text("Receipt for order A-1001")
    expect(preview(page).locator("h1")).to_have_text("Hello Ada")
    shot(page, "template-version")
    page.go_back()

    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing runs off a phone's screen
    shot(page, "template-editor-phone")
    page.goto(page.base + "/marketing/templates/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
