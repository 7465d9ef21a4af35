"""Drafts: save, update, discard, send."""

import re

import pytest
from django.core.files.storage import storages

from accounts.addresses import InvalidAddress
from accounts.services import add_alias
from mailboxes.blobstore import read_blob
from mailboxes.compose import OutgoingAttachment
from mailboxes.exceptions import DraftNotFound, HeaderInjection, NoRecipients
from mailboxes.models import Attachment, Blob, Folder, MailboxItem, Message, Recipient, Thread
from mailboxes.parsing import parse_message
from mailboxes.services import discard_draft, restore_items, save_draft, trash_items
from tests.factories import send_and_deliver, send_draft_and_deliver

pytestmark = pytest.mark.django_db

NOTES = OutgoingAttachment(filename="notes.txt", content_type="text/plain", content=b"draft notes")
PHOTO = OutgoingAttachment(filename="photo.png", content_type="image/png", content=b"\x89PNG fake")


def reload(item: MailboxItem) -> MailboxItem:
    item.refresh_from_db()
    item.message.refresh_from_db()
    return item


def blob_file_exists(sha256: str) -> bool:
    return storages["mailstore"].exists(Blob(sha256=sha256).storage_key)


def stored(item: MailboxItem):
    return parse_message(read_blob(reload(item).message.blob))


# --- save and update ------------------------------------------------------------------------


def test_save_draft_keeps_it_in_drafts_with_its_bcc(alice):
    draft = save_draft(
        user=alice,
        to=["bob@example.test"],
        cc=["carol@example.test"],
        bcc=["Secret <secret@remote.example>"],
        subject="Plan",
        text="First thoughts",
    )

    assert (draft.folder, draft.origin, draft.is_read) == (Folder.DRAFTS, MailboxItem.Origin.SENT, True)
    assert draft.message.status == Message.Status.DRAFT
    assert draft.message.sender == alice
    parsed = stored(draft)
    assert parsed.bcc == [{"name": "Secret", "address": "secret@remote.example"}]
    assert parsed.subject == "Plan"
    assert parsed.text.strip() == "First thoughts"
    assert not Recipient.objects.exists()
    assert draft.thread.message_count == 1


def test_draft_may_have_no_recipients_yet(alice):
    draft = save_draft(user=alice, subject="Ideas", text="...")

    assert draft.folder == Folder.DRAFTS


def test_update_replaces_the_content_and_keeps_the_item_and_message_id(alice, django_capture_on_commit_callbacks):
    draft = save_draft(user=alice, to=["bob@example.test"], subject="Plan", text="v1")
    message_id, old_blob, first_saved = draft.message.message_id, draft.message.blob_id, draft.received_at

    with django_capture_on_commit_callbacks(execute=True):
        updated = save_draft(user=alice, draft_id=draft.pk, to=["carol@example.test"], subject="Plan B", text="v2")

    assert updated.pk == draft.pk
    assert MailboxItem.objects.filter(user=alice).count() == 1
    assert Message.objects.count() == 1
    updated = reload(updated)
    assert updated.message.message_id == message_id
    assert updated.message.subject == "Plan B"
    assert updated.received_at > first_saved
    assert [e["address"] for e in stored(updated).to] == ["carol@example.test"]
    assert not Blob.objects.filter(pk=old_blob).exists()
    assert not blob_file_exists(old_blob)
    thread = Thread.objects.get(pk=updated.thread_id)
    assert (thread.subject, thread.snippet, thread.message_count) == ("Plan B", "v2", 1)


def test_update_without_attachments_keeps_them(alice):
    draft = save_draft(user=alice, to=["bob@example.test"], text="v1", attachments=[NOTES, PHOTO])

    save_draft(user=alice, draft_id=draft.pk, to=["bob@example.test"], text="v2", attachments=None)

    message = reload(draft).message
    assert list(message.attachments.values_list("filename", flat=True)) == ["notes.txt", "photo.png"]
    assert read_blob(message.attachments.get(filename="photo.png").blob) == b"\x89PNG fake"
    assert message.has_attachments is True


