"""Mailbox operations: flags, labels, folders, restore, deletion; all-or-nothing; thread counters kept right."""

from datetime import timedelta

import pytest
from django.core.files.storage import storages
from django.utils import timezone

from mailboxes.compose import OutgoingAttachment
from mailboxes.exceptions import FolderNotAllowed, ItemNotFound, LabelNotFound
from mailboxes.models import Attachment, Blob, Folder, MailboxItem, Message, Thread
from mailboxes.services import (
    add_labels,
    archive_items,
    create_label,
    delete_forever,
    mark_not_spam,
    mark_read,
    mark_spam,
    move_items,
    place_message,
    remove_labels,
    restore_items,
    save_draft,
    set_starred,
    store_message,
    trash_items,
)
from tests.factories import deliver, raw_email, send_and_deliver

pytestmark = pytest.mark.django_db

DANA = "Dana Scully <dana@remote.example>"
ERIN = "Erin Brockovich <erin@elsewhere.example>"


def receive(user, **fields) -> MailboxItem:
    fields.setdefault("to", user.username)
    return deliver(raw_email(**fields), user)[0]


def conversation(user, *bodies, senders=(DANA, ERIN)) -> list[MailboxItem]:
    """One thread of ``len(bodies)`` received messages, a minute apart, oldest first."""
    start = timezone.now() - timedelta(hours=1)
    items, previous = [], None
    for n, body in enumerate(bodies):
        raw = raw_email(
            subject="Re: Plan" if previous else "Plan",
            sender=senders[n % len(senders)],
            to=user.username,
            message_id=f"<conv{n}.{user.pk}@remote.example>",
            in_reply_to=previous,
            references=previous,
            body=body,
        )
        message, _ = store_message(raw=raw)
        items.append(place_message(user=user, message=message, received_at=start + timedelta(minutes=n)))
        previous = f"<conv{n}.{user.pk}@remote.example>"
    assert len({i.thread_id for i in items}) == 1
    return items


def reload(item: MailboxItem) -> MailboxItem:
    item.refresh_from_db()
    return item


def thread_of(item: MailboxItem) -> Thread:
    return Thread.objects.get(pk=item.thread_id)


def counters(item: MailboxItem) -> tuple[int, int]:
    thread = thread_of(item)
    return thread.message_count, thread.unread_count


def blob_file_exists(sha256: str) -> bool:
    return storages["mailstore"].exists(Blob(sha256=sha256).storage_key)


# --- read, star -------------------------------------------------------------------------


def test_mark_read_and_unread_set_the_flag_and_the_thread_unread_count(alice):
    first, second = conversation(alice, "one", "two")
    assert counters(first) == (2, 2)

    assert mark_read(user=alice, item_ids=[first.pk, second.pk]) == 2
    assert reload(first).is_read and reload(second).is_read
    assert counters(first) == (2, 0)

    mark_read(user=alice, item_ids=[second.pk], read=False)
    assert reload(second).is_read is False
    assert reload(first).is_read is True
    assert counters(first) == (2, 1)


def test_star_and_unstar(alice):
    item = receive(alice, sender=DANA)

    set_starred(user=alice, item_ids=[item.pk])
    assert reload(item).is_starred is True

    set_starred(user=alice, item_ids=[item.pk], starred=False)
    assert reload(item).is_starred is False


def test_ids_as_strings_are_accepted(alice):
    item = receive(alice, sender=DANA)

    mark_read(user=alice, item_ids=[str(item.pk)])

    assert reload(item).is_read is True


def test_a_single_id_string_is_one_id_not_its_digits(alice):
    items = [receive(alice, sender=DANA, subject=f"n{n}") for n in range(12)]
    last = items[-1]  # on a fresh database its id is 12, and items 1 and 2 are alice's too

    mark_read(user=alice, item_ids=str(last.pk))

    assert set(MailboxItem.objects.filter(user=alice, is_read=True).values_list("pk", flat=True)) == {last.pk}


