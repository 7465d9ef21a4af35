"""The fast paths of outbound delivery keep its guarantees.

Outcomes of a claim are recorded together (set-based), SMTP commands are
pipelined when the server offers it, DKIM signatures come from OpenSSL:
each is checked here against the behaviour it must not change.
"""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import dkim as dkimpy
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.utils import timezone
from django.utils.crypto import salted_hmac

from core.bulk import insert_objects
from delivery import dkim, verp
from delivery.models import DeliveryEvent, SendRate, Suppression
from delivery.services import run_delivery, send_message
from delivery.services.engine import RunReport, claim_due_recipients, deliver_batch, deliver_claim, record_results
from delivery.services.events import new_delivery_event, refresh_message_statuses
from delivery.services.rates import forget_old_rates
from delivery.services.reconcile import reconcile_outbox
from delivery.transports import reset_transport
from delivery.transports.base import Outcome, Result
from mailboxes.models import Message, Recipient
from tests.support.smtp_server import FaultySMTPServer

MIXED = {
    "ok1@remote.example": ("sent", 250, "2.0.0"),
    "ok2@remote.example": ("sent", 250, "2.0.0"),
    "temp@remote.example": ("deferred", 451, "4.2.0"),
    "unknown@remote.example": ("bounced", 550, "5.1.1"),
    "full@remote.example": ("bounced", 552, "5.2.2"),
}


@pytest.fixture(params=["pipelining", "no-pipelining"])
def any_smtp_server(request, settings):
    """The loopback SMTP server, once offering PIPELINING and once not."""
    server = FaultySMTPServer(pipelining=request.param == "pipelining").start()
    settings.SMTP_DELIVERY_PORT = server.port
    yield server
    reset_transport()
    server.stop()


@pytest.fixture
def remote(dns_server, any_smtp_server):
    dns_server.resolver.add("remote.example. 300 IN MX 10 mx.remote.example.")
    dns_server.resolver.add("mx.remote.example. 300 IN A 127.0.0.1")
    return any_smtp_server


def test_mixed_outcomes_of_one_claim_are_each_recorded(alice, remote):
    first = send_message(user=alice, to=["ok1@remote.example", "temp@remote.example"], text="one")
    second = send_message(user=alice, to=["ok2@remote.example", "unknown@remote.example"], cc=["full@remote.example"])

    report = run_delivery(max_batches=1)

    assert (report.claimed, report.sent, report.deferred, report.bounced) == (5, 2, 1, 2)
    for recipient in Recipient.objects.filter(message__in=[first, second]):
        status, code, enhanced = MIXED[recipient.address]
        assert (recipient.status, recipient.smtp_code, recipient.enhanced_status) == (status, code, enhanced)
        assert (recipient.lease_token, recipient.lease_expires_at) == ("", None)
        assert recipient.remote_host == "mx.remote.example"
        assert str(code) in recipient.response
        [event] = recipient.events.exclude(event_type="queued")
        assert event.event_type == status
        assert event.metadata["enhanced_status"] == enhanced
        if status == "deferred":
            assert recipient.next_attempt_at > recipient.last_attempt_at
    unknown = Recipient.objects.get(address="unknown@remote.example")
    suppression = Suppression.objects.get()
    assert (suppression.address, suppression.source_event.recipient) == ("unknown@remote.example", unknown)
    assert unknown.events.get(event_type="bounced").reject_reason == "invalid"
    assert Recipient.objects.get(address="full@remote.example").events.get(event_type="bounced").reject_reason == (
        "bounced"
    )
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (Message.Status.QUEUED, Message.Status.PARTIALLY_FAILED)
    assert sorted(m.rcpt_tos[0] for m in remote.messages) == ["ok1@remote.example", "ok2@remote.example"]


def test_commands_are_pipelined_only_when_the_server_offers_it(alice, remote):
    send_message(user=alice, to=[*MIXED], text="x")

    run_delivery()

    expected = len(MIXED) if remote.handler.pipelining else 0
    assert remote.handler.pipelined_mail_commands == expected
    assert len(remote.messages) == 2
    # After refused recipients the connection is still in a clean state: one connection did it all.
    assert remote.handler.connections == 2  # EHLO before and after STARTTLS


