"""Reads of one user's mailbox."""

from datetime import timedelta

import pytest
from django.utils import timezone

from mailboxes import selectors
from mailboxes.exceptions import ItemNotFound, LabelNotFound
from mailboxes.models import Folder, MailboxItem
from mailboxes.services import (
    add_labels,
    archive_items,
    create_label,
    mark_read,
    mark_spam,
    place_message,
    save_draft,
    set_starred,
    store_message,
    trash_items,
)
from tests.factories import raw_email, send_and_deliver

pytestmark = pytest.mark.django_db


def receive(user, minutes_ago: int, **fields) -> MailboxItem:
    fields.setdefault("to", user.username)
    message, _ = store_message(raw=raw_email(**fields))
    return place_message(user=user, message=message, received_at=timezone.now() - timedelta(minutes=minutes_ago))


def pks(queryset) -> list[int]:
    return [item.pk for item in queryset]


def test_items_in_folder_are_newest_first_and_only_the_users(alice, bob):
    older, newer = receive(alice, 10), receive(alice, 5)
    archived = receive(alice, 1)
    archive_items(user=alice, item_ids=[archived.pk])
    receive(bob, 3)

    assert pks(selectors.items_in_folder(user=alice, folder=Folder.INBOX)) == [newer.pk, older.pk]
    assert pks(selectors.items_in_folder(user=alice, folder=Folder.ARCHIVE)) == [archived.pk]


def test_starred_items_leave_out_the_trash(alice):
    kept, trashed = receive(alice, 10), receive(alice, 5)
    set_starred(user=alice, item_ids=[kept.pk, trashed.pk])
    trash_items(user=alice, item_ids=[trashed.pk])

    assert pks(selectors.starred_items(user=alice)) == [kept.pk]


def test_labelled_items_leave_out_the_trash(alice):
    kept, trashed, unlabelled = receive(alice, 10), receive(alice, 5), receive(alice, 1)
    label = create_label(user=alice, name="Work")
    add_labels(user=alice, item_ids=[kept.pk, trashed.pk], label_ids=[label.pk])
    trash_items(user=alice, item_ids=[trashed.pk])

    assert pks(selectors.labelled_items(user=alice, label_id=label.pk)) == [kept.pk]
    assert unlabelled.pk not in pks(selectors.labelled_items(user=alice, label_id=str(label.pk)))


def test_labelled_items_of_an_unknown_label_is_not_found(alice):
    with pytest.raises(LabelNotFound):
        selectors.labelled_items(user=alice, label_id=999_999)


def test_get_item_and_thread_for_user(alice):
    item = receive(alice, 1)

    assert selectors.get_item_for_user(user=alice, item_id=str(item.pk)) == item
    assert selectors.get_thread_for_user(user=alice, thread_id=item.thread_id) == item.thread


@pytest.mark.parametrize("bad", [999_999, "abc", None, "", 10**20])
def test_unknown_ids_are_not_found(alice, bad):
    with pytest.raises(ItemNotFound):
        selectors.get_item_for_user(user=alice, item_id=bad)
    with pytest.raises(ItemNotFound):
        selectors.get_thread_for_user(user=alice, thread_id=bad)
    with pytest.raises(ItemNotFound):
        selectors.raw_message_for_user(user=alice, item_id=bad)


def test_thread_items_are_oldest_first(alice):
    first = receive(alice, 10, subject="Plan", message_id="<root@remote.example>")
    second = receive(alice, 5, subject="Re: Plan", in_reply_to="<root@remote.example>")

    assert pks(selectors.thread_items(user=alice, thread_id=first.thread_id)) == [first.pk, second.pk]


def test_folder_counts_give_totals_and_unread_for_every_folder(alice, bob):
    read, _unread, spam = receive(alice, 3), receive(alice, 2), receive(alice, 1)
    mark_read(user=alice, item_ids=[read.pk])
    mark_spam(user=alice, item_ids=[spam.pk])
    save_draft(user=alice, to=["bob@example.test"], text="...")
    send_and_deliver(user=alice, to=["bob@example.test"], text="x")

    counts = selectors.folder_counts(user=alice)

    assert counts[Folder.INBOX] == {"total": 2, "unread": 1}
    assert counts[Folder.SPAM] == {"total": 1, "unread": 1}
    assert counts[Folder.DRAFTS] == {"total": 1, "unread": 0}
    assert counts[Folder.SENT] == {"total": 1, "unread": 0}
    assert counts[Folder.ARCHIVE] == counts[Folder.TRASH] == {"total": 0, "unread": 0}


def test_raw_message_gives_back_the_exact_bytes_received(alice):
    raw = raw_email(subject="Exact", to=alice.username, extra_headers="X-Odd:   spacing  kept")
    message, _ = store_message(raw=raw)
    item = place_message(user=alice, message=message)

    assert selectors.raw_message_for_user(user=alice, item_id=item.pk) == raw


def test_delivery_status_is_shown_only_on_the_senders_own_copy(alice, bob, remote_domain):
    message = send_and_deliver(user=alice, to=["bob@example.test", "temp@remote.example"], text="x")
    sent = MailboxItem.objects.get(user=alice, message=message)
    received = MailboxItem.objects.get(user=bob, message=message)

    rows = selectors.delivery_status_for_user(user=alice, item_id=sent.pk)

    assert list(rows.values_list("address", "status")) == [
        ("bob@example.test", "delivered"),
        ("temp@remote.example", "deferred"),
    ]
    assert list(selectors.delivery_status_for_user(user=bob, item_id=received.pk)) == []


def test_delivery_status_of_the_inbox_copy_of_mail_to_yourself_is_empty(alice):
    message = send_and_deliver(user=alice, to=["alice@example.test"], bcc=["far@remote.example"], text="x")
    received = MailboxItem.objects.get(user=alice, message=message, origin=MailboxItem.Origin.RECEIVED)
    sent = MailboxItem.objects.get(user=alice, message=message, origin=MailboxItem.Origin.SENT)

    assert list(selectors.delivery_status_for_user(user=alice, item_id=received.pk)) == []
    assert selectors.delivery_status_for_user(user=alice, item_id=sent.pk).count() == 2