def test_a_single_integer_id_is_accepted(alice):
    item = receive(alice, sender=DANA)

    set_starred(user=alice, item_ids=item.pk)

    assert reload(item).is_starred is True


@pytest.mark.parametrize("bad", ["abc", None, "", "1.5", 1.5, True, 10**20, -(10**20), "99999999999999999999", [1]])
def test_non_integer_or_out_of_range_ids_are_not_found(alice, bad):
    item = receive(alice, sender=DANA)

    with pytest.raises(ItemNotFound):
        mark_read(user=alice, item_ids=[item.pk, bad])

    assert reload(item).is_read is False


def test_empty_selection_is_refused(alice):
    with pytest.raises(ItemNotFound):
        trash_items(user=alice, item_ids=[])


# --- labels on items -------------------------------------------------------------------------


def test_add_and_remove_labels_on_several_items(alice):
    first, second = receive(alice, sender=DANA), receive(alice, sender=ERIN)
    work, urgent = create_label(user=alice, name="Work"), create_label(user=alice, name="Urgent")

    add_labels(user=alice, item_ids=[first.pk, second.pk], label_ids=[work.pk, urgent.pk])
    add_labels(user=alice, item_ids=[first.pk], label_ids=[work.pk])  # already there: no error, no duplicate

    assert sorted(reload(first).labels.values_list("name", flat=True)) == ["Urgent", "Work"]
    assert sorted(reload(second).labels.values_list("name", flat=True)) == ["Urgent", "Work"]

    remove_labels(user=alice, item_ids=[first.pk], label_ids=[urgent.pk])

    assert list(reload(first).labels.values_list("name", flat=True)) == ["Work"]
    assert sorted(reload(second).labels.values_list("name", flat=True)) == ["Urgent", "Work"]


def test_another_users_label_is_refused_and_nothing_is_labelled(alice, bob):
    item = receive(alice, sender=DANA)
    mine = create_label(user=alice, name="Mine")
    bobs = create_label(user=bob, name="Bob's")

    with pytest.raises(LabelNotFound) as excinfo:
        add_labels(user=alice, item_ids=[item.pk], label_ids=[mine.pk, bobs.pk])

    assert excinfo.value.field == "labels"
    assert not reload(item).labels.exists()


def test_removing_another_users_label_is_refused(alice, bob):
    item = receive(alice, sender=DANA)
    bobs = create_label(user=bob, name="Bob's")

    with pytest.raises(LabelNotFound):
        remove_labels(user=alice, item_ids=[item.pk], label_ids=[bobs.pk])


# --- moving: the rules ------------------------------------------------------------------------


def test_move_to_an_unknown_folder_is_refused(alice):
    item = receive(alice, sender=DANA)

    with pytest.raises(FolderNotAllowed) as excinfo:
        move_items(user=alice, item_ids=[item.pk], folder="secret")

    assert excinfo.value.field == "folder"
    assert reload(item).folder == Folder.INBOX


@pytest.mark.parametrize("folder", [Folder.INBOX, Folder.ARCHIVE, Folder.SENT, Folder.SPAM])
def test_a_draft_can_only_be_in_drafts_or_trash(alice, folder):
    draft = save_draft(user=alice, to=["bob@example.test"], subject="WIP", text="...")

    with pytest.raises(FolderNotAllowed):
        move_items(user=alice, item_ids=[draft.pk], folder=folder)
    assert reload(draft).folder == Folder.DRAFTS

    trash_items(user=alice, item_ids=[draft.pk])
    assert reload(draft).folder == Folder.TRASH


def test_only_drafts_go_in_drafts(alice):
    item = receive(alice, sender=DANA)

    with pytest.raises(FolderNotAllowed):
        move_items(user=alice, item_ids=[item.pk], folder=Folder.DRAFTS)


def test_received_mail_cannot_go_in_sent(alice):
    item = receive(alice, sender=DANA)

    with pytest.raises(FolderNotAllowed):
        move_items(user=alice, item_ids=[item.pk], folder=Folder.SENT)


