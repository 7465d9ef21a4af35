"""The list in the browser, at desktop and phone widths: dates, label menus, General settings, the
reading pane and compact density."""

import re

import pytest

from accounts.models import Preferences
from accounts.services import update_preferences
from mailboxes.models import Label
from mailboxes.services import add_labels, create_label
from tests.factories import deliver, raw_email
from tests.support.browser import BROWSER_MARKS, DESKTOP, _open, assert_accessible, shot, sign_in

pytestmark = BROWSER_MARKS


def width(page) -> str:
    return "phone" if page.is_phone else "desktop"


def open_sidebar(page):
    if page.is_phone:
        page.click("[data-menu-toggle]")
        page.wait_for_selector("#sidebar", state="visible")


@pytest.fixture
def three_threads(alice):
    items = []
    for n, subject in enumerate(["First news", "Second news", "Third news"]):
        raw = raw_email(subject=subject, sender=f"Sender {n} <s{n}@remote.example>", to="alice@example.test",
                        body=f"Body of the {subject.lower()}.")  # fmt: skip
        items += deliver(raw, alice)
    return items


def test_list_dates_have_the_full_date_on_hover(any_page, alice, three_threads):
    sign_in(any_page, alice.email)
    time = any_page.locator("li.thread time").first
    assert re.fullmatch(r"\d\d:\d\d", time.inner_text())  # delivered today: the time
    assert re.search(r"\d{4}, \d\d:\d\d", time.get_attribute("title"))
    assert time.get_attribute("datetime")


def test_rename_and_recolour_a_label_from_the_sidebar(any_page, alice, three_threads):
    work = create_label(user=alice, name="Work")
    add_labels(user=alice, item_ids=[three_threads[0].pk], label_ids=[work.pk])
    sign_in(any_page, alice.email)
    open_sidebar(any_page)
    any_page.click("summary[aria-label='Options for the label “Work”']")
    assert_accessible(any_page, "label menu open")
    any_page.click("text=Rename or change colour")
    any_page.wait_for_selector("#label-form")
    shot(any_page, f"label-edit-{width(any_page)}")
    assert_accessible(any_page, "label edit page")
    any_page.fill("#label-form-name", "Office")
    any_page.check("input[name=color][value='#15803d']")
    any_page.click("#label-form button[type=submit]")
    any_page.wait_for_selector("h1#list-title:has-text('Office')")
    work.refresh_from_db()
    assert (work.name, work.color) == ("Office", "#15803d")
    chip = any_page.locator("li.thread .label-chip", has_text="Office")
    assert chip.evaluate("el => getComputedStyle(el).color") == "rgb(21, 128, 61)"
    assert_accessible(any_page, "label page with a green chip")


def test_rename_from_the_label_page_refuses_a_duplicate(any_page, alice, three_threads):
    create_label(user=alice, name="Home")
    work = create_label(user=alice, name="Work")
    sign_in(any_page, alice.email)
    any_page.goto(any_page.base + f"/mail/label/{work.pk}/")
    any_page.click("details[data-label-edit] summary")
    shot(any_page, f"label-page-edit-{width(any_page)}")
    assert_accessible(any_page, "label page, edit open")
    any_page.fill("#label-header-form-name", "HOME")
    any_page.click("#label-header-form button[type=submit]")
    alert = any_page.wait_for_selector("[role=alert]")
    assert "already have a label" in alert.inner_text()
    assert any_page.get_attribute("#label-form-name", "aria-invalid") == "true"
    assert_accessible(any_page, "label edit error")
    work.refresh_from_db()
    assert work.name == "Work"


def test_delete_a_label_from_the_sidebar_menu(any_page, alice, three_threads):
    work = create_label(user=alice, name="Work")
    sign_in(any_page, alice.email)
    open_sidebar(any_page)
    any_page.click("summary[aria-label='Options for the label “Work”']")
    any_page.once("dialog", lambda dialog: dialog.accept())
    any_page.click(".label-menu-items button:has-text('Delete label')")
    any_page.wait_for_selector(".flash li:has-text('deleted')")
    assert not Label.objects.filter(pk=work.pk).exists()


def test_general_settings(any_page, alice):
    sign_in(any_page, alice.email)
    any_page.goto(any_page.base + "/settings/general/")
    # The browser context runs in the server's zone unless told: pick one the test can check.
    detected = any_page.evaluate("() => Intl.DateTimeFormat().resolvedOptions().timeZone")
    shot(any_page, f"settings-general-{width(any_page)}")
    assert_accessible(any_page, "general settings")
    if detected and detected != "UTC":
        any_page.wait_for_selector("[data-detected-zone-note]:not([hidden])")
    any_page.select_option("#id_time_zone", "Asia/Shanghai")
    any_page.check("#id_density_1")
    any_page.check("#id_reading_pane_1")
    any_page.click("button:has-text('Save changes')")
    any_page.wait_for_selector(".flash li:has-text('Settings saved.')")
    assert_accessible(any_page, "general settings saved")
    saved = Preferences.objects.get(user=alice)
    assert (saved.time_zone, saved.density, saved.reading_pane) == ("Asia/Shanghai", "compact", "right")
    assert "density-compact" in any_page.get_attribute("body", "class")
    # Language: the page comes back in Chinese, and stays so on the next page.
    any_page.select_option("#id_language", "zh-hans")
    any_page.click("form[data-general-settings] button[type=submit]")
    any_page.wait_for_selector(".flash li:has-text('设置已保存。')")
    assert any_page.get_attribute("html", "lang") == "zh-hans"
    assert_accessible(any_page, "general settings in Chinese")
    any_page.goto(any_page.base + "/mail/")
    assert any_page.get_attribute("html", "lang") == "zh-hans"
    # The header's menu switches back, and the preference follows.
    any_page.select_option("#language", "en")
    any_page.wait_for_function("() => document.documentElement.lang === 'en'")
    assert Preferences.objects.get(user=alice).language == "en"


