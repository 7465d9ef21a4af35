"""Outbound delivery against a real SMTP server and a real DNS server on loopback.

The SMTP server answers per recipient by local part (tests/support/smtp_server.py):
``ok…`` accept, ``temp…`` 451, ``unknown…`` 550 5.1.1, ``full…`` 552 5.2.2,
``stall…`` hang in DATA, ``drop…`` drop the connection in DATA.
"""

from datetime import timedelta
from email import message_from_bytes

import dkim
import pytest
from django.utils import timezone

from accounts.dkim import dns_records
from accounts.services import ensure_dkim_key
from core.dns import get_resolver
from delivery import verp
from delivery.models import DeliveryEvent, Suppression
from delivery.services import (
    IdempotencyKeyReused,
    reconcile_outbox,
    requeue_recipients,
    run_delivery,
    send_message,
    suppress_address,
)
from delivery.services.engine import RunReport, apply_result, claim_due_recipients
from mailboxes.models import Folder, MailboxItem, Message, Recipient
from mailboxes.parsing import parse_message
from mailboxes.services.uploads import create_upload


def events_of(recipient):
    return list(recipient.events.order_by("timestamp", "pk").values_list("event_type", flat=True))


def make_due(*recipients):
    """Time passes: what was deferred is due again."""
    Recipient.objects.filter(pk__in=[r.pk for r in recipients]).update(next_attempt_at=timezone.now())


def notices_for(user):
    return MailboxItem.objects.filter(user=user, message__from_address__istartswith="MAILER-DAEMON@")


# --- happy path ------------------------------------------------------------------------


def test_remote_recipient_goes_from_queued_to_sent_over_smtp_with_starttls(alice, remote_domain, smtp_server):
    message = send_message(user=alice, to=["ok@remote.example"], subject="Hello", text="Hi there")
    recipient = message.recipients.get()
    assert recipient.status == Recipient.Status.QUEUED

    report = run_delivery()

    recipient.refresh_from_db()
    message.refresh_from_db()
    assert (report.claimed, report.sent) == (1, 1)
    assert recipient.status == Recipient.Status.SENT
    assert (recipient.smtp_code, recipient.enhanced_status) == (250, "2.0.0")
    assert recipient.remote_host == "mx.remote.example"
    assert message.status == Message.Status.SENT
    assert events_of(recipient) == ["queued", "sent"]
    [received] = smtp_server.messages
    assert received.tls
    assert received.rcpt_tos == ["ok@remote.example"]
    assert parse_message(received.content).subject == "Hello"


def test_the_return_path_is_a_verp_address_naming_the_recipient(alice, remote_domain, smtp_server):
    message = send_message(user=alice, to=["ok@remote.example"], text="x")
    run_delivery()

    [received] = smtp_server.messages
    assert received.mail_from.startswith("bounces+")
    assert received.mail_from.endswith("@example.test")
    assert verp.recipient_id_from(received.mail_from) == message.recipients.get().pk
    recipient_id = message.recipients.get().pk
    token = verp.return_path(recipient_id=recipient_id, domain="example.test").split("+")[1].split("-")[0]
    forged = received.mail_from.replace(f"+{token}-", f"+{token}0-")  # another recipient, same signature
    assert verp.recipient_id_from(forged) is None
    assert verp.recipient_id_from(received.mail_from.replace("bounces+", "bounces+0")) is None


def test_bcc_is_in_the_envelope_but_not_in_the_headers(alice, remote_domain, smtp_server):
    send_message(user=alice, to=["ok-to@remote.example"], bcc=["ok-hidden@remote.example"], text="x")
    run_delivery()

    by_rcpt = {m.rcpt_tos[0]: m for m in smtp_server.messages}
    assert set(by_rcpt) == {"ok-to@remote.example", "ok-hidden@remote.example"}
    for received in by_rcpt.values():
        assert b"ok-hidden" not in received.content
        assert message_from_bytes(received.content)["Bcc"] is None