def test_a_sent_copy_can_go_back_to_sent(alice, bob):
    message = send_and_deliver(user=alice, to=["bob@example.test"], text="x")
    sent = MailboxItem.objects.get(user=alice, message=message)
    archive_items(user=alice, item_ids=[sent.pk])

    move_items(user=alice, item_ids=[sent.pk], folder=Folder.SENT)

    assert reload(sent).folder == Folder.SENT


def test_mail_you_sent_cannot_be_marked_as_spam(alice, bob):
    message = send_and_deliver(user=alice, to=["bob@example.test"], text="x")
    sent = MailboxItem.objects.get(user=alice, message=message)

    with pytest.raises(FolderNotAllowed):
        mark_spam(user=alice, item_ids=[sent.pk])
    assert reload(sent).folder == Folder.SENT


def test_received_copy_of_mail_to_yourself_can_be_marked_as_spam(alice):
    message = send_and_deliver(user=alice, to=["alice@example.test"], text="x")
    received = MailboxItem.objects.get(user=alice, message=message, origin=MailboxItem.Origin.RECEIVED)

    mark_spam(user=alice, item_ids=[received.pk])

    assert reload(received).folder == Folder.SPAM


def test_bulk_move_is_all_or_nothing(alice):
    mail = receive(alice, sender=DANA)
    draft = save_draft(user=alice, to=["bob@example.test"], text="...")

    with pytest.raises(FolderNotAllowed):
        archive_items(user=alice, item_ids=[mail.pk, draft.pk])

    assert reload(mail).folder == Folder.INBOX
    assert reload(draft).folder == Folder.DRAFTS


def test_bulk_operation_with_one_missing_id_changes_nothing(alice):
    first, second = conversation(alice, "one", "two")
    label = create_label(user=alice, name="Work")

    for operation in (
        lambda ids: mark_read(user=alice, item_ids=ids),
        lambda ids: set_starred(user=alice, item_ids=ids),
        lambda ids: add_labels(user=alice, item_ids=ids, label_ids=[label.pk]),
        lambda ids: archive_items(user=alice, item_ids=ids),
        lambda ids: trash_items(user=alice, item_ids=ids),
        lambda ids: mark_spam(user=alice, item_ids=ids),
    ):
        with pytest.raises(ItemNotFound):
            operation([first.pk, second.pk, 999_999])

    for item in (reload(first), reload(second)):
        assert (item.folder, item.is_read, item.is_starred) == (Folder.INBOX, False, False)
        assert not item.labels.exists()
    assert counters(first) == (2, 2)


# --- archive, trash, restore ---------------------------------------------------------------


def test_archive_moves_out_of_the_inbox_and_keeps_the_thread_counters(alice):
    first, second = conversation(alice, "one", "two")

    archive_items(user=alice, item_ids=[first.pk])

    assert reload(first).folder == Folder.ARCHIVE
    assert reload(first).previous_folder == ""
    assert counters(first) == (2, 2)


def test_trash_leaves_the_trashed_message_out_of_the_thread_summary(alice):
    first, second, third = conversation(alice, "one", "two", "three", senders=(DANA, ERIN, DANA))

    trash_items(user=alice, item_ids=[third.pk])

    assert (reload(third).folder, reload(third).previous_folder) == (Folder.TRASH, Folder.INBOX)
    thread = thread_of(first)
    assert (thread.message_count, thread.unread_count) == (2, 2)
    assert thread.latest_at == second.received_at
    assert thread.snippet == "two"

    trash_items(user=alice, item_ids=[second.pk])

    thread = thread_of(first)
    assert (thread.message_count, thread.unread_count) == (1, 1)
    assert thread.snippet == "one"
    assert [s["address"] for s in thread.senders] == ["dana@remote.example"]


def test_thread_with_everything_in_trash_summarises_the_trash(alice):
    first, second = conversation(alice, "one", "two")

    trash_items(user=alice, item_ids=[first.pk, second.pk])

    thread = thread_of(first)
    assert (thread.message_count, thread.unread_count, thread.snippet) == (2, 2, "two")


