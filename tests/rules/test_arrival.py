"""The mail rules on the real inbound path: mail sent to the MX over SMTP, then the pipeline.

Tasks run inline after commit (tests/conftest.py): when the MX has answered 250, the message is
placed, and its forwards and vacation replies are submitted and delivered to the loopback SMTP server.
"""

import smtplib
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from delivery.services import run_delivery
from inbound.services.pipeline import process_inbound_messages
from inbound.services.reception import Arrival, accept_messages
from mailboxes.models import Folder, MailboxItem
from mailboxes.parsing import parse_message
from rules.models import BlockedSender, ForwardingAddress, VacationReplyLog
from rules.services.blocking import block_sender
from rules.services.filters import FilterActions, create_filter
from rules.services.forwarding import set_auto_forward
from rules.services.vacation import save_vacation_reply, send_vacation_reply

pytestmark = pytest.mark.django_db(transaction=True)


def message_bytes(*, sender="Sam <sam@sender.example>", to="alice@example.test", subject="Hello", body="Hi!",
                  extra=(), attachments=()) -> bytes:  # fmt: skip
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"] = "Sat, 28 Nov 2026 10:00:00 +0000"
    msg["Message-ID"] = make_msgid(domain="sender.example")
    for name, value in extra:
        msg[name] = value
    msg.set_content(body)
    for filename, content in attachments:
        msg.add_attachment(content, maintype="application", subtype="pdf", filename=filename)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def receive(mx_server, raw: bytes, *, mail_from="sam@sender.example", rcpt=("alice@example.test",)) -> None:
    client = smtplib.SMTP(*mx_server, timeout=60)
    client.ehlo("mail.sender.example")
    client.sendmail(mail_from, list(rcpt), raw)
    client.quit()


def item_of(user, subject: str) -> MailboxItem:
    return (
        MailboxItem.objects.select_related("message")
        .prefetch_related("labels")
        .get(user=user, message__subject=subject)
    )


@pytest.fixture
def sender_domain(dns_server, smtp_server):
    """sender.example (the remote senders' domain), whose MX is the loopback SMTP server."""
    dns_server.resolver.add("sender.example. 300 IN MX 10 mx.sender.example.")
    dns_server.resolver.add("mx.sender.example. 300 IN A 127.0.0.1")
    return smtp_server


def sent_to(smtp_server, address: str) -> list:
    run_delivery()  # (already done after commit; a no-op unless something waits)
    return [m for m in smtp_server.messages if address in m.rcpt_tos]


# --- Filters --------------------------------------------------------------------------------------


def test_a_filter_labels_and_archives_matching_mail_on_arrival(mx_server, alice):
    create_filter(
        user=alice, query="from:shop.example has:attachment",
        actions=FilterActions(new_label="Receipts", skip_inbox=True, mark_read=True, star=True),
    )  # fmt: skip
    receive(mx_server, message_bytes(sender="Shop <orders@shop.example>", subject="Receipt",
                                     attachments=[("receipt.pdf", b"%PDF-1.4 receipt")]))  # fmt: skip
    receive(mx_server, message_bytes(sender="Shop <orders@shop.example>", subject="News, no attachment"))

    receipt = item_of(alice, "Receipt")
    assert receipt.folder == Folder.ARCHIVE
    assert [label.name for label in receipt.labels.all()] == ["Receipts"]
    assert (receipt.is_read, receipt.is_starred) == (True, True)
    assert receipt.thread.unread_count == 0  # the thread's summary follows
    other = item_of(alice, "News, no attachment")
    assert (other.folder, other.labels.count(), other.is_read) == (Folder.INBOX, 0, False)


def test_all_matching_filters_apply_in_order(mx_server, alice):
    create_filter(user=alice, query="from:sam", actions=FilterActions(new_label="Sam"))
    create_filter(user=alice, query="label:sam subject:hello", actions=FilterActions(new_label="Greetings"))
    create_filter(user=alice, query="from:nobody", actions=FilterActions(trash=True))
    receive(mx_server, message_bytes(subject="Hello"))

    item = item_of(alice, "Hello")
    assert sorted(label.name for label in item.labels.all()) == ["Greetings", "Sam"]
    assert item.folder == Folder.INBOX


def test_a_trash_filter_moves_mail_to_trash(mx_server, alice):
    create_filter(user=alice, query="subject:unwanted", actions=FilterActions(trash=True))
    receive(mx_server, message_bytes(subject="Unwanted offer"))
    assert item_of(alice, "Unwanted offer").folder == Folder.TRASH