def test_content_is_dot_stuffed_and_arrives_byte_for_byte(alice, remote):
    text = ".starts with a dot\n..two dots\nmiddle . dot\n.\nlast line"
    message = send_message(user=alice, to=["ok@remote.example"], text=text)

    run_delivery()

    [received] = remote.messages
    assert message.recipients.get().status == Recipient.Status.SENT
    for line in (b".starts with a dot", b"..two dots", b"middle . dot"):
        assert line in received.content
    assert b"\r\n.\r\nlast line" in received.content


def test_a_lost_lease_in_a_batch_leaves_that_recipient_alone_and_records_the_others(alice, remote):
    message = send_message(user=alice, to=["ok1@remote.example", "ok2@remote.example"], text="x")
    claim = claim_due_recipients(message_id=None, queue=None, limit=10, report=RunReport())
    kept, lost = sorted(claim.recipients, key=lambda r: r.address)
    # The reconciler took ``lost`` back and another worker now holds it.
    Recipient.objects.filter(pk=lost.pk).update(lease_token="someone-else")

    report = RunReport()
    outcomes = [(r, Result(r.pk, Outcome.SENT, 250, "2.0.0", "250 2.0.0 OK", remote_host="mx")) for r in (kept, lost)]
    record_results(claim=claim, outcomes=outcomes, report=report, failures={})

    assert report.sent == 1
    kept.refresh_from_db()
    lost.refresh_from_db()
    assert (kept.status, kept.lease_token) == ("sent", "")
    assert (lost.status, lost.lease_token) == ("sending", "someone-else")
    assert not lost.events.exclude(event_type="queued").exists()
    assert DeliveryEvent.objects.filter(message=message, event_type="sent").count() == 1


def test_two_claims_finishing_one_message_leave_it_sent(alice, remote):
    message = send_message(user=alice, to=["ok1@remote.example", "ok2@remote.example"], text="x")
    first = claim_due_recipients(message_id=None, queue=None, limit=1, report=RunReport())
    second = claim_due_recipients(message_id=None, queue=None, limit=1, report=RunReport())
    assert len(first.recipients) == len(second.recipients) == 1

    deliver_claim(first, RunReport())
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED
    deliver_claim(second, RunReport())

    message.refresh_from_db()
    assert message.status == Message.Status.SENT


def test_message_statuses_are_refreshed_together(alice):
    messages = [send_message(user=alice, to=[f"x{n}@remote.example", f"y{n}@remote.example"]) for n in range(3)]
    finals = [("sent", "sent"), ("sent", "bounced"), ("sent", "deferred")]
    for message, statuses in zip(messages, finals, strict=True):
        for recipient, status in zip(message.recipients.order_by("address"), statuses, strict=True):
            Recipient.objects.filter(pk=recipient.pk).update(status=status)

    refresh_message_statuses(m.pk for m in messages)

    assert [Message.objects.get(pk=m.pk).status for m in messages] == [
        Message.Status.SENT,
        Message.Status.PARTIALLY_FAILED,
        Message.Status.QUEUED,
    ]


# --- DKIM through OpenSSL ---------------------------------------------------------------


@pytest.fixture(scope="module")
def key():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + b"".join(public.splitlines()[1:-1])
    return SimpleNamespace(name="example.test", dkim_selector="s1", dkim_private_key=pem), record


RAW = (
    b"From: Alice <alice@example.test>\r\nTo: bob@remote.example\r\nSubject: Signed  by   OpenSSL\r\n"
    b"Date: Sat, 28 Nov 2026 05:00:00 +0000\r\nMessage-ID: <1@example.test>\r\n\r\n"
    b"A body   with  spaces \r\n\r\n\r\n"
)


def test_openssl_signature_verifies_with_dkimpy(key):
    domain, record = key
    signed = dkim.sign(RAW, domain=domain)

    assert dkimpy.verify(signed, dnsfunc=lambda name, timeout=5: record)
    assert not dkimpy.verify(signed.replace(b"A body", b"A bod"), dnsfunc=lambda name, timeout=5: record)


MULTIPART = (
    b"From: =?utf-8?q?Al=C3=AFce?= <alice@example.test>\r\nTo: bob@remote.example,\r\n carol@remote.example\r\n"
    b"Cc: dan@remote.example\r\nSubject: A subject folded\r\n\tonto two lines \r\n"
    b"Date: Sat, 28 Nov 2026 05:00:00 +0000\r\nMessage-ID: <2@example.test>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative; boundary="b1"\r\n\r\n'
    b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nLine\t one  \r\n.leading dot\r\n"
    b"--b1\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--b1--\r\n\r\n"
)