@pytest.mark.parametrize("start", [Folder.INBOX, Folder.ARCHIVE])
def test_restore_from_trash_returns_to_the_original_folder(alice, start):
    item = receive(alice, sender=DANA)
    move_items(user=alice, item_ids=[item.pk], folder=start)
    trash_items(user=alice, item_ids=[item.pk])

    restore_items(user=alice, item_ids=[item.pk])

    assert (reload(item).folder, reload(item).previous_folder) == (start, "")
    assert counters(item) == (1, 1)


@pytest.mark.parametrize("start", [Folder.INBOX, Folder.ARCHIVE])
def test_restore_from_spam_returns_to_the_original_folder(alice, start):
    item = receive(alice, sender=DANA)
    move_items(user=alice, item_ids=[item.pk], folder=start)
    mark_spam(user=alice, item_ids=[item.pk])

    restore_items(user=alice, item_ids=[item.pk])

    assert reload(item).folder == start


def test_restore_after_trash_then_spam_returns_to_the_folder_before_the_trash(alice):
    item = receive(alice, sender=DANA)
    archive_items(user=alice, item_ids=[item.pk])
    trash_items(user=alice, item_ids=[item.pk])
    mark_spam(user=alice, item_ids=[item.pk])

    restore_items(user=alice, item_ids=[item.pk])

    assert reload(item).folder == Folder.ARCHIVE


def test_restore_after_spam_then_trash_returns_to_spam(alice):
    """Deleting spam does not make it trusted: restoring it brings it back to Spam."""
    item = receive(alice, sender=DANA)
    mark_spam(user=alice, item_ids=[item.pk])
    trash_items(user=alice, item_ids=[item.pk])

    restore_items(user=alice, item_ids=[item.pk])

    assert reload(item).folder == Folder.SPAM


def test_restore_of_mail_delivered_straight_to_spam_goes_to_the_inbox(alice):
    [item] = deliver(raw_email(sender=DANA, to=alice.username), alice, folder=Folder.SPAM)

    restore_items(user=alice, item_ids=[item.pk])

    assert reload(item).folder == Folder.INBOX


def test_restore_of_a_sent_copy_goes_back_to_sent(alice, bob):
    message = send_and_deliver(user=alice, to=["bob@example.test"], text="x")
    sent = MailboxItem.objects.get(user=alice, message=message)
    trash_items(user=alice, item_ids=[sent.pk])

    restore_items(user=alice, item_ids=[sent.pk])

    assert reload(sent).folder == Folder.SENT


def test_restore_of_a_draft_goes_back_to_drafts(alice):
    draft = save_draft(user=alice, to=["bob@example.test"], text="...")
    trash_items(user=alice, item_ids=[draft.pk])

    restore_items(user=alice, item_ids=[draft.pk])

    assert reload(draft).folder == Folder.DRAFTS


def test_restore_outside_trash_and_spam_is_refused_for_the_whole_batch(alice):
    trashed, kept = receive(alice, sender=DANA), receive(alice, sender=ERIN)
    trash_items(user=alice, item_ids=[trashed.pk])

    with pytest.raises(FolderNotAllowed):
        restore_items(user=alice, item_ids=[trashed.pk, kept.pk])

    assert reload(trashed).folder == Folder.TRASH


# --- spam --------------------------------------------------------------------------------------


def test_spam_is_left_out_of_the_thread_unread_count(alice):
    first, second = conversation(alice, "one", "two")

    mark_spam(user=alice, item_ids=[second.pk])

    assert (reload(second).folder, reload(second).previous_folder) == (Folder.SPAM, Folder.INBOX)
    assert thread_of(first).unread_count == 1


def test_not_spam_moves_to_the_inbox(alice):
    item = receive(alice, sender=DANA)
    archive_items(user=alice, item_ids=[item.pk])
    mark_spam(user=alice, item_ids=[item.pk])

    mark_not_spam(user=alice, item_ids=[item.pk])

    assert (reload(item).folder, reload(item).previous_folder) == (Folder.INBOX, "")
    assert counters(item) == (1, 1)


