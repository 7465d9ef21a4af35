"""Bounce notices that look like a mail system's, and "still trying to deliver" notices after an hour.

Real delivery against the loopback SMTP server (``temp…`` answers 451, ``unknown…`` 550 5.1.1);
the clock of the delayed notices is passed in, never read.
"""

import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
from django.db import connection, connections
from django.urls import reverse

from delivery.models import SendScope
from delivery.services import run_delivery, send_message
from delivery.services.notices import is_delayed, notify_sender_of_delay, notify_senders_of_delays, still_trying
from delivery.tasks import notify_delays
from mailboxes.blobstore import read_blob
from mailboxes.models import MailboxItem, Message, Recipient

SENT_AT = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def notices_for(user):
    return MailboxItem.objects.filter(user=user, message__from_address__istartswith="MAILER-DAEMON@").order_by("pk")


def parsed(item):
    return message_from_bytes(read_blob(item.message.blob), policy=policy.default)


def sent_item(user, message):
    return MailboxItem.objects.get(user=user, message=message, origin=MailboxItem.Origin.SENT)


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def deferred(alice, remote_domain, settings):
    """alice's message to a remote server that keeps answering 451, sent at SENT_AT."""
    settings.MAIL_HOSTNAME = "mx.example.test"
    message = send_message(
        user=alice, to=["temp@remote.example"], subject="Quarterly figures", text="x", sent_at=SENT_AT
    )
    run_delivery(message_id=message.pk)
    recipient = message.recipients.get()
    assert recipient.status == Recipient.Status.DEFERRED
    return message


def test_a_bounce_comes_from_the_mailer_daemon_of_our_host_with_named_report_parts(alice, remote_domain, settings):
    settings.MAIL_HOSTNAME = "mx.example.test"
    message = send_message(user=alice, to=["unknown@remote.example"], subject="Figures", text="x")
    run_delivery(message_id=message.pk)

    [notice] = notices_for(alice)
    email = parsed(notice)
    assert email["From"].addresses[0].display_name == "Mail Delivery System"
    assert email["From"].addresses[0].addr_spec == "MAILER-DAEMON@mx.example.test"
    assert email.get_content_type() == "multipart/report"
    assert email.get_param("report-type") == "delivery-status"
    parts = {part.get_content_type(): part for part in email.iter_attachments()}
    assert parts["message/delivery-status"].get_filename() == "delivery-status.txt"
    assert parts["text/rfc822-headers"].get_filename() == "original-headers.txt"
    status = parts["message/delivery-status"].get_payload()
    assert status[0]["Reporting-MTA"] == "dns; mx.example.test"
    assert (status[1]["Action"], status[1]["Status"]) == ("failed", "5.1.1")
    assert f"Message-ID: <{message.message_id}>" in parts["text/rfc822-headers"].get_content()
    # Stored, it lists the two parts by those names, in the thread of the original.
    assert sorted(notice.message.attachments.values_list("filename", flat=True)) == [
        "delivery-status.txt", "original-headers.txt",
    ]  # fmt: skip
    assert notice.thread_id == sent_item(alice, message).thread_id


def test_the_thread_shows_the_notices_attachments_by_name(alice, alice_client, remote_domain):
    message = send_message(user=alice, to=["unknown@remote.example"], subject="Figures", text="x")
    run_delivery(message_id=message.pk)

    html = alice_client.get(reverse("mailboxes:thread", args=[sent_item(alice, message).thread_id])).content.decode()
    assert ">delivery-status.txt</a>" in html and ">original-headers.txt</a>" in html


def test_mail_hostname_defaults_to_a_name_that_is_not_localhost():
    from webmail.settings import _default_mail_hostname

    name = _default_mail_hostname()
    assert name != "localhost" and "." in name