@pytest.mark.parametrize("raw", [RAW, MULTIPART], ids=["plain", "multipart"])
def test_openssl_signature_is_the_one_dkimpy_would_make(key, monkeypatch, raw):
    """RSASSA-PKCS1-v1_5 is deterministic: same key, same time, same bytes."""
    domain, record = key
    monkeypatch.setattr(dkimpy.time, "time", lambda: 1_795_000_000)
    ours = dkim.sign(raw, domain=domain)
    theirs = dkimpy.sign(
        raw, selector=b"s1", domain=b"example.test", privkey=domain.dkim_private_key.encode(),
        canonicalize=(b"relaxed", b"relaxed"),
    ) + raw  # fmt: skip
    assert ours == theirs
    assert b"t=1795000000" in ours
    assert dkimpy.verify(ours, dnsfunc=lambda name, timeout=5: record)


def test_domain_without_a_key_is_not_signed():
    assert dkim.sign(RAW, domain=SimpleNamespace(name="example.test", dkim_selector="s1", dkim_private_key="")) == RAW
    assert dkim.sign(RAW, domain=None) == RAW


# --- throttles from the SendRate counters ------------------------------------------------


def test_domain_rate_counts_attempts_of_earlier_claims_within_the_minute(alice, remote, settings, clock):
    settings.OUTBOUND_DOMAIN_RATE_PER_MINUTE = 3
    clock.now = datetime(2026, 12, 6, 12, 0, 9, 900_000, tzinfo=UTC)  # the end of a counter slot
    send_message(user=alice, to=["ok1@remote.example", "ok2@remote.example"], text="first")
    assert run_delivery().sent == 2
    clock.now += timedelta(seconds=50)  # slots later, still within the minute
    send_message(user=alice, to=["ok3@remote.example", "ok4@remote.example"], text="second")

    report = run_delivery()

    assert (report.sent, report.throttled) == (1, 1)
    for scope, key in (("domain", "remote.example"), ("sender", str(alice.pk))):
        slots = SendRate.objects.filter(scope=scope, key=key)
        assert [(row.slot.second, row.attempts) for row in slots.order_by("slot")] == [(0, 2), (50, 1)]


def test_attempts_older_than_the_window_no_longer_count_and_are_forgotten(alice, remote, settings, clock):
    settings.OUTBOUND_SENDER_RATE_PER_MINUTE = 2
    send_message(user=alice, to=["ok1@remote.example", "ok2@remote.example"], text="first")
    assert run_delivery().sent == 2
    clock.now += timedelta(minutes=1, seconds=10)  # the first claim's slot has left the window
    send_message(user=alice, to=["ok3@remote.example"], text="second")

    assert run_delivery().sent == 1
    assert forget_old_rates(now=clock.now + timedelta(minutes=1)) == 2  # the old domain and sender slots
    assert SendRate.objects.count() == 2  # the new ones


@pytest.mark.parametrize(
    "address",
    ["bounces+1a-0123456789ab@example.test", "ok@remote.example", '"john doe"@x.test', "üñí@例え.jp", "x<y@z", ""],
)
def test_pipelined_commands_quote_addresses_as_smtplib_does(address):
    import smtplib

    from delivery.transports.smtp import _angle_addr

    assert _angle_addr(address) == smtplib.quoteaddr(address)


# --- events and updates as one JSON parameter (PostgreSQL; bulk_create elsewhere) ------------------


def test_events_inserted_together_keep_their_values_and_get_their_own_ids(alice):
    message = send_message(user=alice, to=["a@remote.example", "b@remote.example"], subject="x", text="x")
    first, second = message.recipients.order_by("pk")
    events = [
        new_delivery_event(
            recipient=first, event_type="bounced", transport="smtp", reject_reason="invalid",
            mta_response="550 5.1.1 it's \"gone\" \\ ünïcode", smtp_code=550, enhanced_status="5.1.1",
            remote_host="mx.remote.example", metadata={"nested": {"list": [1, None]}},
        ),
        new_delivery_event(recipient=second, event_type="sent", transport="smtp", esp_event={"raw": True}),
        new_delivery_event(recipient=second, event_type="deferred", transport="engine", description="later"),
    ]  # fmt: skip
    insert_objects(events)
    assert len({e.pk for e in events}) == 3 and all(e.pk for e in events)
    for event in events:
        stored = DeliveryEvent.objects.get(pk=event.pk)
        for name in ("recipient_id", "message_id", "event_type", "reject_reason", "transport", "description"):
            assert getattr(stored, name) == getattr(event, name)
        assert (stored.mta_response, stored.metadata, stored.esp_event, stored.timestamp) == (
            event.mta_response, event.metadata, event.esp_event, event.timestamp,
        )  # fmt: skip
    assert DeliveryEvent.objects.get(pk=events[1].pk).esp_event == {"raw": True}
    assert DeliveryEvent.objects.filter(pk=events[0].pk, esp_event__isnull=True).exists()  # SQL NULL, not JSON null