def test_update_with_a_list_of_attachments_replaces_them(alice, django_capture_on_commit_callbacks):
    draft = save_draft(user=alice, to=["bob@example.test"], text="v1", attachments=[NOTES, PHOTO])
    photo_blob = draft.message.attachments.get(filename="photo.png").blob_id

    with django_capture_on_commit_callbacks(execute=True):
        save_draft(user=alice, draft_id=draft.pk, to=["bob@example.test"], text="v2", attachments=[NOTES])

    assert list(reload(draft).message.attachments.values_list("filename", flat=True)) == ["notes.txt"]
    assert not Blob.objects.filter(pk=photo_blob).exists()

    save_draft(user=alice, draft_id=draft.pk, to=["bob@example.test"], text="v3", attachments=[])

    assert not reload(draft).message.attachments.exists()
    assert reload(draft).message.has_attachments is False


def test_update_is_validated_like_a_new_draft(alice):
    draft = save_draft(user=alice, to=["bob@example.test"], subject="Plan", text="v1")

    with pytest.raises(HeaderInjection):
        save_draft(user=alice, draft_id=draft.pk, subject="Plan\r\nBcc: x@remote.example", text="v2")
    with pytest.raises(InvalidAddress) as excinfo:
        save_draft(user=alice, draft_id=draft.pk, cc=["not an address"], text="v2")

    assert excinfo.value.field == "cc"
    assert reload(draft).message.subject == "Plan"


def test_a_sent_message_is_not_a_draft(alice, bob):
    message = send_and_deliver(user=alice, to=["bob@example.test"], text="x")
    sent = MailboxItem.objects.get(user=alice, message=message)

    with pytest.raises(DraftNotFound):
        save_draft(user=alice, draft_id=sent.pk, to=["carol@example.test"], text="rewritten")
    with pytest.raises(DraftNotFound):
        discard_draft(user=alice, draft_id=sent.pk)
    with pytest.raises(DraftNotFound):
        send_draft_and_deliver(user=alice, draft_id=sent.pk)

    assert parse_message(read_blob(message.blob)).text.strip() == "x"


@pytest.mark.parametrize("bad", ["abc", None, 10**20, "1.0"])
def test_non_integer_draft_ids_are_not_found(alice, bad):
    with pytest.raises(DraftNotFound):
        discard_draft(user=alice, draft_id=bad)
    with pytest.raises(DraftNotFound):
        send_draft_and_deliver(user=alice, draft_id=bad)


# --- discard ----------------------------------------------------------------------------------


def test_discard_deletes_the_draft_and_releases_its_blobs(alice, django_capture_on_commit_callbacks):
    draft = save_draft(user=alice, to=["bob@example.test"], text="never mind", attachments=[NOTES])
    blobs = [draft.message.blob_id, draft.message.attachments.get().blob_id]

    with django_capture_on_commit_callbacks(execute=True):
        discard_draft(user=alice, draft_id=draft.pk)

    assert not MailboxItem.objects.exists()
    assert not Message.objects.exists()
    assert not Attachment.objects.exists()
    assert not Thread.objects.exists()
    for sha256 in blobs:
        assert not Blob.objects.filter(pk=sha256).exists()
        assert not blob_file_exists(sha256)


def test_discarding_a_draft_keeps_an_attachment_another_message_still_uses(
    alice, bob, django_capture_on_commit_callbacks
):
    send_and_deliver(user=alice, to=["bob@example.test"], text="sent with notes", attachments=[NOTES])
    draft = save_draft(user=alice, to=["bob@example.test"], text="draft with notes", attachments=[NOTES])
    shared = draft.message.attachments.get().blob_id

    with django_capture_on_commit_callbacks(execute=True):
        discard_draft(user=alice, draft_id=draft.pk)

    assert Blob.objects.filter(pk=shared).exists()
    assert blob_file_exists(shared)


# --- send -------------------------------------------------------------------------------------