def test_a_delayed_recipient_gets_one_delayed_notice_in_the_senders_thread(alice, deferred):
    assert notify_senders_of_delays(now=SENT_AT + timedelta(minutes=59)) == 0  # not an hour yet
    assert not notices_for(alice).exists()

    assert notify_senders_of_delays(now=SENT_AT + timedelta(minutes=61)) == 1
    assert notify_senders_of_delays(now=SENT_AT + timedelta(hours=5)) == 0  # once per message

    [notice] = notices_for(alice)
    assert notice.thread_id == sent_item(alice, deferred).thread_id
    email = parsed(notice)
    assert email["Subject"] == "Delayed Mail (still being retried): Quarterly figures"
    assert email["In-Reply-To"] == f"<{deferred.message_id}>"
    assert email["From"].addresses[0].addr_spec == "MAILER-DAEMON@mx.example.test"
    text = email.get_body(("plain",)).get_content()
    assert "temp@remote.example" in text and "still trying to deliver" in text.lower()
    recipient = deferred.recipients.get()
    assert f"until {recipient.expires_at.strftime('%a, %d %b %Y')}" in text
    status = next(p for p in email.iter_attachments() if p.get_content_type() == "message/delivery-status")
    assert status.get_filename() == "delivery-status.txt"
    block = status.get_payload()[1]
    assert (block["Action"], block["Final-Recipient"]) == ("delayed", "rfc822; temp@remote.example")
    assert block["Status"].startswith("4.")
    assert block["Will-Retry-Until"]
    deferred.refresh_from_db()
    assert deferred.delay_notice_sent_at == SENT_AT + timedelta(minutes=61)


def test_delivered_or_bounced_mail_gets_no_delayed_notice(alice, remote_domain):
    send_message(user=alice, to=["ok@remote.example"], text="x", sent_at=SENT_AT)
    send_message(user=alice, to=["unknown@remote.example"], text="x", sent_at=SENT_AT)
    run_delivery()
    assert notify_senders_of_delays(now=SENT_AT + timedelta(hours=2)) == 0
    assert not notices_for(alice).filter(message__subject__startswith="Delayed").exists()


def test_the_beat_task_is_scheduled_and_runs_the_service(alice, deferred, settings, clock):
    schedule = settings.CELERY_BEAT_SCHEDULE["notify-delivery-delays"]
    assert schedule["task"] == notify_delays.name
    clock.now = SENT_AT + timedelta(minutes=30)
    assert notify_delays.delay().get() == 0
    clock.now = SENT_AT + timedelta(minutes=90)
    assert notify_delays.delay().get() == 1
    assert notices_for(alice).count() == 1


def test_a_run_that_found_the_message_due_after_another_told_the_sender_does_nothing(alice, deferred):
    now = SENT_AT + timedelta(hours=2)
    assert notify_sender_of_delay(message_id=deferred.pk, now=now) is not None
    assert notify_sender_of_delay(message_id=deferred.pk, now=now) is None  # its claim finds the notice sent
    assert notices_for(alice).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_tell_the_sender_once(alice, remote_domain):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers: PostgreSQL only (SQLite locks the whole database)")
    message = send_message(user=alice, to=["temp@remote.example"], subject="Race", text="x", sent_at=SENT_AT)
    run_delivery(message_id=message.pk)
    barrier, results = threading.Barrier(3), []

    def run():
        try:
            barrier.wait()
            results.append(notify_senders_of_delays(now=SENT_AT + timedelta(hours=2)))
        finally:
            connections.close_all()  # this thread's own connection

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 0, 1]
    assert notices_for(alice).count() == 1


def test_the_senders_conversation_says_still_trying_to_deliver(alice, alice_client, deferred):
    url = reverse("mailboxes:thread", args=[sent_item(alice, deferred).thread_id])
    notify_senders_of_delays(now=SENT_AT + timedelta(hours=2))
    html = alice_client.get(url).content.decode()
    assert "Still trying to deliver" in html
    assert html.count("data-still-trying") == 1


def test_still_trying_follows_the_hour_and_the_notice(deferred):
    recipient = deferred.recipients.get()
    assert not is_delayed(recipient, sent_at=SENT_AT, now=SENT_AT + timedelta(minutes=30))
    assert is_delayed(recipient, sent_at=SENT_AT, now=SENT_AT + timedelta(minutes=61))
    assert not still_trying(recipient, message=deferred, now=SENT_AT + timedelta(minutes=30))
    deferred.delay_notice_sent_at = SENT_AT
    assert still_trying(recipient, message=deferred, now=SENT_AT + timedelta(minutes=30))
    recipient.status = Recipient.Status.SENT
    assert not still_trying(recipient, message=deferred, now=SENT_AT + timedelta(hours=2))
    assert Message.objects.filter(delay_notice_sent_at__isnull=False).count() == 0


def test_a_campaigns_messages_get_no_delayed_notice(alice, deferred):
    SendScope.objects.update_or_create(message=deferred, defaults={"campaign_id": 7})  # a campaign's own bytes
    assert notify_senders_of_delays(now=SENT_AT + timedelta(hours=2)) == 0
    assert notify_sender_of_delay(message_id=deferred.pk, now=SENT_AT + timedelta(hours=2)) is None
    assert not notices_for(alice).exists()
