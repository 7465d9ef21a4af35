"""Mallory, given the ids of Alice's items, labels, drafts and threads, finds nothing and changes nothing."""

import pytest

from mailboxes import selectors
from mailboxes.exceptions import DraftNotFound, ItemNotFound, LabelNotFound, SenderNotAllowed
from mailboxes.models import Folder, Label, MailboxItem, Message, Recipient, Thread
from mailboxes.services import (
    add_labels,
    archive_items,
    create_label,
    delete_forever,
    delete_label,
    discard_draft,
    mark_not_spam,
    mark_read,
    mark_spam,
    move_items,
    remove_labels,
    restore_items,
    save_draft,
    set_starred,
    trash_items,
    update_label,
)
from tests.factories import deliver, raw_email, send_and_deliver, send_draft_and_deliver

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(alice, bob, mallory):
    """Alice's mailbox with one of everything, and Mallory's own small one."""
    received = MailboxItem.objects.get(
        user=alice, message=send_and_deliver(user=bob, to=["alice@example.test"], subject="Hi Alice", text="x")
    )
    sent = MailboxItem.objects.get(
        user=alice, message=send_and_deliver(user=alice, to=["bob@example.test"], subject="Hi Bob", text="y")
    )
    trashed = deliver(raw_email(subject="Old", to=alice.username), alice)[0]
    trash_items(user=alice, item_ids=[trashed.pk])
    spam = deliver(raw_email(subject="Buy now", to=alice.username), alice, folder=Folder.SPAM)[0]
    draft = save_draft(user=alice, to=["bob@example.test"], bcc=["secret@remote.example"], text="secret plan")
    label = create_label(user=alice, name="Private")
    add_labels(user=alice, item_ids=[received.pk], label_ids=[label.pk])

    own_item = deliver(raw_email(subject="Mallory's", to=mallory.username), mallory)[0]
    own_label = create_label(user=mallory, name="Loot")
    return {
        "received": received.pk,
        "sent": sent.pk,
        "trashed": trashed.pk,
        "spam": spam.pk,
        "draft": draft.pk,
        "label": label.pk,
        "thread": received.thread_id,
        "own_item": own_item.pk,
        "own_label": own_label.pk,
    }


def snapshot() -> dict:
    """Everything a write could touch."""
    return {
        "items": sorted(
            (i.pk, i.user_id, i.folder, i.previous_folder, i.is_read, i.is_starred, i.thread_id, i.message_id)
            for i in MailboxItem.objects.all()
        ),
        "labels_on_items": sorted(MailboxItem.labels.through.objects.values_list("mailboxitem_id", "label_id")),
        "labels": sorted(Label.objects.values_list("pk", "user_id", "name", "color")),
        "threads": sorted(
            Thread.objects.values_list("pk", "user_id", "message_count", "unread_count", "latest_at", "snippet")
        ),
        "messages": sorted(Message.objects.values_list("pk", "blob_id", "status", "subject")),
        "recipients": sorted(Recipient.objects.values_list("pk", "address", "status")),
    }