def test_send_draft_moves_it_to_sent_and_delivers_it(alice, bob, carol, django_capture_on_commit_callbacks):
    draft = save_draft(
        user=alice, to=["bob@example.test"], bcc=["carol@example.test"], subject="Go", text="Now", attachments=[NOTES]
    )
    draft_blob, message_id = draft.message.blob_id, draft.message.message_id
    assert b"Bcc: carol@example.test" in read_blob(draft.message.blob)

    with django_capture_on_commit_callbacks(execute=True):
        message = send_draft_and_deliver(user=alice, draft_id=draft.pk)

    draft = reload(draft)
    assert (draft.folder, draft.previous_folder) == (Folder.SENT, "")
    assert message.pk == draft.message_id
    assert message.message_id == message_id
    assert message.status == Message.Status.SENT
    raw = read_blob(message.blob)
    assert b"carol" not in raw.lower()
    # No Bcc header line (the random hex Message-ID may well contain "bcc").
    assert not re.search(rb"(?im)^bcc:", raw)
    assert not Blob.objects.filter(pk=draft_blob).exists()
    assert sorted(message.recipients.values_list("address", "kind", "status")) == [
        ("bob@example.test", "to", Recipient.Status.DELIVERED),
        ("carol@example.test", "bcc", Recipient.Status.DELIVERED),
    ]
    for user in (bob, carol):
        received = MailboxItem.objects.get(user=user, message=message)
        assert received.folder == Folder.INBOX
        assert list(received.message.attachments.values_list("filename", flat=True)) == ["notes.txt"]
    assert Thread.objects.get(pk=draft.thread_id).message_count == 1


def test_a_sent_draft_cannot_be_sent_again(alice, bob):
    draft = save_draft(user=alice, to=["bob@example.test"], text="once")
    send_draft_and_deliver(user=alice, draft_id=draft.pk)

    with pytest.raises(DraftNotFound):
        send_draft_and_deliver(user=alice, draft_id=draft.pk)

    assert MailboxItem.objects.filter(user=bob).count() == 1


def test_sending_a_draft_without_recipients_is_refused_and_keeps_the_draft(alice):
    draft = save_draft(user=alice, subject="Later", text="...")

    with pytest.raises(NoRecipients) as excinfo:
        send_draft_and_deliver(user=alice, draft_id=draft.pk)

    assert excinfo.value.field == "to"
    draft = reload(draft)
    assert (draft.folder, draft.message.status) == (Folder.DRAFTS, Message.Status.DRAFT)
    assert not Recipient.objects.exists()


def test_draft_from_an_alias_is_sent_from_that_alias(alice, bob):
    add_alias(user=alice, address="wonderland@example.test")
    draft = save_draft(user=alice, from_address="wonderland@example.test", to=["bob@example.test"], text="x")

    message = send_draft_and_deliver(user=alice, draft_id=draft.pk)

    assert message.from_address == "wonderland@example.test"


def test_draft_with_display_names_needing_quotes_can_be_sent(alice, bob, carol):
    draft = save_draft(
        user=alice,
        to=['"Builder, Bob" <bob@example.test>'],
        cc=['"Danvers (Captain)" <carol@example.test>', '"Say \\"hi\\"" <far@remote.example>'],
        subject="Grüße",
        text="x",
    )

    message = send_draft_and_deliver(user=alice, draft_id=draft.pk)

    assert message.to == [{"name": "Builder, Bob", "address": "bob@example.test"}]
    assert message.cc == [
        {"name": "Danvers (Captain)", "address": "carol@example.test"},
        {"name": 'Say "hi"', "address": "far@remote.example"},
    ]
    assert message.subject == "Grüße"
    assert MailboxItem.objects.filter(user__in=[bob, carol], message=message).count() == 2


def test_sent_draft_text_is_what_was_written(alice, bob):
    draft = save_draft(user=alice, to=["bob@example.test"], text="Line one\nLine two\n\n> quoted", html="<p>Hi</p>")

    message = send_draft_and_deliver(user=alice, draft_id=draft.pk)

    parsed = parse_message(read_blob(message.blob))
    assert parsed.text == "Line one\nLine two\n\n> quoted\n"
    assert parsed.html.strip() == "<p>Hi</p>"


# --- replies ----------------------------------------------------------------------------------


