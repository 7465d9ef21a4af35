"""What a bounce report does once its reason is judged: the event's reason and anymail word, suppression or not."""

import pytest

from delivery import verp
from delivery.models import Suppression
from delivery.services import run_delivery, send_message
from inbound.bounces import handle_report
from mailboxes.models import Recipient


@pytest.fixture
def sent(alice, remote_domain, smtp_server):
    def send(address):
        message = send_message(user=alice, to=[address], subject="Quarterly figures", text="Attached below.")
        run_delivery(message_id=message.pk)
        [recipient] = message.recipients.all()
        assert recipient.status == Recipient.Status.SENT
        return recipient

    return send


def dsn(recipient: Recipient, *, action: str, status: str, diagnostic: str) -> bytes:
    """A Postfix-style delivery status notification about ``recipient``'s message."""
    return (
        "Return-Path: <>\r\n"
        "From: MAILER-DAEMON@relay.remote.example (Mail Delivery System)\r\n"
        "To: bounces@example.test\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Date: Mon, 03 Jun 2024 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n'
        "\r\n--b1\r\nContent-Type: text/plain\r\n\r\nThis is the mail system at host relay.remote.example.\r\n"
        "\r\n--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; relay.remote.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient.address}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Remote-MTA: dns; mx.remote.example\r\nDiagnostic-Code: smtp; {diagnostic}\r\n"
        "\r\n--b1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: <{recipient.message.message_id}>\r\nSubject: Quarterly figures\r\n"
        "\r\n--b1--\r\n"
    ).encode()


def handle(recipient, **fields):
    return handle_report(
        raw=dsn(recipient, **fields), verp_address=verp.return_path(recipient_id=recipient.pk, domain="example.test")
    )


def test_a_generic_status_saying_user_unknown_is_a_hard_bounce_and_suppresses(sent):
    recipient = sent("gone@remote.example")

    [event] = handle(recipient, action="failed", status="5.0.0", diagnostic="550 User unknown")

    assert (event.event_type, event.reason, event.reject_reason) == ("bounced", "user_unknown", "invalid")
    assert event.metadata["enhanced_status"] == "5.1.1"
    assert Suppression.objects.filter(address="gone@remote.example").exists()


def test_a_blocklisting_bounces_without_suppressing_the_address(sent):
    recipient = sent("someone@remote.example")

    [event] = handle(
        recipient, action="failed", status="5.7.1",
        diagnostic="554 5.7.1 Service unavailable; Client host [192.0.2.25] blocked using zen.spamhaus.org",
    )  # fmt: skip

    assert (event.event_type, event.reason, event.reject_reason) == ("bounced", "blocked", "blocked")
    recipient.refresh_from_db()
    assert recipient.status == Recipient.Status.BOUNCED
    assert not Suppression.objects.exists()


def test_a_remote_queue_that_gave_up_after_soft_failures_is_expired_and_never_suppressed(sent):
    recipient = sent("carol@remote.example")

    [event] = handle(
        recipient, action="failed", status="4.2.2",
        diagnostic="gave up after retrying 4.2.2 for 5 days: 452 4.2.2 Mailbox full",
    )  # fmt: skip

    assert (event.event_type, event.reason, event.reject_reason) == ("bounced", "expired", "timed_out")
    assert not Suppression.objects.exists()


def test_a_delay_notes_the_reason_of_the_temporary_failure(sent):
    recipient = sent("busy@remote.example")

    [event] = handle(recipient, action="delayed", status="4.2.2", diagnostic="452 4.2.2 Mailbox full")

    assert (event.event_type, event.reason) == ("deferred", "mailbox_full")
    recipient.refresh_from_db()
    assert recipient.status == Recipient.Status.SENT
    assert not Suppression.objects.exists()
