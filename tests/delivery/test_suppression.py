"""The suppression list binds bulk mail only, forgets bounces after a while, and is never fed by one DNS blip.

Real SMTP and DNS servers on loopback (tests/conftest.py); the clock is the
timestamps of the rows (back-dated) or an injected ``now``, never a sleep.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from delivery.models import DeliveryEvent, Suppression
from delivery.services import run_delivery, send_message, suppress_address
from delivery.services.suppression import bounce_warnings, suppressed_among
from mailboxes.blobstore import read_blob
from mailboxes.models import MailboxItem, Message, Recipient
from mailboxes.parsing import parse_message

pytestmark = pytest.mark.django_db


def notices_for(user):
    return MailboxItem.objects.filter(user=user, message__from_address__istartswith="MAILER-DAEMON@")


def time_passes(recipient, seconds: int):
    """Everything recorded about ``recipient`` happened ``seconds`` earlier, and it is due again."""
    DeliveryEvent.objects.filter(recipient=recipient).update(timestamp=timezone.now() - timedelta(seconds=seconds))
    Recipient.objects.filter(pk=recipient.pk).update(next_attempt_at=timezone.now())


def test_a_first_nxdomain_is_retried_without_suppressing_or_telling_the_sender(alice, dns_server):
    message = send_message(user=alice, to=["x@no-such-domain.example"], text="x")

    run_delivery()

    recipient = message.recipients.get()
    assert (recipient.status, recipient.enhanced_status) == ("deferred", "5.1.2")
    assert recipient.next_attempt_at > timezone.now()
    assert not Suppression.objects.exists()
    assert not notices_for(alice).exists()


def test_a_domain_unknown_for_longer_than_the_retry_window_bounces_and_is_suppressed(alice, dns_server, settings):
    settings.OUTBOUND_HOST_UNKNOWN_RETRY_SECONDS = 3600
    message = send_message(user=alice, to=["x@no-such-domain.example"], text="x")
    run_delivery()
    recipient = message.recipients.get()
    time_passes(recipient, 600)  # still inside the window: one more retry
    run_delivery()
    recipient.refresh_from_db()
    assert recipient.status == Recipient.Status.DEFERRED and not Suppression.objects.exists()

    time_passes(recipient, 3601)
    run_delivery()

    recipient.refresh_from_db()
    assert (recipient.status, recipient.enhanced_status) == ("bounced", "5.1.2")
    entry = Suppression.objects.get(address="x@no-such-domain.example")
    assert (entry.reason, entry.source) == (Suppression.Reason.HARD_BOUNCE, Suppression.Source.DELIVERY)
    assert entry.expires_at is not None
    [notice] = notices_for(alice)
    assert "x@no-such-domain.example" in notice.message.snippet


def test_a_person_writing_to_a_suppressed_address_is_not_blocked(alice, remote_domain, smtp_server):
    suppress_address(address="ok@remote.example", reason=Suppression.Reason.HARD_BOUNCE, detail="550 5.1.1 gone")
    message = send_message(user=alice, to=["ok@remote.example"], text="Are you back?")

    run_delivery()

    assert message.recipients.get().status == Recipient.Status.SENT
    assert [m.rcpt_tos for m in smtp_server.messages] == [["ok@remote.example"]]
    assert not notices_for(alice).exists()


def test_a_suppressed_bulk_send_is_refused_and_its_sender_told_why(alice, remote_domain, smtp_server):
    when = timezone.now() - timedelta(days=3)
    suppress_address(
        address="ok@remote.example", reason=Suppression.Reason.HARD_BOUNCE, detail="550 5.1.1 No such mailbox",
        source=Suppression.Source.DELIVERY, now=when,
    )  # fmt: skip
    message = send_message(user=alice, to=["ok@remote.example"], subject="Offer", text="x", stream=Message.Stream.BULK)

    run_delivery()

    recipient = message.recipients.get()
    assert recipient.status == Recipient.Status.SUPPRESSED
    assert smtp_server.messages == []
    event = recipient.events.get(event_type="rejected")
    assert event.metadata["suppression"]["reason"] == "hard_bounce"
    assert event.metadata["suppression"]["since"] == when.isoformat()
    [notice] = notices_for(alice)
    text = parse_message(read_blob(notice.message.blob)).text
    assert "ok@remote.example" in text
    assert f"since {when:%Y-%m-%d} (hard bounce: 550 5.1.1 No such mailbox)" in text


def test_a_bounce_entry_expires_and_a_complaint_does_not(settings):
    settings.SUPPRESSION_BOUNCE_DAYS = 30
    now = timezone.now()
    bounce = suppress_address(address="a@remote.example", reason=Suppression.Reason.HARD_BOUNCE, now=now)
    complaint = suppress_address(address="b@remote.example", reason=Suppression.Reason.COMPLAINT, now=now)
    assert bounce.expires_at == now + timedelta(days=30)
    assert complaint.expires_at is None

    later = now + timedelta(days=31)
    assert set(suppressed_among(["a@remote.example", "b@remote.example"], now=later)) == {"b@remote.example"}
    renewed = suppress_address(address="a@remote.example", reason=Suppression.Reason.HARD_BOUNCE, now=later)
    assert (renewed.created_at, renewed.expires_at) == (later, later + timedelta(days=30))


def test_a_complaint_about_a_bounced_address_makes_the_entry_permanent():
    suppress_address(address="a@remote.example", reason=Suppression.Reason.HARD_BOUNCE)
    entry = suppress_address(address="a@remote.example", reason=Suppression.Reason.COMPLAINT)
    assert (entry.reason, entry.expires_at) == (Suppression.Reason.COMPLAINT, None)
    assert Suppression.objects.count() == 1


def test_writers_are_warned_of_bounces_only():
    suppress_address(address="gone@remote.example", reason=Suppression.Reason.HARD_BOUNCE, detail="550 5.1.1")
    suppress_address(address="annoyed@remote.example", reason=Suppression.Reason.COMPLAINT)

    warnings = bounce_warnings(["Gone@remote.example", "annoyed@remote.example", "fine@remote.example"])

    assert [(w.address, w.detail) for w in warnings] == [("gone@remote.example", "550 5.1.1")]