def test_connections_are_reused_for_mail_to_the_same_destination(alice, remote_domain, smtp_server):
    for n in range(3):
        send_message(user=alice, to=[f"ok{n}@remote.example", f"ok{n}b@remote.example"], text=str(n))
    run_delivery()

    assert len(smtp_server.messages) == 6
    assert smtp_server.handler.connections == 2  # one connection: EHLO before and after STARTTLS


def test_message_is_dkim_signed_and_verifies_against_the_published_key(alice, remote_domain, smtp_server, dns_server):
    domain, created = ensure_dkim_key(domain_name="example.test")
    assert created
    for record in dns_records(domain):
        if "_domainkey" in record:
            dns_server.resolver.add(record.replace("\t", " "))

    send_message(user=alice, to=["ok@remote.example"], subject="Signed", text="Body to sign")
    run_delivery()

    [received] = smtp_server.messages
    assert received.content.startswith(b"DKIM-Signature:")
    assert f"s={domain.dkim_selector}".encode() in received.content.split(b"\r\n\r\n")[0]

    def dnsfunc(name, timeout=5):
        answer = get_resolver().resolve(name.decode().rstrip("."), "TXT")
        return b"".join(b"".join(r.strings) for r in answer)

    assert dkim.verify(received.content, dnsfunc=dnsfunc)
    tampered = received.content.replace(b"Body to sign", b"Body changed")
    assert not dkim.verify(tampered, dnsfunc=dnsfunc)


def test_one_signature_per_message_serves_every_recipient_and_verifies_for_each(
    alice, remote_domain, smtp_server, dns_server
):
    """VERP changes only the envelope: the signed bytes are the same for all, so the message is signed once."""
    domain, _ = ensure_dkim_key(domain_name="example.test")
    for record in dns_records(domain):
        if "_domainkey" in record:
            dns_server.resolver.add(record.replace("\t", " "))
    addresses = ["ok-a@remote.example", "ok-b@remote.example", "ok-c@remote.example"]

    send_message(user=alice, to=addresses[:2], bcc=addresses[2:], subject="Signed once", text="Same bytes")
    run_delivery()

    def dnsfunc(name, timeout=5):
        answer = get_resolver().resolve(name.decode().rstrip("."), "TXT")
        return b"".join(b"".join(r.strings) for r in answer)

    received = {m.rcpt_tos[0]: m for m in smtp_server.messages}
    assert sorted(received) == addresses
    assert len({m.mail_from for m in received.values()}) == 3  # a VERP return path each
    signatures = {message_from_bytes(m.content)["DKIM-Signature"] for m in received.values()}
    assert len(signatures) == 1
    for copy in received.values():
        assert dkim.verify(copy.content, dnsfunc=dnsfunc)
        assert verp.recipient_id_from(copy.mail_from) is not None


def test_uploads_are_attached_only_for_their_owner(alice, bob, remote_domain, smtp_server):
    upload = create_upload(user=alice, filename="plan.pdf", content=b"%PDF-1.4 plan", content_type="application/pdf")

    send_message(user=alice, to=["ok@remote.example"], text="see attached", upload_ids=[upload.pk])
    run_delivery()

    [received] = smtp_server.messages
    [attachment] = parse_message(received.content).attachments
    assert (attachment.filename, attachment.content) == ("plan.pdf", b"%PDF-1.4 plan")
    from mailboxes.exceptions import UploadNotFound

    with pytest.raises(UploadNotFound) as excinfo:
        send_message(user=bob, to=["ok@remote.example"], text="x", upload_ids=[upload.pk])
    assert excinfo.value.field == "attachments"


# --- retries, bounces, suppression -------------------------------------------------------