def test_a_hard_bounce_is_suppressed_with_its_own_event_as_source(alice, remote):
    message = send_message(user=alice, to=["ok1@remote.example", "unknown@remote.example"], subject="x", text="x")
    run_delivery(message_id=message.pk)
    entry = Suppression.objects.get(address="unknown@remote.example")
    assert entry.source_event.recipient.address == "unknown@remote.example"
    assert entry.source_event.event_type == "bounced"


def test_verp_signature_is_the_one_salted_hmac_made(settings):
    """Return paths of mail sent before the key was cached must still map back to their recipient."""
    for secret in ("first-secret", "second-secret"):
        settings.SECRET_KEY = secret
        for recipient_id in (1, 36, 123456789):
            expected = salted_hmac("delivery.verp", str(recipient_id), algorithm="sha256").hexdigest()[:12]
            address = verp.return_path(recipient_id=recipient_id, domain="example.test")
            assert address.split("-")[-1] == f"{expected}@example.test"
            assert verp.recipient_id_from(address) == recipient_id


def test_domains_a_claim_has_no_time_left_for_are_given_back_and_sent_once_later(alice, remote, settings):
    message = send_message(user=alice, to=["ok1@remote.example", "ok2@remote.example"], text="x")
    settings.OUTBOUND_CLAIM_SECONDS = 0  # the claim's time is up before its first domain

    report = deliver_batch(message_id=message.pk)

    assert (report.claimed, report.deferred, report.sent) == (2, 2, 0)
    assert remote.messages == []
    before = timezone.now()
    for recipient in message.recipients.all():
        assert (recipient.status, recipient.lease_token, recipient.lease_expires_at) == ("deferred", "", None)
        assert recipient.next_attempt_at <= before  # due again at once, for any worker
        assert recipient.events.get(event_type="deferred").transport == "engine"

    settings.OUTBOUND_CLAIM_SECONDS = 450
    assert run_delivery(message_id=message.pk).sent == 2
    assert sorted(m.rcpt_tos[0] for m in remote.messages) == ["ok1@remote.example", "ok2@remote.example"]
    message.refresh_from_db()
    assert message.status == Message.Status.SENT


def test_a_worker_killed_holding_a_whole_claim_loses_none_of_it(alice, remote, settings):
    messages = [send_message(user=alice, to=["ok1@remote.example", "ok2@remote.example"], text="x") for _ in range(3)]
    claim = claim_due_recipients(message_id=None, queue=None, limit=settings.OUTBOUND_BATCH_SIZE, report=RunReport())
    assert len(claim.recipients) == 6
    # The worker dies here, before delivering. Its lease keeps the others off until it ends.
    assert run_delivery().claimed == 0
    Recipient.objects.filter(lease_token=claim.token).update(lease_expires_at=timezone.now() - timedelta(seconds=1))

    assert reconcile_outbox()["released"] == 6
    run_delivery()

    assert len(remote.messages) == 6
    for message in messages:
        message.refresh_from_db()
        assert message.status == Message.Status.SENT
        for recipient in message.recipients.all():
            assert recipient.status == "sent"
            assert list(recipient.events.values_list("event_type", flat=True)) == ["queued", "deferred", "sent"]
    # A late report from the dead worker's claim records nothing.
    late = [(r, Result(r.pk, Outcome.BOUNCED, 550, "5.1.1", "550 late", remote_host="mx")) for r in claim.recipients]
    record_results(claim=claim, outcomes=late, report=RunReport(), failures={})
    assert not Recipient.objects.exclude(status="sent").filter(message__in=messages).exists()
    assert not Suppression.objects.exists()