def test_each_recipient_gets_their_own_rules(mx_server, alice, bob):
    create_filter(user=alice, query="from:sam", actions=FilterActions(skip_inbox=True))
    receive(mx_server, message_bytes(to="alice@example.test, bob@example.test", subject="Both"),
            rcpt=["alice@example.test", "bob@example.test"])  # fmt: skip
    assert item_of(alice, "Both").folder == Folder.ARCHIVE
    assert item_of(bob, "Both").folder == Folder.INBOX


def test_never_send_to_spam_overrides_the_spam_filter(mx_server, alice):
    from tests.inbound.test_spam import spammy_mail

    receive(mx_server, spammy_mail(), mail_from="security@prizes.example")
    create_filter(user=alice, query="from:prizes.example", actions=FilterActions(never_spam=True, new_label="Prizes"))
    receive(mx_server, spammy_mail(), mail_from="security@prizes.example")

    first, second = MailboxItem.objects.filter(user=alice).order_by("pk")
    assert first.folder == Folder.SPAM
    assert second.folder == Folder.INBOX
    assert [label.name for label in second.labels.all()] == ["Prizes"]


def test_mail_left_in_spam_gets_no_filter_actions(mx_server, alice):
    from tests.inbound.test_spam import spammy_mail

    create_filter(user=alice, query="from:prizes.example", actions=FilterActions(new_label="Prizes", star=True))
    receive(mx_server, spammy_mail(), mail_from="security@prizes.example")
    [item] = MailboxItem.objects.filter(user=alice)
    assert (item.folder, item.labels.count(), item.is_starred) == (Folder.SPAM, 0, False)


def test_rules_of_a_batch_are_loaded_once_for_all_its_messages(alice, bob):
    create_filter(user=alice, query="subject:batch", actions=FilterActions(new_label="Batch"))
    create_filter(user=bob, query="subject:batch", actions=FilterActions(star=True))
    from unittest import mock

    with mock.patch("inbound.services.reception.dispatch_processing"):  # queued only, as the MX leaves them
        jobs = accept_messages([
            Arrival(message_bytes(to="alice@example.test", subject=f"Batch {n}"), "sam@sender.example",
                    ["alice@example.test", "bob@example.test"], "127.0.0.1", "mail.sender.example")
            for n in range(6)
        ])  # fmt: skip
    with CaptureQueriesContext(connection) as queries:
        process_inbound_messages(job_ids=[job.pk for job in jobs])
    filter_reads = [q for q in queries.captured_queries if 'FROM "rules_filter"' in q["sql"]]
    assert len(filter_reads) == 1
    assert MailboxItem.objects.filter(user=alice, labels__name="Batch").count() == 6
    assert MailboxItem.objects.filter(user=bob, is_starred=True).count() == 6


# --- Blocked senders ------------------------------------------------------------------------------


def test_mail_from_a_blocked_address_or_domain_goes_to_trash(mx_server, alice):
    block_sender(user=alice, sender="pest@sender.example")
    block_sender(user=alice, sender="junk.example")
    receive(mx_server, message_bytes(sender="Pest <Pest@Sender.Example>", subject="From the pest"))
    receive(mx_server, message_bytes(sender="J <x@mail.junk.example>", subject="From a subdomain"))
    receive(mx_server, message_bytes(subject="From Sam"))

    assert item_of(alice, "From the pest").folder == Folder.TRASH
    assert item_of(alice, "From a subdomain").folder == Folder.TRASH
    assert item_of(alice, "From Sam").folder == Folder.INBOX


def test_a_blocked_sender_gets_no_vacation_reply_and_no_filter_applies(mx_server, alice, sender_domain):
    save_vacation_reply(user=alice, enabled=True, body="Away.")
    create_filter(user=alice, query="from:pest", actions=FilterActions(new_label="Pest"))
    BlockedSender.objects.create(user=alice, kind="address", value="pest@sender.example")
    receive(mx_server, message_bytes(sender="pest@sender.example", subject="Blocked"), mail_from="pest@sender.example")
    assert item_of(alice, "Blocked").labels.count() == 0
    assert sent_to(sender_domain, "pest@sender.example") == []


# --- Vacation reply -------------------------------------------------------------------------------


def test_the_vacation_reply_goes_once_per_sender_with_rfc_3834_headers(mx_server, alice, sender_domain):
    save_vacation_reply(user=alice, enabled=True, subject="", body="I am away until Monday.")
    receive(mx_server, message_bytes(subject="Are you there?"))
    receive(mx_server, message_bytes(subject="Hello again"))

    [reply] = sent_to(sender_domain, "sam@sender.example")
    parsed = parse_message(reply.content)
    original = item_of(alice, "Are you there?").message
    assert parsed.subject == "Re: Are you there?"
    assert parsed.headers["auto-submitted"] == "auto-replied"
    assert parsed.in_reply_to == original.message_id
    assert original.message_id in parsed.references
    assert parsed.from_address == "alice@example.test"
    assert "I am away until Monday." in parsed.text
    assert VacationReplyLog.objects.get(user=alice).sender == "sam@sender.example"