def test_detected_time_zone_is_offered(browser, live_server, alice):
    context, page = _open(browser, live_server, {**DESKTOP, "timezone_id": "Pacific/Auckland"})
    try:
        sign_in(page, alice.email)
        page.goto(page.base + "/settings/general/")
        page.wait_for_selector("[data-detected-zone-note]:not([hidden])")
        assert page.inner_text("[data-detected-zone]") == "Pacific/Auckland"
        page.click("[data-use-detected-zone]")
        assert page.input_value("#id_time_zone") == "Pacific/Auckland"
        page.click("button:has-text('Save changes')")
        page.wait_for_selector(".flash li")
        assert Preferences.objects.get(user=alice).time_zone == "Pacific/Auckland"
    finally:
        context.close()
    assert not page.problems, page.problems


def test_reading_pane_opens_conversations_beside_the_list(any_page, alice, three_threads):
    update_preferences(user=alice, reading_pane="right", density="compact")
    sign_in(any_page, alice.email)
    newest = any_page.locator("li.thread").first
    subject = newest.locator(".subject").inner_text()
    if any_page.is_phone:
        # No room for a pane: the conversation is its own page.
        assert not any_page.locator("#reading-pane").is_visible()
        newest.locator("a.thread-link").click()
        any_page.wait_for_url(re.compile(r"/mail/t/\d+/"))
        any_page.wait_for_selector("article.conversation")
        assert any_page.locator("#conversation-list").count() == 0
        return
    shot(any_page, "reading-pane-empty-desktop")
    assert_accessible(any_page, "reading pane, empty")
    newest.locator("a.thread-link").click()
    any_page.wait_for_selector(f"#reading-pane article.conversation h1:has-text('{subject}')")
    assert re.search(r"/mail/t/\d+/", any_page.url)
    assert any_page.locator("#conversation-list").is_visible()  # the list stays
    assert any_page.evaluate("document.activeElement.id") == "thread-subject"  # focus in the pane
    assert "unread" not in newest.get_attribute("class")
    shot(any_page, "reading-pane-desktop")
    assert_accessible(any_page, "reading pane, open")
    # j/k walk the list and the pane follows; o opens the current one (focus goes to it).
    any_page.keyboard.press("Escape")
    any_page.locator("#conversation-list h1").click()
    any_page.keyboard.press("j")
    second = any_page.locator("li.thread").nth(1).locator(".subject").inner_text()
    any_page.wait_for_selector(f"#reading-pane h1:has-text('{second}')")
    assert "current" in any_page.locator("li.thread").nth(1).get_attribute("class")
    any_page.keyboard.press("k")
    any_page.wait_for_selector(f"#reading-pane h1:has-text('{subject}')")
    any_page.keyboard.press("j")
    any_page.wait_for_selector(f"#reading-pane h1:has-text('{second}')")
    any_page.keyboard.press("o")
    any_page.wait_for_function("() => document.activeElement.id === 'thread-subject'")
    # j/k replace the pane's history step: Back returns to the list, Forward opens the last one again.
    any_page.go_back()
    any_page.wait_for_selector("#reading-pane .reading-pane-empty")
    assert any_page.url.endswith("/mail/")
    assert any_page.locator("li.thread.current").count() == 0
    any_page.go_forward()
    any_page.wait_for_selector(f"#reading-pane h1:has-text('{second}')")
    # A reload of a conversation's address shows it as its own page.
    any_page.reload()
    any_page.wait_for_selector("article.conversation")
    assert any_page.locator("#reading-pane").count() == 0


def test_enter_on_a_row_opens_it_in_the_pane(page, alice, three_threads):
    update_preferences(user=alice, reading_pane="right")
    sign_in(page, alice.email)
    page.locator("#conversation-list h1").click()
    page.keyboard.press("j")
    page.keyboard.press("j")
    second = page.locator("li.thread").nth(1).locator(".subject").inner_text()
    page.wait_for_selector(f"#reading-pane h1:has-text('{second}')")
    page.locator("li.thread").nth(2).locator("a.thread-link").focus()
    third = page.locator("li.thread").nth(2).locator(".subject").inner_text()
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#reading-pane h1:has-text('{third}')")
    assert page.url.endswith(f"/mail/t/{three_threads[0].thread_id}/?view=inbox")


def test_compact_density_makes_rows_shorter(any_page, alice, three_threads):
    sign_in(any_page, alice.email)
    roomy = any_page.locator("li.thread").first.bounding_box()["height"]
    update_preferences(user=alice, density="compact")
    any_page.reload()
    compact = any_page.locator("li.thread").first.bounding_box()["height"]
    assert compact < roomy
    shot(any_page, f"inbox-compact-{width(any_page)}")
    assert_accessible(any_page, "compact inbox")
