"""send_message / send_draft: validation, local delivery, queued external mail, delivery bookkeeping."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.addresses import InvalidAddress
from accounts.services import add_alias
from delivery.models import DeliveryEvent
from delivery.services import record_delivery_event, refresh_message_status, run_delivery, send_message
from mailboxes import selectors
from mailboxes.blobstore import read_blob
from mailboxes.compose import OutgoingAttachment
from mailboxes.exceptions import HeaderInjection, MessageTooLarge, NoRecipients, SenderNotAllowed, TooManyRecipients
from mailboxes.models import Attachment, Blob, Folder, MailboxItem, Message, Recipient
from mailboxes.parsing import parse_message
from tests.factories import UserFactory, send_and_deliver

pytestmark = pytest.mark.django_db


def item_of(user, message, origin=MailboxItem.Origin.RECEIVED) -> MailboxItem:
    return MailboxItem.objects.get(user=user, message=message, origin=origin)


def events_of(recipient: Recipient) -> list[str]:
    return list(recipient.events.order_by("timestamp", "pk").values_list("event_type", flat=True))


def nothing_stored() -> bool:
    return not Message.objects.exists() and not Recipient.objects.exists() and not MailboxItem.objects.exists()


# --- recipients: to, cc, bcc ---------------------------------------------------


def test_to_cc_and_bcc_recipients_each_get_an_inbox_copy(alice, bob, carol, mallory):
    message = send_and_deliver(
        user=alice,
        to=["bob@example.test"],
        cc=["carol@example.test"],
        bcc=["mallory@example.test"],
        subject="Plans",
        text="Let's meet.",
    )

    for user in (bob, carol, mallory):
        item = item_of(user, message)
        assert item.folder == Folder.INBOX
        assert item.is_read is False
    sent = item_of(alice, message, MailboxItem.Origin.SENT)
    assert sent.folder == Folder.SENT
    assert sent.is_read is True
    assert sorted(message.recipients.values_list("address", "kind")) == [
        ("bob@example.test", "to"),
        ("carol@example.test", "cc"),
        ("mallory@example.test", "bcc"),
    ]


def test_bcc_recipient_is_hidden_from_other_recipients_and_from_the_stored_bytes(alice, bob, carol):
    message = send_and_deliver(
        user=alice, to=["bob@example.test"], bcc=["Carol <carol@example.test>"], subject="Surprise", text="Shh."
    )

    raw = read_blob(message.blob)
    assert b"carol" not in raw.lower()
    # No Bcc header line (the random hex Message-ID may well contain "bcc").
    assert not re.search(rb"(?im)^bcc:", raw)
    bob_item = item_of(bob, message)
    assert b"carol" not in selectors.raw_message_for_user(user=bob, item_id=bob_item.pk).lower()
    assert all(e["address"] != "carol@example.test" for e in [*message.to, *message.cc])
    assert "carol@example.test" not in bob_item.thread.addresses
    # Bob and Carol see no delivery status at all; only the sender does.
    assert list(selectors.delivery_status_for_user(user=bob, item_id=bob_item.pk)) == []
    carol_item = item_of(carol, message)
    assert carol_item.folder == Folder.INBOX
    assert list(selectors.delivery_status_for_user(user=carol, item_id=carol_item.pk)) == []


def test_sender_delivery_status_shows_the_bcc_recipient(alice, bob, carol):
    message = send_and_deliver(user=alice, to=["bob@example.test"], bcc=["carol@example.test"], subject="x", text="y")

    sent = item_of(alice, message, MailboxItem.Origin.SENT)
    rows = list(
        selectors.delivery_status_for_user(user=alice, item_id=sent.pk).values_list("address", "kind", "status")
    )
    assert rows == [
        ("bob@example.test", "to", Recipient.Status.DELIVERED),
        ("carol@example.test", "bcc", Recipient.Status.DELIVERED),
    ]


def test_same_address_in_to_cc_and_bcc_makes_one_recipient_and_one_copy(alice, bob):
    message = send_and_deliver(
        user=alice,
        to=["bob@example.test"],
        cc=["Bob@Example.test"],
        bcc=["BOB@example.test"],
        subject="Once",
        text="Only once please.",
    )

    assert list(message.recipients.values_list("address", "kind")) == [("bob@example.test", "to")]
    assert MailboxItem.objects.filter(user=bob).count() == 1


def test_primary_address_and_alias_of_one_user_give_that_user_one_copy(alice, bob):
    add_alias(user=bob, address="builder@example.test")

    message = send_and_deliver(user=alice, to=["bob@example.test", "builder@example.test"], subject="x", text="y")

    assert message.recipients.count() == 2
    assert MailboxItem.objects.filter(user=bob, message=message).count() == 1
    assert set(message.recipients.values_list("user", flat=True)) == {bob.pk}


def test_a_single_address_string_is_accepted_as_the_to_field(alice, bob):
    message = send_and_deliver(user=alice, to="Bob <bob@example.test>", subject="One string", text="y")

    assert list(message.recipients.values_list("address", "name")) == [("bob@example.test", "Bob")]
    assert item_of(bob, message).folder == Folder.INBOX


def test_comma_separated_entry_gives_several_recipients(alice, bob, carol):
    message = send_and_deliver(user=alice, to=["bob@example.test, Carol <carol@example.test>"], subject="x", text="y")

    assert sorted(message.recipients.values_list("address", flat=True)) == ["bob@example.test", "carol@example.test"]


# --- who may send what -----------------------------------------------------------


def test_sender_may_send_from_own_alias(alice, bob):
    add_alias(user=alice, address="a.liddell@example.test")

    message = send_and_deliver(user=alice, from_address="A.Liddell@example.test", to=["bob@example.test"], text="hi")

    assert message.from_address == "a.liddell@example.test"
    assert b"From: Alice Liddell <a.liddell@example.test>" in read_blob(message.blob)


def test_sending_from_someone_elses_address_is_refused_naming_from(alice, bob):
    with pytest.raises(SenderNotAllowed) as excinfo:
        send_and_deliver(user=alice, from_address="bob@example.test", to=["carol@example.test"], text="I am Bob")

    assert excinfo.value.field == "from"
    assert nothing_stored()


def test_sending_from_an_unhosted_address_is_refused(alice):
    with pytest.raises(SenderNotAllowed) as excinfo:
        send_and_deliver(user=alice, from_address="ceo@bank.example", to=["victim@remote.example"], text="Pay now")

    assert excinfo.value.field == "from"


@pytest.mark.parametrize(
    "subject",
    [
        "Hi\r\nBcc: victim@remote.example",
        "Hi\nBcc: victim@remote.example",
        "Hi\rthere",
        "Hi\u2028Bcc: victim@remote.example",
        "Hi\x85there",
        "Hi\x0bthere",
        "Hi\x00there",
    ],
)
def test_line_breaks_and_control_characters_in_subject_are_refused_as_header_injection(alice, bob, subject):
    with pytest.raises(HeaderInjection) as excinfo:
        send_and_deliver(user=alice, to=["bob@example.test"], subject=subject, text="x")

    assert excinfo.value.field == "subject"
    assert nothing_stored()


def test_line_break_in_attachment_file_name_is_refused(alice, bob):
    attachment = OutgoingAttachment(filename="a.txt\r\nBcc: x@remote.example", content_type="text/plain", content=b"x")

    with pytest.raises(HeaderInjection) as excinfo:
        send_and_deliver(user=alice, to=["bob@example.test"], text="x", attachments=[attachment])

    assert excinfo.value.field == "attachments"


@pytest.mark.parametrize("field", ["to", "cc", "bcc"])
@pytest.mark.parametrize(
    "bad",
    ["not-an-address", "bob@", "@example.test", "bob@exa mple.test", "bob smith@example.test", "a@b.example;c"],
)
def test_invalid_address_is_refused_naming_its_field(alice, bob, field, bad):
    recipients = {"to": ["bob@example.test"], "cc": [], "bcc": []}
    recipients[field] = [*recipients[field], bad]

    with pytest.raises(InvalidAddress) as excinfo:
        send_and_deliver(user=alice, subject="x", text="y", **recipients)

    assert excinfo.value.field == field
    assert nothing_stored()


@pytest.mark.parametrize("field", ["to", "cc", "bcc"])
def test_line_break_in_an_address_is_refused_naming_its_field(alice, field):
    with pytest.raises(InvalidAddress) as excinfo:
        send_and_deliver(
            user=alice, subject="x", text="y", **{field: ["Bob\r\nBcc: x@remote.example <bob@example.test>"]}
        )

    assert excinfo.value.field == field


def test_message_without_recipients_is_refused(alice):
    with pytest.raises(NoRecipients) as excinfo:
        send_and_deliver(user=alice, to=[], cc=["  "], subject="To nobody", text="x")

    assert excinfo.value.field == "to"
    assert nothing_stored()


def test_too_many_recipients_are_refused(alice, settings):
    settings.MAIL_MAX_RECIPIENTS = 2

    with pytest.raises(TooManyRecipients) as excinfo:
        send_and_deliver(user=alice, to=["a@remote.example", "b@remote.example"], bcc=["c@remote.example"], text="x")

    assert excinfo.value.field == "to"
    assert nothing_stored()


def test_duplicates_do_not_count_against_the_recipient_limit(alice, settings):
    settings.MAIL_MAX_RECIPIENTS = 2

    message = send_and_deliver(
        user=alice, to=["a@remote.example", "b@remote.example"], cc=["A@remote.example"], text="x"
    )

    assert message.recipients.count() == 2


def test_message_larger_than_the_limit_is_refused_and_nothing_is_stored(alice, bob, settings):
    settings.MAIL_MAX_MESSAGE_BYTES = 4000
    big = OutgoingAttachment(filename="big.bin", content_type="application/octet-stream", content=b"\x00" * 5000)

    with pytest.raises(MessageTooLarge) as excinfo:
        send_and_deliver(user=alice, to=["bob@example.test"], text="x", attachments=[big])

    assert excinfo.value.field == "attachments"
    assert nothing_stored()
    assert not Blob.objects.exists()


# --- local resolution: aliases, sub-addresses, case, unknown users ---------------


def test_mail_to_an_alias_is_delivered_to_its_owner(alice, bob):
    add_alias(user=bob, address="builder@example.test")

    message = send_and_deliver(user=alice, to=["builder@example.test"], text="x")

    recipient = message.recipients.get()
    assert recipient.user == bob
    assert recipient.status == Recipient.Status.DELIVERED
    assert item_of(bob, message).folder == Folder.INBOX


def test_plus_addressed_mail_is_delivered_to_the_base_user(alice, bob):
    message = send_and_deliver(user=alice, to=["bob+newsletters@example.test"], text="x")

    assert message.recipients.get().user == bob
    assert item_of(bob, message).folder == Folder.INBOX
    assert not MailboxItem.objects.filter(user=alice, origin=MailboxItem.Origin.RECEIVED).exists()


def test_local_part_is_matched_case_insensitively(alice, bob):
    message = send_and_deliver(user=alice, to=["BoB@EXAMPLE.test"], text="x")

    recipient = message.recipients.get()
    assert recipient.user == bob
    assert recipient.address == "BoB@example.test"  # the local part keeps its case; the domain is normalised
    assert item_of(bob, message)


def test_unknown_user_on_a_hosted_domain_bounces_with_5_1_1(alice):
    message = send_and_deliver(user=alice, to=["nobody@example.test"], subject="Hello?", text="x")

    recipient = message.recipients.get()
    assert recipient.status == Recipient.Status.BOUNCED
    assert recipient.smtp_code == 550
    assert recipient.enhanced_status == "5.1.1"
    assert recipient.user is None
    assert events_of(recipient) == ["queued", "bounced"]
    bounce = recipient.events.get(event_type="bounced")
    assert bounce.transport == "local"
    assert bounce.reject_reason == "invalid"
    assert bounce.message_id == message.pk
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    # The sender keeps the Sent copy of what they tried to send.
    assert item_of(alice, message, MailboxItem.Origin.SENT).folder == Folder.SENT


def test_inactive_user_is_treated_as_unknown_and_bounces(alice, bob):
    bob.is_active = False
    bob.save()

    message = send_and_deliver(user=alice, to=["bob@example.test"], text="x")

    assert message.recipients.get().status == Recipient.Status.BOUNCED
    assert not MailboxItem.objects.filter(user=bob).exists()


def test_external_recipient_is_queued_for_the_transport_until_a_worker_runs(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as dispatched:
        message = send_message(user=alice, to=["Friend <friend@remote.example>"], text="x")

    assert len(dispatched) == 1  # the delivery task, sent only once the outbox rows are committed
    recipient = message.recipients.get()
    assert recipient.status == Recipient.Status.QUEUED
    assert recipient.user is None
    assert recipient.name == "Friend"
    assert events_of(recipient) == ["queued"]
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED


# --- message status and the event log -----------------------------------------------


def test_message_delivered_to_every_recipient_is_sent(alice, bob, carol):
    message = send_and_deliver(user=alice, to=["bob@example.test"], cc=["carol@example.test"], text="x")

    message.refresh_from_db()
    assert message.status == Message.Status.SENT


def test_message_with_one_bounce_and_one_delivery_is_partially_failed(alice, bob):
    message = send_and_deliver(user=alice, to=["bob@example.test", "nobody@example.test"], text="x")

    message.refresh_from_db()
    assert message.status == Message.Status.PARTIALLY_FAILED


def test_message_with_any_queued_recipient_is_queued(alice, bob):
    message = send_message(user=alice, to=["bob@example.test", "nobody@example.test", "far@remote.example"], text="x")
    Recipient.objects.filter(address="far@remote.example").update(next_attempt_at=timezone.now() + timedelta(hours=1))
    run_delivery()

    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED


def test_each_recipient_gets_queued_then_delivered_events_in_order(alice, bob, carol):
    message = send_and_deliver(user=alice, to=["bob@example.test"], bcc=["carol@example.test"], text="x")

    for recipient in message.recipients.all():
        assert events_of(recipient) == ["queued", "delivered"]
        delivered = recipient.events.get(event_type="delivered")
        assert delivered.transport == "local"
        assert recipient.smtp_code == 250
        assert recipient.attempts == 1
        assert recipient.last_attempt_at <= delivered.timestamp
    assert DeliveryEvent.objects.filter(message=message).count() == 4


def test_later_events_are_appended_and_move_the_derived_statuses(alice, bob):
    message = send_message(user=alice, to=["far@remote.example", "bob@example.test"], text="x")
    remote = message.recipients.get(address="far@remote.example")
    Recipient.objects.filter(pk=remote.pk).update(next_attempt_at=timezone.now() + timedelta(hours=1))
    run_delivery()  # bob only: far@ is not due yet

    record_delivery_event(
        recipient=remote, event_type="deferred", transport="smtp", smtp_code=451, enhanced_status="4.7.1"
    )
    refresh_message_status(message)
    remote.refresh_from_db()
    message.refresh_from_db()
    assert (remote.status, remote.smtp_code, message.status) == (Recipient.Status.DEFERRED, 451, Message.Status.QUEUED)

    record_delivery_event(
        recipient=remote, event_type="bounced", transport="smtp", smtp_code=550, mta_response="550 5.1.1 no such user"
    )
    refresh_message_status(message)
    remote.refresh_from_db()
    message.refresh_from_db()
    assert events_of(remote) == ["queued", "deferred", "bounced"]
    assert (remote.status, remote.response) == (Recipient.Status.BOUNCED, "550 5.1.1 no such user")
    assert message.status == Message.Status.PARTIALLY_FAILED
    assert DeliveryEvent.objects.filter(message=message).count() == 5


# --- writing to yourself, non-ASCII, attachments ------------------------------------------


def test_writing_to_yourself_gives_a_sent_copy_and_an_inbox_copy_in_one_thread(alice):
    message = send_and_deliver(user=alice, to=["alice@example.test"], subject="Note to self", text="Buy milk")

    sent = item_of(alice, message, MailboxItem.Origin.SENT)
    received = item_of(alice, message, MailboxItem.Origin.RECEIVED)
    assert (sent.folder, sent.is_read) == (Folder.SENT, True)
    assert (received.folder, received.is_read) == (Folder.INBOX, False)
    assert sent.thread_id == received.thread_id
    thread = sent.thread
    thread.refresh_from_db()
    assert thread.message_count == 1
    assert thread.unread_count == 1
    assert message.status == Message.Status.SENT


def test_non_ascii_display_names_and_subject_round_trip_as_encoded_words(bob):
    zoe = UserFactory(address="zoe@example.test", display_name="Zoë Ångström")
    subject = "Grüße aus Köln — 你好"

    message = send_and_deliver(user=zoe, to=['"Jürgen Groß" <bob@example.test>'], subject=subject, text="Schön, ja.")

    raw = read_blob(message.blob)
    header_section = raw.split(b"\r\n\r\n", 1)[0]
    assert header_section.isascii()
    assert b"From: =?utf-8?" in header_section
    parsed = parse_message(raw)
    assert parsed.subject == subject
    assert parsed.from_name == "Zoë Ångström"
    assert parsed.to == [{"name": "Jürgen Groß", "address": "bob@example.test"}]
    assert "Schön, ja." in parsed.text
    bob_item = item_of(bob, message)
    assert bob_item.message.subject == subject
    assert bob_item.message.from_name == "Zoë Ångström"
    assert bob_item.thread.subject == subject


def test_display_name_with_a_comma_round_trips(alice, bob):
    message = send_and_deliver(user=alice, to=['"Builder, Bob" <bob@example.test>'], text="x")

    assert message.to == [{"name": "Builder, Bob", "address": "bob@example.test"}]
    assert message.recipients.get().name == "Builder, Bob"


def test_attachments_are_stored_with_their_metadata(alice, bob):
    pdf = OutgoingAttachment(filename="report.pdf", content_type="application/pdf", content=b"%PDF-1.4 fake")

    message = send_and_deliver(user=alice, to=["bob@example.test"], text="See attached.", attachments=[pdf])

    attachment = message.attachments.get()
    assert (attachment.filename, attachment.content_type, attachment.size) == ("report.pdf", "application/pdf", 13)
    assert read_blob(attachment.blob) == b"%PDF-1.4 fake"
    assert message.has_attachments is True
    assert item_of(bob, message).thread.has_attachments is True


def test_same_attachment_sent_twice_is_stored_once(alice, bob):
    pdf = OutgoingAttachment(filename="report.pdf", content_type="application/pdf", content=b"%PDF-1.4 same bytes")

    first = send_and_deliver(user=alice, to=["bob@example.test"], subject="One", text="a", attachments=[pdf])
    second = send_and_deliver(user=alice, to=["bob@example.test"], subject="Two", text="b", attachments=[pdf])

    assert Attachment.objects.count() == 2
    assert first.attachments.get().blob_id == second.attachments.get().blob_id
    assert Blob.objects.filter(attachments__isnull=False).distinct().count() == 1


def test_message_shared_by_several_mailboxes_is_stored_once(alice, bob, carol):
    message = send_and_deliver(user=alice, to=["bob@example.test", "carol@example.test"], text="x")

    assert Message.objects.count() == 1
    assert Blob.objects.count() == 1
    assert MailboxItem.objects.filter(message=message).count() == 3
