"""Row actions, the undo toast, z, stars, snooze and Empty Trash in Chromium, at desktop and phone widths."""

import re

import pytest

from mailboxes import services
from mailboxes.models import Folder, MailboxItem
from tests.factories import deliver, raw_email
from tests.support.browser import BROWSER_MARKS, assert_accessible, shot, sign_in

pytestmark = [*BROWSER_MARKS, pytest.mark.django_db(transaction=True)]


def _mail(user, subject):
    return deliver(raw_email(subject=subject, sender="Bob <bob@remote.example>", to="alice@example.test"), user)[0]


def _row(page, item):
    return page.locator(f'li.thread[data-thread-id="{item.thread_id}"]')


def _row_button(page, item, name):
    row = _row(page, item)
    if not page.is_phone:
        row.hover()  # on a desktop the row's actions show on hover (or focus)
    return row.locator(f'[data-row-action="{name}"]')


def _folder(item):
    return MailboxItem.objects.get(pk=item.pk).folder


def test_archive_from_the_row_then_undo(any_page, alice):
    page = any_page
    item = _mail(alice, "Row archive")
    _mail(alice, "Stays")
    sign_in(page, "alice@example.test")
    page.evaluate("window.notReloaded = true")
    _row_button(page, item, "archive").click()
    toast = page.locator(".toast", has_text="Conversation archived")
    toast.wait_for()
    _row(page, item).wait_for(state="detached")
    assert _folder(item) == Folder.ARCHIVE
    toast.get_by_role("button", name="Undo").click()
    _row(page, item).wait_for()
    page.locator(".toast", has_text="Undone.").wait_for()
    assert _folder(item) == Folder.INBOX
    assert page.evaluate("window.notReloaded === true")


def test_the_list_with_the_undo_toast_is_accessible(any_page, alice):
    # axe and screenshots last: they leave empty style attributes behind, which htmx's settling
    # of a later swap would copy (a CSP violation that only the test tools cause).
    page = any_page
    item = _mail(alice, "Row trash")
    sign_in(page, "alice@example.test")
    _row_button(page, item, "trash").click()
    page.locator(".toast", has_text="Conversation moved to Trash").get_by_role("button", name="Undo").wait_for()
    _row(page, item).wait_for(state="detached")
    assert_accessible(page, "inbox with the undo toast")
    shot(page, f"undo-toast-{'phone' if page.is_phone else 'desktop'}")


def test_archive_with_e_then_undo_with_z(any_page, alice):
    page = any_page
    item = _mail(alice, "Keyboard archive")
    sign_in(page, "alice@example.test")
    page.keyboard.press("j")
    page.keyboard.press("e")
    page.locator(".toast", has_text="Conversation archived").wait_for()
    _row(page, item).wait_for(state="detached")
    assert _folder(item) == Folder.ARCHIVE
    page.keyboard.press("z")
    _row(page, item).wait_for()
    page.locator(".toast", has_text="Undone.").wait_for()
    assert _folder(item) == Folder.INBOX


def test_archive_from_the_conversation_page_offers_undo_on_the_list(any_page, alice):
    page = any_page
    item = _mail(alice, "Open and archive")
    sign_in(page, "alice@example.test")
    page.click(f"#subject-{item.thread_id}")
    page.wait_for_selector("article.conversation")
    page.keyboard.press("e")
    page.wait_for_url(re.compile(r"/mail/$"))
    toast = page.locator(".toast", has_text="Conversation archived")
    toast.get_by_role("button", name="Undo").click()
    _row(page, item).wait_for()
    assert _folder(item) == Folder.INBOX


def test_star_toggles_without_reload(any_page, alice):
    page = any_page
    item = _mail(alice, "Star me")
    sign_in(page, "alice@example.test")
    page.evaluate("window.notReloaded = true")
    star = _row(page, item).locator("button.star")
    assert star.get_attribute("aria-pressed") == "false"
    star.click()
    page.locator(".toast", has_text="Conversation starred").wait_for()
    page.wait_for_selector(f'li.thread[data-thread-id="{item.thread_id}"] button.star[aria-pressed="true"]')
    assert MailboxItem.objects.get(pk=item.pk).is_starred
    star.click()
    page.wait_for_selector(f'li.thread[data-thread-id="{item.thread_id}"] button.star[aria-pressed="false"]')
    page.locator(".toast", has_text="Star removed").wait_for()
    assert not MailboxItem.objects.get(pk=item.pk).is_starred
    assert page.evaluate("window.notReloaded === true")