def test_not_spam_outside_spam_is_refused(alice):
    item = receive(alice, sender=DANA)

    with pytest.raises(FolderNotAllowed):
        mark_not_spam(user=alice, item_ids=[item.pk])


# --- delete forever ----------------------------------------------------------------------------


def test_delete_forever_is_refused_outside_trash_and_spam(alice):
    trashed, inbox = receive(alice, sender=DANA), receive(alice, sender=ERIN)
    trash_items(user=alice, item_ids=[trashed.pk])

    with pytest.raises(FolderNotAllowed):
        delete_forever(user=alice, item_ids=[trashed.pk, inbox.pk])

    assert MailboxItem.objects.filter(pk__in=[trashed.pk, inbox.pk]).count() == 2


def test_delete_forever_removes_the_message_and_its_blobs_when_nobody_else_holds_it(
    alice, django_capture_on_commit_callbacks
):
    raw = raw_email(sender=DANA, to=alice.username)
    item = deliver(raw, alice)[0]
    message = item.message
    blob = message.blob_id
    trash_items(user=alice, item_ids=[item.pk])

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert delete_forever(user=alice, item_ids=[item.pk]) == 1

    assert callbacks
    assert not MailboxItem.objects.filter(pk=item.pk).exists()
    assert not Message.objects.filter(pk=message.pk).exists()
    assert not Blob.objects.filter(pk=blob).exists()
    assert not blob_file_exists(blob)
    assert not Thread.objects.filter(pk=item.thread_id).exists()


def test_delete_forever_from_spam_also_works(alice, django_capture_on_commit_callbacks):
    item = receive(alice, sender=DANA)
    mark_spam(user=alice, item_ids=[item.pk])

    with django_capture_on_commit_callbacks(execute=True):
        delete_forever(user=alice, item_ids=[item.pk])

    assert not Message.objects.exists()


def test_delete_forever_removes_attachment_blobs_but_keeps_ones_another_message_uses(
    alice, bob, django_capture_on_commit_callbacks
):
    shared = OutgoingAttachment(filename="shared.txt", content_type="text/plain", content=b"shared bytes")
    own = OutgoingAttachment(filename="own.txt", content_type="text/plain", content=b"only here")
    doomed = send_and_deliver(
        user=alice, to=["alice@example.test"], subject="doomed", text="x", attachments=[shared, own]
    )
    kept = send_and_deliver(user=alice, to=["bob@example.test"], subject="kept", text="y", attachments=[shared])
    shared_blob = kept.attachments.get().blob_id
    own_blob = doomed.attachments.get(filename="own.txt").blob_id
    doomed_items = list(MailboxItem.objects.filter(user=alice, message=doomed).values_list("pk", flat=True))
    trash_items(user=alice, item_ids=doomed_items)

    with django_capture_on_commit_callbacks(execute=True):
        delete_forever(user=alice, item_ids=doomed_items)

    assert not Message.objects.filter(pk=doomed.pk).exists()
    assert not Blob.objects.filter(pk=own_blob).exists()
    assert not blob_file_exists(own_blob)
    assert Blob.objects.filter(pk=shared_blob).exists()
    assert blob_file_exists(shared_blob)
    assert Attachment.objects.filter(message=kept).count() == 1


def test_delete_forever_keeps_the_message_while_another_user_holds_it(alice, bob, django_capture_on_commit_callbacks):
    message = send_and_deliver(user=alice, to=["bob@example.test"], text="x")
    sent = MailboxItem.objects.get(user=alice, message=message)
    trash_items(user=alice, item_ids=[sent.pk])

    with django_capture_on_commit_callbacks(execute=True):
        delete_forever(user=alice, item_ids=[sent.pk])

    assert not MailboxItem.objects.filter(user=alice).exists()
    assert Message.objects.filter(pk=message.pk).exists()
    assert blob_file_exists(message.blob_id)
    bob_item = MailboxItem.objects.get(user=bob, message=message)
    assert bob_item.folder == Folder.INBOX

    trash_items(user=bob, item_ids=[bob_item.pk])
    with django_capture_on_commit_callbacks(execute=True):
        delete_forever(user=bob, item_ids=[bob_item.pk])

    assert not Message.objects.filter(pk=message.pk).exists()
    assert not blob_file_exists(message.blob_id)