def test_temporary_failures_are_retried_with_growing_backoff_then_succeed(alice, remote_domain, smtp_server):
    smtp_server.handler.script("later@remote.example", ["451 4.4.1 busy", "451 4.4.1 still busy", "250 OK"])
    message = send_message(user=alice, to=["later@remote.example"], text="x")
    recipient = message.recipients.get()

    delays = []
    for _ in range(2):
        run_delivery()
        recipient.refresh_from_db()
        assert recipient.status == Recipient.Status.DEFERRED
        assert recipient.enhanced_status == "4.4.1"
        delays.append(recipient.next_attempt_at - recipient.last_attempt_at)
        assert run_delivery().claimed == 0  # not due yet
        make_due(recipient)
    run_delivery()

    recipient.refresh_from_db()
    assert recipient.status == Recipient.Status.SENT
    assert recipient.attempts == 3
    assert events_of(recipient) == ["queued", "deferred", "deferred", "sent"]
    assert timedelta(minutes=3) < delays[0] < delays[1]  # 300 s then 600 s, ±20% jitter
    assert len(smtp_server.messages) == 1


def test_temporary_failures_past_the_queue_lifetime_bounce_and_tell_the_sender(alice, remote_domain, smtp_server):
    message = send_message(user=alice, to=["temp@remote.example"], subject="Lunch?", text="x")
    recipient = message.recipients.get()
    run_delivery()
    Recipient.objects.filter(pk=recipient.pk).update(
        next_attempt_at=timezone.now(), expires_at=timezone.now() - timedelta(seconds=1)
    )

    run_delivery()

    recipient.refresh_from_db()
    assert recipient.status == Recipient.Status.BOUNCED
    assert recipient.enhanced_status == "4.4.7"
    bounce = recipient.events.get(event_type="bounced")
    assert bounce.reject_reason == "timed_out"
    assert not Suppression.objects.exists()  # the address may be fine: no suppression for timeouts
    [notice] = notices_for(alice)
    assert "temp@remote.example" in notice.message.snippet


def test_hard_bounce_is_suppressed_noticed_and_refused_at_the_next_bulk_send(alice, remote_domain, smtp_server):
    first = send_message(user=alice, to=["unknown@remote.example"], subject="Hello?", text="x")
    run_delivery()

    recipient = first.recipients.get()
    assert (recipient.status, recipient.smtp_code, recipient.enhanced_status) == ("bounced", 550, "5.1.1")
    assert "does not exist" in recipient.response
    entry = Suppression.objects.get(address="unknown@remote.example")
    assert entry.reason == Suppression.Reason.HARD_BOUNCE
    assert entry.source_event.recipient_id == recipient.pk
    [notice] = notices_for(alice)
    assert notice.folder == Folder.INBOX and not notice.is_read
    sent_copy = MailboxItem.objects.get(user=alice, message=first, origin="sent")
    assert notice.thread_id == sent_copy.thread_id  # the notice sits with the original
    assert "unknown@remote.example" in notice.message.snippet

    connections = smtp_server.handler.connections
    second = send_message(user=alice, to=["unknown@remote.example"], text="again", stream=Message.Stream.BULK)
    run_delivery()

    again = second.recipients.get()
    assert again.status == Recipient.Status.SUPPRESSED
    assert events_of(again) == ["queued", "rejected"]
    assert smtp_server.handler.connections == connections  # nothing was even attempted


def test_mailbox_full_bounces_without_suppressing(alice, remote_domain, smtp_server):
    message = send_message(user=alice, to=["full@remote.example"], text="x")
    run_delivery()

    assert message.recipients.get().status == Recipient.Status.BOUNCED
    assert not Suppression.objects.exists()


