"""The list's toolbar shows its actions once a conversation is selected, and phones keep Compose at hand.

At desktop and phone widths in Chromium; without scripts the actions are always there.
"""

import pytest

from mailboxes.models import Folder, MailboxItem
from tests.factories import deliver, raw_email
from tests.support.browser import BROWSER_MARKS, DESKTOP, _open, assert_accessible, shot, sign_in

pytestmark = BROWSER_MARKS


def _mail(user, subject):
    return deliver(raw_email(subject=subject, sender="Bob <bob@remote.example>", to="alice@example.test"), user)[0]


def _width(page):
    return "phone" if page.is_phone else "desktop"


def test_actions_show_once_a_conversation_is_selected(any_page, alice):
    page = any_page
    item = _mail(alice, "Pick me")
    _mail(alice, "Leave me")
    sign_in(page, "alice@example.test")
    archive = page.locator(".toolbar button[value=archive]")
    assert page.locator("[data-select-all]").is_visible()
    assert not archive.is_visible()
    row_box = page.locator(f'li.thread[data-thread-id="{item.thread_id}"] input[name=thread]')
    row_box.check()
    archive.wait_for(state="visible")
    assert page.locator("#bulk-move").is_visible()
    shot(page, f"toolbar-selected-{_width(page)}")
    assert_accessible(page, "the list with a conversation selected")
    row_box.uncheck()
    archive.wait_for(state="hidden")
    page.locator("[data-select-all]").check()
    archive.wait_for(state="visible")
    page.locator("[data-select-all]").uncheck()
    archive.wait_for(state="hidden")

    row_box.check()
    archive.click()
    page.locator(".toast", has_text="Conversation archived").wait_for()
    page.locator(f'li.thread[data-thread-id="{item.thread_id}"]').wait_for(state="detached")
    archive.wait_for(state="hidden")  # the new rows are not selected
    assert MailboxItem.objects.get(pk=item.pk).folder == Folder.ARCHIVE


def test_x_selects_the_current_conversation(page, alice):
    _mail(alice, "Older")
    newer = _mail(alice, "Newer")
    sign_in(page, "alice@example.test")
    archive = page.locator(".toolbar button[value=archive]")
    page.keyboard.press("j")
    page.keyboard.press("x")
    archive.wait_for(state="visible")
    assert page.locator(f'li.thread[data-thread-id="{newer.thread_id}"] input[name=thread]').is_checked()
    page.keyboard.press("x")
    archive.wait_for(state="hidden")
    page.keyboard.press("?")
    page.locator("#shortcuts kbd", has_text="x").wait_for()


def test_compose_floats_over_the_list_on_phones_only(any_page, alice):
    page = any_page
    _mail(alice, "Something to read")
    sign_in(page, "alice@example.test")
    fab = page.locator("a.compose-fab")
    if not page.is_phone:
        assert not fab.is_visible()  # the sidebar's Compose is on screen
        return
    fab.wait_for(state="visible")
    shot(page, "compose-fab-phone")
    fab.click()
    page.wait_for_url("**/mail/compose/")
    page.locator("[data-compose]").wait_for()


@pytest.fixture
def no_script_page(browser, live_server):
    context, page = _open(browser, live_server, {**DESKTOP, "java_script_enabled": False})
    yield page
    context.close()


def test_without_scripts_the_actions_are_always_there(no_script_page, alice):
    page = no_script_page
    item = _mail(alice, "No scripts")
    sign_in(page, "alice@example.test")
    archive = page.locator(".toolbar button[value=archive]")
    assert archive.is_visible()
    page.locator(f'li.thread[data-thread-id="{item.thread_id}"] input[name=thread]').check()
    archive.click()
    page.wait_for_url("**/mail/")
    assert MailboxItem.objects.get(pk=item.pk).folder == Folder.ARCHIVE


CONTRAST = """(button) => {
  // WCAG's relative luminance and contrast ratio, of the icon's colour on the row it is drawn over.
  const rgb = (value) => value.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = (c) => { const [r, g, b] = c.map(channel); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  let node = button, background = "rgba(0, 0, 0, 0)";
  while (node && /rgba\\(0, 0, 0, 0\\)|transparent/.test(background)) {
    background = getComputedStyle(node).backgroundColor;
    node = node.parentElement;
  }
  const [a, b] = [lum(rgb(getComputedStyle(button).color)), lum(rgb(background))];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def test_row_action_icons_stand_out_from_the_row(any_page, alice):
    """Icons are not text, so axe does not check them: WCAG asks 3:1 for the parts of controls."""
    page = any_page
    item = _mail(alice, "Icons")
    sign_in(page, "alice@example.test")
    row = page.locator(f'li.thread[data-thread-id="{item.thread_id}"]')
    if not page.is_phone:
        row.hover()  # desktop: the actions show over the time while the pointer is on the row
    archive = row.locator('[data-row-action="archive"]')
    archive.wait_for(state="visible")
    page.wait_for_function(
        "b => getComputedStyle(b.closest('.row-actions')).opacity === '1'", arg=archive.element_handle()
    )
    assert archive.evaluate(CONTRAST) >= 3


def test_a_messages_other_actions_are_in_its_more_menu(any_page, alice):
    page = any_page
    item = _mail(alice, "Menu please")
    sign_in(page, "alice@example.test")
    page.goto(page.base + f"/mail/t/{item.thread_id}/")
    message = page.locator("section.message").last
    message.get_by_role("link", name="Reply", exact=True).wait_for()
    mark_unread = message.locator('.message-more button[value="unread"]')
    assert not mark_unread.is_visible()
    message.locator(".message-more > summary").click()
    mark_unread.wait_for(state="visible")
    for name in ("Show original", "Download message"):
        assert message.get_by_role("link", name=name).is_visible()
    assert message.get_by_role("button", name="Block sender").is_visible()
    box = message.locator(".message-more-items").bounding_box()
    viewport = page.viewport_size
    assert box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= viewport["width"]  # on screen
    shot(page, f"message-more-{_width(page)}")
    assert_accessible(page, "a message with its More menu open")
    page.keyboard.press("Escape")
    mark_unread.wait_for(state="hidden")
    message.locator(".message-more > summary").click()
    mark_unread.click()
    page.locator(".toast", has_text="Message marked as unread").wait_for()
    page.locator(f'li.thread.unread[data-thread-id="{item.thread_id}"]').wait_for()  # back in its list, unread
    assert not MailboxItem.objects.get(pk=item.pk).is_read
