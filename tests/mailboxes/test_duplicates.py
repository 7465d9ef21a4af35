"""Duplicates: only a true second copy of a message is collapsed, never another message reusing its Message-ID."""

import logging

import pytest

from mailboxes.models import MailboxItem, Message, Thread
from mailboxes.parsing import parse_message
from mailboxes.services import place_message, store_message
from mailboxes.services.placement import Delivery, place_messages

pytestmark = pytest.mark.django_db

SHARED_ID = "15090.61304.110929.45684@aaa.zzz.org"
TRACE = (
    b"Return-Path: <bbb@zzz.org>\n"
    b"Delivered-To: bbb@zzz.org\n"
    b"Received: by mail.zzz.org (Postfix, from userid 889)\n"
    b"\tid 27CEAD38CC; Fri,  4 May 2001 14:05:44 -0400 (EDT)\n"
)
AUTHOR = b"Message-ID: <15090.61304.110929.45684@aaa.zzz.org>\nFrom: bbb@ddd.com (John X. Doe)\nTo: bbb@zzz.org\n"
WRITTEN = b"Subject: This is a test message\nDate: Fri, 4 May 2001 14:05:44 -0400\n\n\n"
PLAIN = b"MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n"
LIKE = b"Hi,\n\nDo you like this message?\n\n-Me\n"

# Shaped like CPython's Lib/test/test_email/data/msg_01, 03, 14, 20 and 29: five different messages,
# one Message-ID and one sender.
CPYTHON_SHAPED = {
    "msg_01": TRACE + PLAIN + AUTHOR + WRITTEN + LIKE,
    "msg_03": TRACE + AUTHOR + WRITTEN + LIKE,
    "msg_14": TRACE
    + PLAIN.replace(b"text/plain", b"text")
    + AUTHOR
    + WRITTEN
    + b"Hi,\n\nI'm sorry but I'm using a drainbread ISP, which although big and\nwealthy can't seem to generate"
    b" standard compliant email. :(\n\nThis message has a Content-Type: header with no subtype.  I hope you\n"
    b"can still read it.\n\n-Me\n",
    "msg_20": TRACE + PLAIN + AUTHOR + b"Cc: ccc@zzz.org\nCC: ddd@zzz.org\ncc: eee@zzz.org\n" + WRITTEN + LIKE,
    "msg_29": TRACE
    + PLAIN.replace(
        b"charset=us-ascii\n",
        b"charset=us-ascii;\n     title*0*=\"us-ascii'en'This%20is%20even%20more%20\";\n"
        b'     title*1*="%2A%2A%2Afun%2A%2A%2A%20";\n     title*2="isn\'t it!"\n',
    )
    + AUTHOR
    + WRITTEN
    + LIKE,
}


def copy_in_transit(raw: bytes) -> bytes:
    """The same message as another path delivers it: other trace headers, CRLF, refolded, reordered."""
    headers, _, body = raw.partition(b"\n\n")
    kept = [line for line in headers.split(b"\n") if not line.startswith((b"Return-Path", b"Delivered-To"))]
    kept = [line for line in kept if not line.startswith((b"Received", b"\tid "))]
    written = b"\n".join(kept).replace(b"Subject: This is", b"Subject: This\n is").replace(b"\nTo: ", b"\nTO: ")
    date = next(line for line in written.split(b"\n") if line.startswith(b"Date:"))
    written = b"\n".join([line for line in written.split(b"\n") if line != date] + [date])
    trace = (
        b"Authentication-Results: mx.example.test; spf=pass smtp.mailfrom=ddd.com\n"
        b"Received: from relay.ddd.com (relay.ddd.com [192.0.2.7]) by mx.example.test; Sat, 5 May 2001 01:00:00 +0000\n"
        b"Return-Path: <bounces@ddd.com>\nDelivered-To: alice@example.test\nX-Spam-Score: 0.1\n"
        b"ARC-Seal: i=1; a=rsa-sha256; cv=none; d=relay.ddd.com; s=arc; b=abc\n"
    )
    return (trace + written + b"\n\n" + body + b"\n").replace(b"\n", b"\r\n")


def stored(raw: bytes) -> Message:
    return store_message(raw=raw)[0]