@pytest.mark.parametrize(
    ("extra", "mail_from", "to"),
    [
        ([("Auto-Submitted", "auto-replied")], "sam@sender.example", "alice@example.test"),
        ([("Auto-Submitted", "auto-generated")], "sam@sender.example", "alice@example.test"),
        ([("List-Id", "<team.lists.sender.example>")], "sam@sender.example", "alice@example.test"),
        ([("List-Unsubscribe", "<mailto:unsub@sender.example>")], "sam@sender.example", "alice@example.test"),
        ([("Precedence", "bulk")], "sam@sender.example", "alice@example.test"),
        ([("Precedence", "junk")], "sam@sender.example", "alice@example.test"),
        ([], "", "alice@example.test"),  # a null Return-Path: a bounce
        ([], "MAILER-DAEMON@sender.example", "alice@example.test"),
        ([], "no-reply@sender.example", "alice@example.test"),
        ([], "sam@sender.example", "team@sender.example"),  # alice only in Bcc
    ],
)
def test_no_vacation_reply_to_lists_bulk_automatic_or_bcc_mail(mx_server, alice, sender_domain, extra, mail_from, to):
    save_vacation_reply(user=alice, enabled=True, body="Away.")
    receive(mx_server, message_bytes(to=to, subject="Not to answer", extra=extra), mail_from=mail_from)
    assert item_of(alice, "Not to answer").folder == Folder.INBOX
    run_delivery()
    assert sender_domain.messages == []
    assert not VacationReplyLog.objects.exists()


def test_the_vacation_reply_is_not_sent_outside_its_days(mx_server, alice, sender_domain):
    save_vacation_reply(user=alice, enabled=True, body="Away.", starts_on=datetime(2099, 1, 1, tzinfo=UTC).date())
    receive(mx_server, message_bytes(subject="Too early"))
    assert sent_to(sender_domain, "sam@sender.example") == []


def test_no_vacation_reply_to_mail_in_spam(alice, sender_domain):
    from mailboxes.services.actions import mark_spam
    from tests.factories import deliver

    save_vacation_reply(user=alice, enabled=True, body="Away.")
    [item] = deliver(message_bytes(subject="Spam"), alice)
    mark_spam(user=alice, item_ids=[item.pk])
    # The arrival path never asks for a reply for mail in Spam (rules.arrival); asked anyway, the reply
    # service still answers (its checks are the user's settings): the decision is the arrival path's.
    from rules.arrival import Rulebooks, decide

    book = Rulebooks().of(alice)
    arrival = decide(book, parsed=parse_message(message_bytes()), view=b"", mail_from="sam@sender.example",
                     folder=Folder.SPAM, received_at=datetime.now(UTC), now=datetime.now(UTC))  # fmt: skip
    assert (arrival.folder, arrival.reply_to) == (Folder.SPAM, "")


def test_the_vacation_reply_goes_again_after_the_interval_with_an_injected_clock(alice, sender_domain):
    from tests.factories import deliver

    save_vacation_reply(user=alice, enabled=True, body="Away.", interval_days=4)
    [item] = deliver(message_bytes(subject="First"), alice)
    start = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    args = {"user_id": alice.pk, "item_id": item.pk, "to": "sam@sender.example", "from_address": "alice@example.test"}

    assert send_vacation_reply(**args, now=start) is not None
    assert send_vacation_reply(**args, now=start + timedelta(days=3, hours=23)) is None
    assert send_vacation_reply(**args, now=start + timedelta(days=4)) is not None
    assert len(sent_to(sender_domain, "sam@sender.example")) == 2


def test_contacts_only_replies_to_people_the_user_wrote_to(alice, sender_domain):
    from delivery.services import send_message
    from tests.factories import deliver

    save_vacation_reply(user=alice, enabled=True, body="Away.", contacts_only=True)
    [item] = deliver(message_bytes(subject="Hi"), alice)
    args = {"item_id": item.pk, "user_id": alice.pk, "from_address": "alice@example.test"}
    assert send_vacation_reply(**args, to="stranger@sender.example") is None
    send_message(user=alice, to=["sam@sender.example"], text="Hello Sam")
    assert send_vacation_reply(**args, to="sam@sender.example") is not None


# --- Forwarding -----------------------------------------------------------------------------------


def verified(user, address: str) -> ForwardingAddress:
    return ForwardingAddress.objects.create(user=user, address=address, verified_at=datetime.now(UTC))


