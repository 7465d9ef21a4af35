"""Which signals decided a spam verdict: recorded by the pipeline, shown to the user and to the admin."""

import pytest
from django.test import Client
from django.urls import reverse

from inbound.models import InboundMessage
from inbound.selectors import spam_checks_for_user
from inbound.services.pipeline import process_inbound_messages
from inbound.services.reception import accept_message
from mailboxes.models import Folder, MailboxItem
from tests.factories import UserFactory
from tests.inbound.test_mx import message_bytes
from tests.inbound.test_spam import spammy_mail

pytestmark = pytest.mark.django_db


def received(raw: bytes, *recipients: str) -> InboundMessage:
    job = accept_message(
        raw=raw, mail_from="sam@sender.example", rcpt_tos=list(recipients), client_ip="192.0.2.7", helo="mx.example"
    )
    process_inbound_messages(job_ids=[job.pk])
    job.refresh_from_db()
    return job


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_pipeline_records_each_recipients_signals_with_the_verdict(alice):
    job = received(spammy_mail(), "alice@example.test")

    verdict = job.spam_verdict[alice.username]
    assert verdict["is_spam"] and verdict["dmarc_quarantine"] is False
    names = {signal["name"] for signal in verdict["signals"]}
    assert {"LINK_TEXT_MISMATCH", "URL_IP_ADDRESS", "SPAM_PHRASES"} <= names
    assert all(signal["description"] for signal in verdict["signals"])
    assert round(sum(signal["points"] for signal in verdict["signals"]), 2) == verdict["score"]


def test_conversation_in_spam_says_why_in_plain_words(alice):
    received(spammy_mail(), "alice@example.test")
    item = MailboxItem.objects.get(user=alice)
    assert item.folder == Folder.SPAM

    response = client_of(alice).get(reverse("mailboxes:thread", args=[item.thread_id]) + "?view=spam")

    html = response.content.decode()
    assert "Why is this in spam?" in html
    assert "mail with 5.0 or more goes to Spam" in html
    assert "A link shows one address but leads to another (www.paypal.com → 192.0.2.7)" in html
    assert "It links to a bare IP address (192.0.2.7)" in html
    heaviest = html.index("A link shows one address")
    assert heaviest < html.index("It uses a link shortener")  # the signals that weigh most come first


def test_signals_are_recorded_in_english_and_shown_in_the_readers_language(alice):
    job = received(spammy_mail(), "alice@example.test")
    item = MailboxItem.objects.get(user=alice)
    client = client_of(alice)
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/mail/"})

    html = client.get(reverse("mailboxes:thread", args=[item.thread_id]) + "?view=spam").content.decode()

    recorded = {s["name"]: s["description"] for s in job.spam_verdict[alice.username]["signals"]}
    assert recorded["URL_IP_ADDRESS"] == "It links to a bare IP address (192.0.2.7)"
    assert "为什么这封邮件在垃圾邮件中？" in html
    assert "链接指向一个裸 IP 地址 (192.0.2.7)" in html


def test_conversation_in_the_inbox_offers_the_spam_check_too(alice):
    received(message_bytes(subject="Lunch", body="Lunch at noon?"), "alice@example.test")
    item = MailboxItem.objects.get(user=alice)

    html = client_of(alice).get(reverse("mailboxes:thread", args=[item.thread_id])).content.decode()

    assert item.folder == Folder.INBOX
    assert "Spam check" in html and "Why is this in spam?" not in html
    assert "below the 5.0 that send mail to Spam" in html


def test_mail_the_user_moved_to_spam_says_the_filter_let_it_through(alice):
    from mailboxes.services import mark_spam

    received(message_bytes(subject="Lunch", body="Lunch at noon?"), "alice@example.test")
    item = MailboxItem.objects.get(user=alice)
    mark_spam(user=alice, item_ids=[item.pk])

    html = client_of(alice).get(reverse("mailboxes:thread", args=[item.thread_id]) + "?view=spam").content.decode()

    assert "Why is this in spam?" in html and "It was moved here by hand." in html


def test_each_recipient_sees_only_their_own_verdict_and_others_none(alice, bob, mallory):
    job = received(spammy_mail(), "alice@example.test", "bob@example.test")

    assert spam_checks_for_user(user=alice, message_ids=[job.message_id])[job.message_id]["is_spam"]
    assert set(spam_checks_for_user(user=bob, message_ids=[job.message_id])) == {job.message_id}
    assert spam_checks_for_user(user=mallory, message_ids=[job.message_id]) == {}


def test_admin_inbound_message_page_shows_a_table_of_signals(alice):
    job = received(spammy_mail(), "alice@example.test")
    operator = UserFactory(address="root@example.test", display_name="Operator", admin=True)

    html = client_of(operator).get(reverse("admin:inbound_inboundmessage_change", args=[job.pk])).content.decode()

    assert "Spam signals" in html
    assert f"{alice.username}: {job.spam_score} of 5.0 points, spam (builtin)" in html
    assert "<td>LINK_TEXT_MISMATCH</td><td style='text-align: right'>+2.0</td>" in html
    assert "<td>A link shows one address but leads to another (www.paypal.com → 192.0.2.7)</td>" in html