def place(user, messages: list[Message], how: str) -> list[MailboxItem]:
    if how == "one by one":
        return [place_message(user=user, message=message) for message in messages]
    return place_messages(user=user, deliveries=[Delivery(message=message) for message in messages])


PATHS = pytest.mark.parametrize("how", ["one by one", "in a batch"])


# --- the content fingerprint -----------------------------------------------------------------


def test_a_copy_in_transit_has_the_fingerprint_of_the_original():
    original = CPYTHON_SHAPED["msg_01"]

    assert parse_message(copy_in_transit(original)).fingerprint == parse_message(original).fingerprint


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"Do you like", b"Do you hate"),  # the body
        (b"Subject: This is a test message", b"Subject: Pay this invoice"),
        (b"From: bbb@ddd.com (John X. Doe)", b"From: bbb@ddd.com (Mallory)"),
        (b"To: bbb@zzz.org", b"To: other@zzz.org"),
    ],
)
def test_what_the_author_wrote_changes_the_fingerprint(old, new):
    original = CPYTHON_SHAPED["msg_01"]

    assert parse_message(original.replace(old, new)).fingerprint != parse_message(original).fingerprint


def test_the_cpython_samples_sharing_one_message_id_have_five_fingerprints():
    parsed = [parse_message(raw) for raw in CPYTHON_SHAPED.values()]

    assert {p.message_id for p in parsed} == {SHARED_ID}
    assert {p.from_address for p in parsed} == {"bbb@ddd.com"}
    assert len({p.fingerprint for p in parsed}) == 5


# --- placement -------------------------------------------------------------------------------


@PATHS
def test_different_messages_sharing_a_message_id_and_sender_are_all_kept_in_one_thread(alice, how):
    messages = [stored(raw) for raw in CPYTHON_SHAPED.values()]

    items = place(alice, messages, how)

    assert [item.message_id for item in items] == [m.pk for m in messages]
    assert MailboxItem.objects.filter(user=alice).count() == 5
    thread = Thread.objects.get(user=alice)  # one Message-ID: one conversation, each version in it
    assert (thread.message_count, thread.unread_count) == (5, 5)


@PATHS
def test_a_forged_first_copy_does_not_hide_the_real_message(alice, how):
    real = CPYTHON_SHAPED["msg_01"]
    forged = real.replace(LIKE, b"Hi,\n\nOur bank details changed: pay to IBAN XX00 1234.\n\n-Me\n")

    items = place(alice, [stored(forged), stored(real)], how)

    assert items[0].pk != items[1].pk
    bodies = {item.message.snippet for item in MailboxItem.objects.filter(user=alice).select_related("message")}
    assert any("Do you like this message?" in snippet for snippet in bodies)
    assert len(bodies) == 2


@PATHS
def test_a_copy_differing_in_trace_headers_only_is_shown_once_and_the_collapse_logged(alice, how, caplog):
    first, copy = stored(CPYTHON_SHAPED["msg_20"]), stored(copy_in_transit(CPYTHON_SHAPED["msg_20"]))

    with caplog.at_level(logging.INFO, logger="mailboxes.services.placement"):
        items = place(alice, [first, copy], how)

    assert items[0].pk == items[1].pk and items[0].message_id == first.pk
    assert MailboxItem.objects.filter(user=alice).count() == 1
    [record] = [r for r in caplog.records if r.name == "mailboxes.services.placement"]
    assert record.levelno == logging.INFO
    assert f"user {alice.pk} " in record.getMessage()
    assert f"message {copy.pk} " in record.getMessage()
    assert SHARED_ID in record.getMessage()


@PATHS
def test_a_copy_already_in_the_mailbox_is_collapsed(alice, how):
    [held] = place(alice, [stored(CPYTHON_SHAPED["msg_29"])], how)

    [again] = place(alice, [stored(copy_in_transit(CPYTHON_SHAPED["msg_29"]))], how)

    assert again.pk == held.pk


def test_a_message_stored_before_fingerprints_is_never_taken_for_a_duplicate(alice):
    old = stored(CPYTHON_SHAPED["msg_01"])
    Message.objects.filter(pk=old.pk).update(content_fingerprint="")
    old.refresh_from_db()
    place_message(user=alice, message=old)

    again = place_message(user=alice, message=stored(CPYTHON_SHAPED["msg_01"]))

    assert again.message_id != old.pk  # shown twice rather than risk hiding one
