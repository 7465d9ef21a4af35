"""Undo for each kind of toolbar action (spam, move, labels, read state) and Empty Spam, in Chromium.

Each test checks a conversation, acts through the list's toolbar, reads the toast that names what was
done, sees the list and the database change, then undoes and sees both put back exactly: folder,
remembered folder, labels and read state.
"""

import pytest

from inbound.filters.spam import spam_training_of
from mailboxes import services
from mailboxes.models import Folder, MailboxItem
from tests.factories import deliver, raw_email
from tests.support.browser import BROWSER_MARKS, assert_accessible, shot, sign_in

pytestmark = [*BROWSER_MARKS, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _lasting_toasts(settings):
    # The toast would go after 8 s: on a slow machine, before the test clicks its Undo.
    settings.WEBMAIL_UNDO_TOAST_SECONDS = 600


def _mail(user, subject):
    return deliver(raw_email(subject=subject, sender="Bob <bob@remote.example>", to="alice@example.test"), user)[0]


def _row(page, item):
    return page.locator(f'li.thread[data-thread-id="{item.thread_id}"]')


def _check(page, item):
    _row(page, item).locator('input[name="thread"]').check()


def _state(item):
    """What undo must put back: the item's folder, remembered folder, read state and labels."""
    item = MailboxItem.objects.get(pk=item.pk)
    return {
        "folder": item.folder,
        "previous_folder": item.previous_folder,
        "is_read": item.is_read,
        "labels": sorted(label.name for label in item.labels.all()),
    }


def _undo_from_the_toast(page, toast_text):
    toast = page.locator(".toast", has_text=toast_text)
    toast.get_by_role("button", name="Undo").click()
    page.locator(".toast", has_text="Undone.").wait_for()
    assert page.locator(".toast", has_text=toast_text).count() == 0


def test_report_spam_from_the_toolbar_then_undo(any_page, alice):
    page = any_page
    travel = services.create_label(user=alice, name="Travel")
    item = _mail(alice, "Cheap flights")
    services.add_labels(user=alice, item_ids=[item.pk], label_ids=[travel.pk])
    _mail(alice, "Stays")
    before = _state(item)
    training_before = spam_training_of(user=alice, message=item.message)
    sign_in(page, "alice@example.test")
    page.evaluate("window.notReloaded = true")
    _check(page, item)
    page.locator('.toolbar button[name="action"][value="spam"]').click()
    page.locator(".toast", has_text="Conversation reported as spam").wait_for()
    _row(page, item).wait_for(state="detached")
    assert _state(item) == {**before, "folder": Folder.SPAM, "previous_folder": Folder.INBOX}
    assert spam_training_of(user=alice, message=item.message) == "spam"
    _undo_from_the_toast(page, "Conversation reported as spam")
    _row(page, item).wait_for()
    assert _state(item) == before
    assert spam_training_of(user=alice, message=item.message) == training_before
    _row(page, item).locator(".label-chip", has_text="Travel").wait_for()
    assert page.evaluate("window.notReloaded === true")


def test_move_to_trash_with_the_select_then_undo(any_page, alice):
    page = any_page
    item = _mail(alice, "Old newsletter")
    services.mark_read(user=alice, item_ids=[item.pk], read=True)
    before = _state(item)
    sign_in(page, "alice@example.test")
    _check(page, item)
    page.select_option("#bulk-move", "trash")
    page.locator('.toolbar button[name="action"][value="move"]').click()
    page.locator(".toast", has_text="Conversation moved to Trash").wait_for()
    _row(page, item).wait_for(state="detached")
    assert _state(item) == {**before, "folder": Folder.TRASH, "previous_folder": Folder.INBOX}
    _undo_from_the_toast(page, "Conversation moved to Trash")
    page.wait_for_selector(f'li.thread[data-thread-id="{item.thread_id}"]:not(.unread)')
    assert _state(item) == before


def test_move_to_archive_with_the_select_then_undo(any_page, alice):
    page = any_page
    item = _mail(alice, "Receipt")
    before = _state(item)
    assert not before["is_read"]
    sign_in(page, "alice@example.test")
    _check(page, item)
    page.select_option("#bulk-move", "archive")
    page.locator('.toolbar button[name="action"][value="move"]').click()
    page.locator(".toast", has_text="Conversation archived").wait_for()
    _row(page, item).wait_for(state="detached")
    assert _state(item) == {**before, "folder": Folder.ARCHIVE}
    _undo_from_the_toast(page, "Conversation archived")
    page.wait_for_selector(f'li.thread.unread[data-thread-id="{item.thread_id}"]')
    assert _state(item) == before


def test_apply_a_label_then_undo(any_page, alice):
    page = any_page
    services.create_label(user=alice, name="Travel")
    item = _mail(alice, "Hotel booking")
    before = _state(item)
    sign_in(page, "alice@example.test")
    _check(page, item)
    page.select_option("#bulk-label", label="Travel")
    page.locator('.toolbar button[name="action"][value="label"]').click()
    page.locator(".toast", has_text="Label “Travel” applied").wait_for()
    chip = _row(page, item).locator(".label-chip", has_text="Travel")
    chip.wait_for()
    assert _state(item) == {**before, "labels": ["Travel"]}
    _undo_from_the_toast(page, "Label “Travel” applied")
    chip.wait_for(state="detached")
    _row(page, item).wait_for()
    assert _state(item) == before


def test_remove_a_label_then_undo(any_page, alice):
    page = any_page
    travel = services.create_label(user=alice, name="Travel")
    work = services.create_label(user=alice, name="Work")
    item = _mail(alice, "Conference trip")
    services.add_labels(user=alice, item_ids=[item.pk], label_ids=[travel.pk, work.pk])
    before = _state(item)
    sign_in(page, "alice@example.test")
    _check(page, item)
    page.select_option("#bulk-label", label="Travel")
    page.locator('.toolbar button[name="action"][value="unlabel"]').click()
    page.locator(".toast", has_text="Label “Travel” removed").wait_for()
    _row(page, item).locator(".label-chip", has_text="Travel").wait_for(state="detached")
    assert _row(page, item).locator(".label-chip", has_text="Work").count() == 1
    assert _state(item) == {**before, "labels": ["Work"]}
    _undo_from_the_toast(page, "Label “Travel” removed")
    _row(page, item).locator(".label-chip", has_text="Travel").wait_for()
    assert _row(page, item).locator(".label-chip", has_text="Work").count() == 1
    assert _state(item) == before


def test_mark_unread_then_undo(any_page, alice):
    page = any_page
    item = _mail(alice, "Seen already")
    services.mark_read(user=alice, item_ids=[item.pk], read=True)
    before = _state(item)
    sign_in(page, "alice@example.test")
    _check(page, item)
    page.locator('.toolbar button[name="action"][value="unread"]').click()
    page.locator(".toast", has_text="Conversation marked as unread").wait_for()
    page.wait_for_selector(f'li.thread.unread[data-thread-id="{item.thread_id}"]')
    assert _state(item) == {**before, "is_read": False}
    _undo_from_the_toast(page, "Conversation marked as unread")
    page.wait_for_selector(f'li.thread[data-thread-id="{item.thread_id}"]:not(.unread)')
    assert _state(item) == before


def test_mark_read_then_undo_with_z_or_the_toast(any_page, alice):
    page = any_page
    item = _mail(alice, "Not seen yet")
    before = _state(item)
    sign_in(page, "alice@example.test")
    _check(page, item)
    page.locator('.toolbar button[name="action"][value="read"]').click()
    page.locator(".toast", has_text="Conversation marked as read").wait_for()
    page.wait_for_selector(f'li.thread[data-thread-id="{item.thread_id}"]:not(.unread)')
    assert _state(item) == {**before, "is_read": True}
    if page.is_phone:  # no keyboard: the toast's Undo
        page.locator(".toast", has_text="Conversation marked as read").get_by_role("button", name="Undo").click()
    else:
        page.keyboard.press("z")
    page.locator(".toast", has_text="Undone.").wait_for()
    page.wait_for_selector(f'li.thread.unread[data-thread-id="{item.thread_id}"]')
    assert page.locator(".toast", has_text="Conversation marked as read").count() == 0
    assert _state(item) == before


def test_empty_spam(any_page, alice):
    page = any_page
    spam = [_mail(alice, f"Prize {n}") for n in range(3)]
    services.mark_spam(user=alice, item_ids=[i.pk for i in spam])
    kept = _mail(alice, "Not spam at all")
    sign_in(page, "alice@example.test")
    page.goto(page.base + "/mail/f/spam/")
    page.get_by_text("Empty Spam").click()
    page.get_by_text("Delete every conversation in Spam for good? This cannot be undone.").wait_for()
    assert_accessible(page, "Spam with the Empty confirmation")
    shot(page, f"empty-spam-{'phone' if page.is_phone else 'desktop'}")
    page.click("[data-empty-confirm]")
    page.get_by_text("3 messages deleted forever.").wait_for()
    page.get_by_text("No conversations here.").wait_for()
    assert list(MailboxItem.objects.filter(user=alice).values_list("pk", "folder")) == [(kept.pk, Folder.INBOX)]