def test_mark_read_from_the_row(any_page, alice):
    page = any_page
    item = _mail(alice, "Read me")
    sign_in(page, "alice@example.test")
    _row_button(page, item, "read").click()
    page.wait_for_selector(f'li.thread[data-thread-id="{item.thread_id}"]:not(.unread)')
    assert MailboxItem.objects.get(pk=item.pk).is_read


def test_snooze_from_the_row(any_page, alice):
    page = any_page
    item = _mail(alice, "Snooze me")
    sign_in(page, "alice@example.test")
    row = _row(page, item)
    if not page.is_phone:
        row.hover()
    row.locator("[data-snooze-open]").click()
    dialog = page.locator("#snooze-dialog")
    dialog.wait_for()
    dialog.locator('[data-snooze-choice="tomorrow"]').click()
    page.locator(".toast", has_text="Conversation snoozed until").wait_for()
    row.wait_for(state="detached")
    assert MailboxItem.objects.get(pk=item.pk).snoozed_until is not None
    page.goto(page.base + "/mail/f/snoozed/")
    _row(page, item).locator(".snoozed-until").wait_for()
    assert_accessible(page, "the Snoozed list")
    shot(page, f"snoozed-{'phone' if page.is_phone else 'desktop'}")


def test_snooze_with_b_in_the_list(page, alice):
    item = _mail(alice, "Snooze by key")
    sign_in(page, "alice@example.test")
    page.keyboard.press("j")
    page.keyboard.press("b")
    page.locator("#snooze-dialog").wait_for()
    page.keyboard.press("Enter")  # the first choice has the focus: later today
    _row(page, item).wait_for(state="detached")
    assert MailboxItem.objects.get(pk=item.pk).snoozed_until is not None


def test_empty_trash(any_page, alice):
    page = any_page
    items = [_mail(alice, f"Junk {n}") for n in range(3)]
    services.trash_items(user=alice, item_ids=[i.pk for i in items])
    sign_in(page, "alice@example.test")
    page.goto(page.base + "/mail/f/trash/")
    page.get_by_text("Empty Trash").click()
    page.get_by_text("This cannot be undone.").wait_for()
    assert_accessible(page, "Trash with the Empty confirmation")
    shot(page, f"empty-trash-{'phone' if page.is_phone else 'desktop'}")
    page.click("[data-empty-confirm]")
    page.get_by_text("3 messages deleted forever.").wait_for()
    page.get_by_text("No conversations here.").wait_for()
    assert not MailboxItem.objects.filter(user=alice).exists()


def test_the_snooze_dialog_is_accessible(any_page, alice):
    page = any_page
    item = _mail(alice, "Snooze dialog")
    sign_in(page, "alice@example.test")
    row = _row(page, item)
    if not page.is_phone:
        row.hover()
    row.locator("[data-snooze-open]").click()
    page.locator("#snooze-dialog").wait_for()
    assert_accessible(page, "the snooze dialog")
    shot(page, f"snooze-dialog-{'phone' if page.is_phone else 'desktop'}")


def test_snooze_from_the_conversation_page(any_page, alice):
    page = any_page
    item = _mail(alice, "Snooze this conversation")
    sign_in(page, "alice@example.test")
    page.click(f"#subject-{item.thread_id}")
    page.wait_for_selector("article.conversation")
    if page.is_phone:
        page.click("[data-snooze-menu] summary")
    else:
        page.keyboard.press("b")
    menu = page.locator("[data-snooze-menu]")
    menu.locator('[data-snooze-choice="next_week"]').wait_for()
    assert_accessible(page, "the conversation's snooze menu")
    menu.locator('[data-snooze-choice="next_week"]').click()
    page.wait_for_url(re.compile(r"/mail/$"))
    page.locator(".toast", has_text="Conversation snoozed until").wait_for()
    assert _row(page, item).count() == 0
    assert MailboxItem.objects.get(pk=item.pk).snoozed_until is not None