def test_delete_forever_of_one_copy_of_mail_to_yourself_keeps_the_other(alice, django_capture_on_commit_callbacks):
    message = send_and_deliver(user=alice, to=["alice@example.test"], text="x")
    received = MailboxItem.objects.get(user=alice, message=message, origin=MailboxItem.Origin.RECEIVED)
    sent = MailboxItem.objects.get(user=alice, message=message, origin=MailboxItem.Origin.SENT)
    trash_items(user=alice, item_ids=[received.pk])

    with django_capture_on_commit_callbacks(execute=True):
        delete_forever(user=alice, item_ids=[received.pk])

    assert reload(sent).folder == Folder.SENT
    assert Message.objects.filter(pk=message.pk).exists()
    assert counters(sent) == (1, 0)


def test_delete_forever_keeps_a_message_still_queued_for_delivery(
    alice, remote_domain, django_capture_on_commit_callbacks
):
    message = send_and_deliver(user=alice, to=["temp@remote.example"], text="x")  # answered 451: deferred
    sent = MailboxItem.objects.get(user=alice, message=message)
    trash_items(user=alice, item_ids=[sent.pk])

    with django_capture_on_commit_callbacks(execute=True):
        delete_forever(user=alice, item_ids=[sent.pk])

    assert not MailboxItem.objects.filter(user=alice).exists()
    assert Message.objects.filter(pk=message.pk).exists()
    assert message.recipients.get().status == "deferred"
    assert blob_file_exists(message.blob_id)


def test_delete_forever_updates_the_remaining_threads_counters(alice, django_capture_on_commit_callbacks):
    first, second, third = conversation(alice, "one", "two", "three")
    mark_read(user=alice, item_ids=[first.pk])
    trash_items(user=alice, item_ids=[third.pk])

    with django_capture_on_commit_callbacks(execute=True):
        delete_forever(user=alice, item_ids=[third.pk])

    thread = thread_of(first)
    assert (thread.message_count, thread.unread_count, thread.snippet) == (2, 1, "two")
    assert thread.latest_at == second.received_at


# --- the same message in several mailboxes ----------------------------------------------------


def test_same_message_in_several_mailboxes_has_independent_state(alice, bob, carol):
    raw = raw_email(sender=DANA, to="alice@example.test, bob@example.test, carol@example.test")
    a, b, c = deliver(raw, alice, bob, carol)
    assert a.message_id == b.message_id == c.message_id
    assert Message.objects.count() == 1
    assert Blob.objects.count() == 1
    label = create_label(user=alice, name="Keep")

    mark_read(user=alice, item_ids=[a.pk])
    set_starred(user=alice, item_ids=[a.pk])
    add_labels(user=alice, item_ids=[a.pk], label_ids=[label.pk])
    archive_items(user=alice, item_ids=[a.pk])
    trash_items(user=bob, item_ids=[b.pk])

    a, b, c = reload(a), reload(b), reload(c)
    assert (a.folder, a.is_read, a.is_starred) == (Folder.ARCHIVE, True, True)
    assert list(a.labels.values_list("name", flat=True)) == ["Keep"]
    assert (b.folder, b.is_read, b.is_starred) == (Folder.TRASH, False, False)
    assert not b.labels.exists()
    assert (c.folder, c.is_read, c.is_starred) == (Folder.INBOX, False, False)
    assert len({a.thread_id, b.thread_id, c.thread_id}) == 3
    assert counters(a) == (1, 0)
    assert counters(c) == (1, 1)
