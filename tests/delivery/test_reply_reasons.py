"""Our own SMTP transaction's refusals judged by the bounce reasons: hard only when the address is gone."""

from datetime import timedelta

from django.utils import timezone

from delivery.models import Suppression
from delivery.services import run_delivery, send_message
from mailboxes.blobstore import read_blob
from mailboxes.models import MailboxItem, Recipient
from mailboxes.parsing import parse_message


def deliver_to(alice, address):
    message = send_message(user=alice, to=[address], subject="Minutes", text="Attached.")
    run_delivery()
    recipient = message.recipients.get()
    return recipient


def test_a_blocklisting_under_5_7_1_bounces_without_suppressing(alice, remote_domain, smtp_server):
    smtp_server.handler.script(
        "ann@remote.example", ["550 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org"]
    )

    recipient = deliver_to(alice, "ann@remote.example")

    recipient.refresh_from_db()
    assert recipient.status == Recipient.Status.BOUNCED
    bounce = recipient.events.get(event_type="bounced")
    assert (bounce.reason, bounce.reject_reason) == ("blocked", "blocked")
    assert not Suppression.objects.exists()
    [notice] = MailboxItem.objects.filter(user=alice, message__from_address__istartswith="MAILER-DAEMON@")
    text = parse_message(read_blob(notice.message.blob)).text
    assert "The receiving server refused it (Our server was blocked): 550 5.7.1" in " ".join(text.split())


def test_a_generic_5_0_0_saying_user_unknown_is_a_hard_bounce(alice, remote_domain, smtp_server):
    smtp_server.handler.script("bo@remote.example", ["550 5.0.0 <bo@remote.example>... User unknown"])

    recipient = deliver_to(alice, "bo@remote.example")

    bounce = recipient.events.get(event_type="bounced")
    assert (bounce.reason, bounce.reject_reason) == ("user_unknown", "invalid")
    assert Suppression.objects.filter(address="bo@remote.example", reason="hard_bounce").exists()


def test_a_deferral_notes_its_reason_and_giving_up_later_is_expired(alice, remote_domain, smtp_server):
    smtp_server.handler.script("cy@remote.example", ["452 4.2.2 Mailbox full", "452 4.2.2 Mailbox full"])

    recipient = deliver_to(alice, "cy@remote.example")
    deferral = recipient.events.get(event_type="deferred")
    assert deferral.reason == "mailbox_full"
    Recipient.objects.filter(pk=recipient.pk).update(
        next_attempt_at=timezone.now(), expires_at=timezone.now() - timedelta(seconds=1)
    )
    run_delivery()

    recipient.refresh_from_db()
    assert recipient.status == Recipient.Status.BOUNCED
    bounce = recipient.events.get(event_type="bounced")
    assert (bounce.reason, bounce.reject_reason) == ("expired", "timed_out")
    assert not Suppression.objects.exists()