def test_reply_draft_threads_with_its_parent_and_stays_there_when_sent(alice, bob):
    original = send_and_deliver(user=bob, to=["alice@example.test"], subject="Question", text="Why?")
    parent = MailboxItem.objects.get(user=alice, message=original)

    draft = save_draft(
        user=alice, to=["bob@example.test"], subject="Re: Question", text="Because", in_reply_to_item_id=parent.pk
    )

    assert draft.thread_id == parent.thread_id
    assert draft.message.in_reply_to == original.message_id
    assert draft.message.references == [original.message_id]
    assert Thread.objects.get(pk=parent.thread_id).message_count == 2

    # Saving again without naming the parent keeps the reply headers.
    save_draft(user=alice, draft_id=draft.pk, to=["bob@example.test"], subject="Re: Question", text="Because!")
    assert reload(draft).message.in_reply_to == original.message_id

    message = send_draft_and_deliver(user=alice, draft_id=draft.pk)

    bob_original = MailboxItem.objects.get(user=bob, message=original, origin=MailboxItem.Origin.SENT)
    bob_reply = MailboxItem.objects.get(user=bob, message=message)
    assert bob_reply.thread_id == bob_original.thread_id
    assert Thread.objects.get(pk=bob_original.thread_id).message_count == 2


def test_a_draft_made_into_a_reply_while_editing_moves_into_the_parents_thread(alice, bob):
    original = send_and_deliver(user=bob, to=["alice@example.test"], subject="Question", text="Why?")
    parent = MailboxItem.objects.get(user=alice, message=original)
    draft = save_draft(user=alice, to=["bob@example.test"], subject="Answer", text="Because")
    own_thread = draft.thread_id
    assert own_thread != parent.thread_id

    save_draft(user=alice, draft_id=draft.pk, to=["bob@example.test"], text="Because!", in_reply_to_item_id=parent.pk)

    assert reload(draft).thread_id == parent.thread_id
    assert not Thread.objects.filter(pk=own_thread).exists()
    thread = Thread.objects.get(pk=parent.thread_id)
    assert (thread.message_count, thread.unread_count) == (2, 1)

    message = send_draft_and_deliver(user=alice, draft_id=draft.pk)

    assert MailboxItem.objects.get(user=alice, message=message).thread_id == parent.thread_id


def test_a_reply_draft_pointed_at_another_message_moves_to_that_thread(alice, bob):
    first = MailboxItem.objects.get(
        user=alice, message=send_and_deliver(user=bob, to=["alice@example.test"], subject="One", text="1")
    )
    second = MailboxItem.objects.get(
        user=alice, message=send_and_deliver(user=bob, to=["alice@example.test"], subject="Two", text="2")
    )
    draft = save_draft(user=alice, to=["bob@example.test"], text="reply", in_reply_to_item_id=first.pk)
    assert draft.thread_id == first.thread_id

    save_draft(user=alice, draft_id=draft.pk, to=["bob@example.test"], text="reply", in_reply_to_item_id=second.pk)

    assert reload(draft).thread_id == second.thread_id
    assert Thread.objects.get(pk=first.thread_id).message_count == 1
    assert Thread.objects.get(pk=second.thread_id).message_count == 2
    assert first.thread_id != second.thread_id


def test_discarding_a_reply_draft_restores_the_threads_counters(alice, bob):
    original = send_and_deliver(user=bob, to=["alice@example.test"], subject="Question", text="Why?")
    parent = MailboxItem.objects.get(user=alice, message=original)
    draft = save_draft(user=alice, to=["bob@example.test"], text="Hmm", in_reply_to_item_id=parent.pk)

    discard_draft(user=alice, draft_id=draft.pk)

    thread = Thread.objects.get(pk=parent.thread_id)
    assert (thread.message_count, thread.unread_count, thread.snippet) == (1, 1, "Why?")


def test_a_trashed_draft_is_still_a_draft_until_deleted(alice):
    draft = save_draft(user=alice, to=["bob@example.test"], text="x")
    trash_items(user=alice, item_ids=[draft.pk])

    discard_draft(user=alice, draft_id=draft.pk)

    assert not MailboxItem.objects.exists()


def test_a_trashed_draft_cannot_be_edited_or_sent_until_restored(alice, bob):
    draft = save_draft(user=alice, to=["bob@example.test"], text="x")
    trash_items(user=alice, item_ids=[draft.pk])

    with pytest.raises(DraftNotFound):
        save_draft(user=alice, draft_id=draft.pk, to=["bob@example.test"], text="y")
    with pytest.raises(DraftNotFound):
        send_draft_and_deliver(user=alice, draft_id=draft.pk)

    restore_items(user=alice, item_ids=[draft.pk])
    send_draft_and_deliver(user=alice, draft_id=draft.pk)
    assert MailboxItem.objects.get(pk=draft.pk).folder == "sent"