def test_suppression_added_after_submission_is_enforced_at_send_time(alice, remote_domain, smtp_server):
    message = send_message(
        user=alice, to=["ok@remote.example", "ok2@remote.example"], text="x", stream=Message.Stream.BULK
    )
    suppress_address(address="OK@remote.example", reason=Suppression.Reason.COMPLAINT)

    run_delivery()

    statuses = dict(message.recipients.values_list("address", "status"))
    assert statuses == {"ok@remote.example": "suppressed", "ok2@remote.example": "sent"}
    assert [m.rcpt_tos for m in smtp_server.messages] == [["ok2@remote.example"]]
    message.refresh_from_db()
    assert message.status == Message.Status.PARTIALLY_FAILED


# --- DNS ------------------------------------------------------------------------------------


def test_null_mx_bounces_at_once(alice, dns_server):
    dns_server.resolver.add("nomail.example. 300 IN MX 0 .")
    message = send_message(user=alice, to=["x@nomail.example"], text="x")
    run_delivery()

    recipient = message.recipients.get()
    assert (recipient.status, recipient.enhanced_status) == ("bounced", "5.1.10")


def test_nonexistent_domain_and_servfail_are_both_retried_at_first(alice, dns_server):
    dns_server.resolver.servfail("broken.example")
    message = send_message(user=alice, to=["x@no-such-domain.example", "y@broken.example"], text="x")
    run_delivery()

    statuses = {r.address: (r.status, r.enhanced_status) for r in message.recipients.all()}
    assert statuses == {
        "x@no-such-domain.example": ("deferred", "5.1.2"),  # NXDOMAIN may be a DNS blip
        "y@broken.example": ("deferred", "4.4.3"),
    }
    assert not Suppression.objects.exists()


def test_domain_without_mx_is_its_own_mail_host(alice, dns_server, smtp_server):
    dns_server.resolver.add("plain.example. 300 IN A 127.0.0.1")
    message = send_message(user=alice, to=["ok@plain.example"], text="x")
    run_delivery()

    assert message.recipients.get().status == Recipient.Status.SENT
    assert smtp_server.messages[0].rcpt_tos == ["ok@plain.example"]


def test_unreachable_preferred_mx_falls_back_to_the_next_one(alice, dns_server, smtp_server):
    dns_server.resolver.add("multi.example. 300 IN MX 5 dead.multi.example.")
    dns_server.resolver.add("multi.example. 300 IN MX 10 live.multi.example.")
    dns_server.resolver.add("dead.multi.example. 300 IN A 127.0.0.2")  # nothing listens there
    dns_server.resolver.add("live.multi.example. 300 IN A 127.0.0.1")
    message = send_message(user=alice, to=["ok@multi.example"], text="x")
    run_delivery()

    recipient = message.recipients.get()
    assert (recipient.status, recipient.remote_host) == ("sent", "live.multi.example")


def test_no_reachable_server_defers(alice, dns_server):
    dns_server.resolver.add("down.example. 300 IN MX 10 mx.down.example.")
    dns_server.resolver.add("mx.down.example. 300 IN A 127.0.0.1")  # SMTP_DELIVERY_PORT: nobody listens
    message = send_message(user=alice, to=["x@down.example"], text="x")
    run_delivery()

    recipient = message.recipients.get()
    assert (recipient.status, recipient.enhanced_status) == ("deferred", "4.4.1")
    assert "cannot talk to mx.down.example" in recipient.response


# --- broken connections, crashes, lost workers ------------------------------------------------


def test_connection_dropped_mid_data_defers_that_recipient_and_the_rest_go_through(alice, remote_domain, smtp_server):
    message = send_message(user=alice, to=["ok1@remote.example", "drop@remote.example", "ok2@remote.example"], text="x")
    run_delivery()

    statuses = {r.address: (r.status, r.enhanced_status) for r in message.recipients.all()}
    assert statuses["drop@remote.example"] == ("deferred", "4.4.2")
    assert statuses["ok1@remote.example"][0] == statuses["ok2@remote.example"][0] == "sent"