ATTEMPTS = {
    "mark_read": (ItemNotFound, lambda m, w: mark_read(user=m, item_ids=[w["received"]])),
    "mark_unread": (ItemNotFound, lambda m, w: mark_read(user=m, item_ids=[w["sent"]], read=False)),
    "star": (ItemNotFound, lambda m, w: set_starred(user=m, item_ids=[w["received"]])),
    "label_her_item": (
        ItemNotFound,
        lambda m, w: add_labels(user=m, item_ids=[w["received"]], label_ids=[w["own_label"]]),
    ),
    "use_her_label": (
        LabelNotFound,
        lambda m, w: add_labels(user=m, item_ids=[w["own_item"]], label_ids=[w["label"]]),
    ),
    "unlabel_her_item": (
        ItemNotFound,
        lambda m, w: remove_labels(user=m, item_ids=[w["received"]], label_ids=[w["own_label"]]),
    ),
    "remove_her_label": (
        LabelNotFound,
        lambda m, w: remove_labels(user=m, item_ids=[w["own_item"]], label_ids=[w["label"]]),
    ),
    "move": (ItemNotFound, lambda m, w: move_items(user=m, item_ids=[w["received"]], folder=Folder.ARCHIVE)),
    "archive": (ItemNotFound, lambda m, w: archive_items(user=m, item_ids=[w["received"]])),
    "trash": (ItemNotFound, lambda m, w: trash_items(user=m, item_ids=[w["sent"]])),
    "spam": (ItemNotFound, lambda m, w: mark_spam(user=m, item_ids=[w["received"]])),
    "not_spam": (ItemNotFound, lambda m, w: mark_not_spam(user=m, item_ids=[w["spam"]])),
    "restore": (ItemNotFound, lambda m, w: restore_items(user=m, item_ids=[w["trashed"]])),
    "delete_forever": (ItemNotFound, lambda m, w: delete_forever(user=m, item_ids=[w["trashed"]])),
    "delete_forever_spam": (ItemNotFound, lambda m, w: delete_forever(user=m, item_ids=[w["spam"]])),
    "mixed_with_own": (ItemNotFound, lambda m, w: mark_read(user=m, item_ids=[w["own_item"], w["received"]])),
    "rename_label": (LabelNotFound, lambda m, w: update_label(user=m, label_id=w["label"], name="Pwned")),
    "recolour_label": (LabelNotFound, lambda m, w: update_label(user=m, label_id=w["label"], color="#000000")),
    "delete_label": (LabelNotFound, lambda m, w: delete_label(user=m, label_id=w["label"])),
    "edit_draft": (DraftNotFound, lambda m, w: save_draft(user=m, draft_id=w["draft"], text="mine now")),
    "edit_draft_keeping_attachments": (
        DraftNotFound,
        lambda m, w: save_draft(user=m, draft_id=w["draft"], to=["mallory@example.test"], attachments=None),
    ),
    "discard_draft": (DraftNotFound, lambda m, w: discard_draft(user=m, draft_id=w["draft"])),
    "send_draft": (DraftNotFound, lambda m, w: send_draft_and_deliver(user=m, draft_id=w["draft"])),
    "reply_draft_to_her_item": (
        ItemNotFound,
        lambda m, w: save_draft(user=m, to=["bob@example.test"], in_reply_to_item_id=w["received"]),
    ),
    "reply_to_her_item": (
        ItemNotFound,
        lambda m, w: send_and_deliver(user=m, to=["bob@example.test"], text="x", in_reply_to_item_id=w["received"]),
    ),
    "send_as_her": (
        SenderNotAllowed,
        lambda m, w: send_and_deliver(user=m, from_address="alice@example.test", to=["bob@example.test"], text="x"),
    ),
    "get_item": (ItemNotFound, lambda m, w: selectors.get_item_for_user(user=m, item_id=w["received"])),
    "get_thread": (ItemNotFound, lambda m, w: selectors.get_thread_for_user(user=m, thread_id=w["thread"])),
    "thread_items": (ItemNotFound, lambda m, w: list(selectors.thread_items(user=m, thread_id=w["thread"]))),
    "labelled_items": (LabelNotFound, lambda m, w: list(selectors.labelled_items(user=m, label_id=w["label"]))),
    "raw_message": (ItemNotFound, lambda m, w: selectors.raw_message_for_user(user=m, item_id=w["draft"])),
    "delivery_status": (ItemNotFound, lambda m, w: list(selectors.delivery_status_for_user(user=m, item_id=w["sent"]))),
}


@pytest.mark.parametrize("attempt", ATTEMPTS.values(), ids=ATTEMPTS.keys())
def test_mallory_using_alices_ids_finds_nothing_and_changes_nothing(mallory, world, attempt):
    error, call = attempt
    before = snapshot()

    with pytest.raises(error):
        call(mallory, world)

    assert snapshot() == before


@pytest.mark.parametrize("attempt", ATTEMPTS.values(), ids=ATTEMPTS.keys())
def test_alices_ids_passed_as_strings_are_not_found_either(mallory, world, attempt):
    error, call = attempt
    before = snapshot()

    with pytest.raises(error):
        call(mallory, {key: str(value) for key, value in world.items()})

    assert snapshot() == before


def test_mallorys_listings_never_show_alices_mail(mallory, world):
    assert pks(selectors.items_in_folder(user=mallory, folder=Folder.INBOX)) == [world["own_item"]]
    for folder in (Folder.SENT, Folder.DRAFTS, Folder.TRASH, Folder.SPAM, Folder.ARCHIVE):
        assert not selectors.items_in_folder(user=mallory, folder=folder).exists()
    assert not selectors.starred_items(user=mallory).exists()
    assert selectors.folder_counts(user=mallory)[Folder.INBOX] == {"total": 1, "unread": 1}


def test_a_reply_mallory_receives_to_alices_message_does_not_join_alices_thread(alice, mallory, world):
    alices_message = MailboxItem.objects.get(pk=world["received"]).message
    before = Thread.objects.get(pk=world["thread"])

    [item] = deliver(
        raw_email(subject="Re: Hi Alice", to=mallory.username, in_reply_to=f"<{alices_message.message_id}>"), mallory
    )

    assert item.thread.user == mallory
    assert item.thread_id != world["thread"]
    after = Thread.objects.get(pk=world["thread"])
    assert (after.message_count, after.unread_count) == (before.message_count, before.unread_count)


def test_mallory_deleting_her_copy_of_a_shared_message_leaves_alices_copy(alice, mallory, world):
    raw = raw_email(subject="To both", to="alice@example.test, mallory@example.test")
    alices, mallorys = deliver(raw, alice, mallory)
    trash_items(user=mallory, item_ids=[mallorys.pk])

    delete_forever(user=mallory, item_ids=[mallorys.pk])

    alices.refresh_from_db()
    assert alices.folder == Folder.INBOX
    assert Message.objects.filter(pk=alices.message_id).exists()


def pks(queryset) -> list[int]:
    return [item.pk for item in queryset]