def test_forward_all_sends_the_original_attached_to_the_verified_address(mx_server, alice, sender_domain):
    target = verified(alice, "me@sender.example")
    set_auto_forward(user=alice, address_id=target.pk, keep="archive")
    raw = message_bytes(subject="Please forward")
    receive(mx_server, raw)

    [forwarded] = sent_to(sender_domain, "me@sender.example")
    parsed = parse_message(forwarded.content)
    assert parsed.subject == "Fwd: Please forward"
    assert parsed.from_address == "alice@example.test"
    assert parsed.headers["auto-submitted"] == "auto-generated"
    [original] = [a for a in parsed.attachments if a.content_type == "message/rfc822"]
    assert original.content.endswith(raw)  # unchanged (after our trace headers)
    assert b"X-Forwarded-For-Loop: alice@example.test" in forwarded.content
    assert item_of(alice, "Please forward").folder == Folder.ARCHIVE


def test_a_filter_forwards_only_what_matches(mx_server, alice, sender_domain):
    target = verified(alice, "me@sender.example")
    create_filter(user=alice, query="subject:invoice", actions=FilterActions(forward_to_id=target.pk))
    receive(mx_server, message_bytes(subject="Invoice 42"))
    receive(mx_server, message_bytes(subject="Chat"))
    [forwarded] = sent_to(sender_domain, "me@sender.example")
    assert parse_message(forwarded.content).subject == "Fwd: Invoice 42"


def test_an_address_unverified_since_never_receives_anything(mx_server, alice, sender_domain):
    target = verified(alice, "me@sender.example")
    set_auto_forward(user=alice, address_id=target.pk, keep="inbox")
    ForwardingAddress.objects.filter(pk=target.pk).update(verified_at=None)
    receive(mx_server, message_bytes(subject="Not forwarded"))
    assert sent_to(sender_domain, "me@sender.example") == []
    assert item_of(alice, "Not forwarded").folder == Folder.INBOX


def test_spam_is_never_forwarded(alice, sender_domain):
    from rules.arrival import Rulebooks, decide

    target = verified(alice, "me@sender.example")
    set_auto_forward(user=alice, address_id=target.pk, keep="inbox")
    now = datetime.now(UTC)
    arrival = decide(Rulebooks().of(alice), parsed=parse_message(message_bytes()), view=message_bytes(),
                     mail_from="sam@sender.example", folder=Folder.SPAM, received_at=now, now=now)  # fmt: skip
    assert (arrival.folder, arrival.forward_to) == (Folder.SPAM, [])
    flagged = decide(Rulebooks().of(alice), parsed=parse_message(message_bytes()), view=message_bytes(),
                     mail_from="sam@sender.example", folder=Folder.INBOX, received_at=now, now=now,
                     flagged=True)  # fmt: skip
    assert flagged.forward_to == []


def test_a_forwarding_loop_between_two_mailboxes_is_stopped(mx_server, alice, bob, sender_domain):
    set_auto_forward(user=alice, address_id=verified(alice, "bob@example.test").pk, keep="inbox")
    set_auto_forward(user=bob, address_id=verified(bob, "alice@example.test").pk, keep="inbox")
    receive(mx_server, message_bytes(subject="Round and round"))

    # alice forwards to bob, bob forwards back to alice, and alice, finding herself in the chain, stops.
    alice_copies = MailboxItem.objects.filter(user=alice, origin="received").count()
    bob_copies = MailboxItem.objects.filter(user=bob, origin="received").count()
    assert (alice_copies, bob_copies) == (2, 1)


def test_mail_that_passed_through_too_many_mailboxes_is_not_forwarded(mx_server, alice, sender_domain):
    set_auto_forward(user=alice, address_id=verified(alice, "me@sender.example").pk, keep="inbox")
    chain = ", ".join(f"hop{n}@elsewhere.example" for n in range(5))
    receive(mx_server, message_bytes(subject="Many hops", extra=[("X-Forwarded-For-Loop", chain)]))
    assert sent_to(sender_domain, "me@sender.example") == []


def test_a_filter_that_no_longer_parses_is_skipped_and_the_mail_delivered(mx_server, alice):
    from rules.models import Filter

    Filter.objects.create(user=alice, query="from:", star=True)  # saved by an older version of the language
    create_filter(user=alice, query="subject:still", actions=FilterActions(new_label="Works"))
    receive(mx_server, message_bytes(subject="Still delivered"))
    item = item_of(alice, "Still delivered")
    assert (item.folder, item.is_starred, [label.name for label in item.labels.all()]) == (
        Folder.INBOX, False, ["Works"],
    )  # fmt: skip