def test_server_stalling_past_the_timeout_is_a_temporary_failure(alice, remote_domain, smtp_server, settings):
    settings.SMTP_TIMEOUT = 1
    smtp_server.handler.stall_seconds = 3
    message = send_message(user=alice, to=["stall@remote.example"], text="x")
    run_delivery()

    recipient = message.recipients.get()
    assert (recipient.status, recipient.enhanced_status) == ("deferred", "4.4.2")


def test_worker_killed_after_claiming_loses_nothing(alice, remote_domain, smtp_server):
    message = send_message(user=alice, to=["ok@remote.example"], text="x")
    claim = claim_due_recipients(message_id=None, queue=None, limit=10, report=RunReport())
    recipient = message.recipients.get()
    assert recipient.status == Recipient.Status.SENDING
    # The worker dies here. Nobody else may take the recipient while the lease runs.
    assert run_delivery().claimed == 0
    assert reconcile_outbox()["released"] == 0

    Recipient.objects.filter(pk=recipient.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    report = reconcile_outbox()
    assert report["released"] == 1
    assert report["due_transactional"] == 1
    recipient.refresh_from_db()
    assert recipient.status == Recipient.Status.SENT  # the reconciler's dispatch ran the delivery
    assert events_of(recipient) == ["queued", "deferred", "sent"]
    assert len(smtp_server.messages) == 1

    # A late report from the dead worker's claim changes nothing.
    late = claim.recipients[0]
    from delivery.transports.base import Outcome, Result

    assert apply_result(claim=claim, recipient=late, result=Result(late.pk, Outcome.BOUNCED, 550, "5.1.1")) is None
    recipient.refresh_from_db()
    assert recipient.status == Recipient.Status.SENT


def test_crash_in_delivery_goes_to_dead_letters_and_an_admin_can_requeue(alice, remote_domain, smtp_server, settings):
    settings.MAIL_TRANSPORT = {"BACKEND": "tests.support.transports.CrashingTransport"}
    message = send_message(user=alice, to=["ok@remote.example"], text="x")

    report = run_delivery()

    recipient = message.recipients.get()
    assert report.failed == 1
    assert recipient.status == Recipient.Status.FAILED
    assert "RuntimeError" in recipient.events.get(event_type="failed").description
    assert not recipient.lease_token

    settings.MAIL_TRANSPORT = {"BACKEND": "delivery.transports.smtp.MXTransport"}
    assert requeue_recipients(recipient_ids=[recipient.pk]) == 1
    run_delivery()
    recipient.refresh_from_db()
    assert recipient.status == Recipient.Status.SENT
    assert events_of(recipient) == ["queued", "failed", "queued", "sent"]


# --- throttling ------------------------------------------------------------------------------


def test_per_domain_rate_limit_holds_back_the_excess_without_counting_an_attempt(
    alice, remote_domain, smtp_server, settings
):
    settings.OUTBOUND_DOMAIN_RATE_PER_MINUTE = 2
    message = send_message(user=alice, to=[f"ok{n}@remote.example" for n in range(5)], text="x")

    report = run_delivery()

    assert (report.sent, report.throttled) == (2, 3)
    waiting = message.recipients.filter(status=Recipient.Status.QUEUED)
    assert waiting.count() == 3
    assert all(r.attempts == 0 and r.next_attempt_at > timezone.now() for r in waiting)


def test_per_sender_rate_limit_applies_across_domains(alice, remote_domain, smtp_server, dns_server, settings):
    dns_server.resolver.add("other.example. 300 IN MX 10 mx.remote.example.")
    settings.OUTBOUND_SENDER_RATE_PER_MINUTE = 3
    send_message(
        user=alice, to=["ok1@remote.example", "ok2@remote.example", "ok1@other.example", "ok2@other.example"], text="x"
    )

    report = run_delivery()

    assert (report.sent, report.throttled) == (3, 1)


def test_local_recipients_are_not_throttled(alice, bob, settings):
    settings.OUTBOUND_DOMAIN_RATE_PER_MINUTE = 0
    settings.OUTBOUND_SENDER_RATE_PER_MINUTE = 0
    message = send_message(user=alice, to=["bob@example.test"], text="x")

    assert run_delivery().delivered == 1
    assert message.recipients.get().status == Recipient.Status.DELIVERED


# --- idempotency -------------------------------------------------------------------------------


def test_repeated_submission_with_one_idempotency_key_sends_once(alice, remote_domain, smtp_server):
    first = send_message(user=alice, to=["ok@remote.example"], text="x", idempotency_key="order-42")
    second = send_message(user=alice, to=["ok@remote.example"], text="x", idempotency_key="order-42")
    run_delivery()

    assert second.pk == first.pk
    assert Message.objects.count() == 1
    assert len(smtp_server.messages) == 1


def test_idempotency_key_reused_for_another_message_is_refused(alice, bob):
    send_message(user=alice, to=["bob@example.test"], text="x", idempotency_key="k1")

    with pytest.raises(IdempotencyKeyReused) as excinfo:
        send_message(user=alice, to=["bob@example.test"], text="something else", idempotency_key="k1")
    assert excinfo.value.status == 422
    # Keys belong to their user: bob may use the same one.
    assert send_message(user=bob, to=["alice@example.test"], text="x", idempotency_key="k1")


# --- transports by setting ---------------------------------------------------------------------


def test_relay_transport_sends_everything_to_the_smarthost(alice, smtp_server, settings):
    settings.MAIL_TRANSPORT = {
        "BACKEND": "delivery.transports.smtp.RelayTransport",
        "OPTIONS": {"HOST": "127.0.0.1", "PORT": smtp_server.port},
    }
    message = send_message(user=alice, to=["ok@anywhere.example"], text="x")  # no DNS record at all
    run_delivery()

    assert message.recipients.get().status == Recipient.Status.SENT
    assert smtp_server.messages[0].rcpt_tos == ["ok@anywhere.example"]


def test_esp_transport_and_its_tracking_webhook_feed_the_same_events(alice, settings, client):
    settings.MAIL_TRANSPORT = {
        "BACKEND": "delivery.transports.esp.AnymailTransport",
        "OPTIONS": {"EMAIL_BACKEND": "anymail.backends.test.EmailBackend"},
    }
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:s3cret"}
    message = send_message(user=alice, to=["someone@esp.example"], subject="Via ESP", text="x")
    run_delivery()

    recipient = message.recipients.get()
    assert recipient.status == Recipient.Status.SENT
    assert recipient.provider_message_id != ""

    bounce = {
        "RecordType": "Bounce",
        "Type": "HardBounce",
        "ID": 4323372036854775807,
        "MessageID": recipient.provider_message_id,
        "Email": "someone@esp.example",
        "BouncedAt": "2026-11-28T10:00:00Z",
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
    }
    for _ in range(2):  # ESPs retry webhooks; the event is recorded once
        response = client.post(
            "/anymail/postmark/tracking/", bounce, content_type="application/json",
            HTTP_AUTHORIZATION="Basic aG9vazpzM2NyZXQ=",
        )  # fmt: skip
        assert response.status_code == 200

    recipient.refresh_from_db()
    assert recipient.status == Recipient.Status.BOUNCED
    assert events_of(recipient) == ["queued", "sent", "bounced"]
    event = recipient.events.get(event_type="bounced")
    assert event.transport == "anymail:Postmark"
    assert event.esp_event["Type"] == "HardBounce"
    assert Suppression.objects.filter(address="someone@esp.example", reason="hard_bounce").exists()
    assert notices_for(alice).count() == 1


def test_esp_webhook_without_the_secret_is_refused(db, client, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:s3cret"}
    response = client.post("/anymail/postmark/tracking/", {"RecordType": "Open"}, content_type="application/json")

    assert response.status_code in (400, 403)
    assert not DeliveryEvent.objects.exists()
