"""The MX end to end: a real SMTP dialogue with the server, then the inbound pipeline.

Tasks run inline (after commit), so when the server has answered 250 the
message has also been processed; ``CELERY`` in production does that later.
"""

import shutil
import smtplib
import ssl
import subprocess
from email.message import EmailMessage
from email.utils import make_msgid

import dkim
import pytest

from accounts.dkim import generate_private_key_pem, public_key_base64
from delivery import verp
from delivery.services import run_delivery, send_message
from inbound import smtpd
from inbound.models import InboundMessage
from inbound.services.pipeline import reconcile_inbound
from mailboxes.blobstore import read_blob
from mailboxes.models import Folder, MailboxItem, Recipient
from mailboxes.parsing import parse_message
from webmail.celery import app as celery_app

pytestmark = pytest.mark.django_db(transaction=True)

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def message_bytes(*, sender="Sam <sam@sender.example>", to="alice@example.test", subject="Hello", body="Hi!",
                  attachments=()) -> bytes:  # fmt: skip
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Sat, 28 Nov 2026 10:00:00 +0000"
    msg["Message-ID"] = make_msgid(domain="sender.example")
    msg.set_content(body)
    for filename, content in attachments:
        msg.add_attachment(content, maintype="application", subtype="octet-stream", filename=filename)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def smtp(mx_server) -> smtplib.SMTP:
    client = smtplib.SMTP(*mx_server, timeout=60)
    client.ehlo("mail.sender.example")
    return client


def inbox(user):
    return MailboxItem.objects.filter(user=user, folder=Folder.INBOX).select_related("message")


# --- the dialogue -----------------------------------------------------------------------------


def test_ehlo_advertises_size_8bitmime_smtputf8_and_pipelining(mx_server):
    client = smtplib.SMTP(*mx_server, timeout=60)
    code, _ = client.ehlo("client.example")
    assert code == 250
    for extension in ("size", "8bitmime", "smtputf8", "pipelining", "enhancedstatuscodes"):
        assert client.has_extn(extension), extension
    assert not client.has_extn("starttls")  # no certificate configured
    client.quit()


def test_starttls_is_offered_and_works_when_a_certificate_is_configured(mx_server, alice, settings, tmp_path):
    from tests.support.smtp_server import write_self_signed_certificate

    settings.SMTPD_TLS_CERT, settings.SMTPD_TLS_KEY = write_self_signed_certificate(tmp_path, "mx.example.test")

    client = smtp(mx_server)
    assert client.has_extn("starttls")
    client.starttls(context=ssl._create_unverified_context())  # noqa: S323 - a throwaway test certificate
    client.ehlo("mail.sender.example")
    client.sendmail("sam@sender.example", ["alice@example.test"], message_bytes(subject="Over TLS"))
    client.quit()

    assert inbox(alice).get().message.subject == "Over TLS"


def test_unknown_user_on_a_hosted_domain_is_refused_with_5_1_1(mx_server, alice):
    client = smtp(mx_server)
    client.mail("sam@sender.example")
    code, reply = client.rcpt("nobody@example.test")
    assert (code, reply[:5]) == (550, b"5.1.1")
    client.quit()


def test_relaying_to_a_domain_we_do_not_host_is_refused(mx_server, alice):
    client = smtp(mx_server)
    client.mail("sam@sender.example")
    code, reply = client.rcpt("victim@elsewhere.example")
    assert (code, reply[:5]) == (550, b"5.7.1")
    client.rset()
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        client.sendmail(
            "sam@sender.example", ["victim@elsewhere.example"], message_bytes(to="victim@elsewhere.example")
        )
    client.quit()
    assert not InboundMessage.objects.exists()


def test_too_many_recipients_get_452(mx_server, alice, settings):
    settings.SMTPD_MAX_RECIPIENTS = 2
    # The handler reads the setting per call, so the running server sees it.
    client = smtp(mx_server)
    client.mail("sam@sender.example")
    assert client.rcpt("alice@example.test")[0] == 250
    assert client.rcpt("Alice@example.test")[0] == 250  # the same mailbox again: accepted, counted once
    code, reply = client.rcpt("alice+x@example.test")
    assert code == 250
    code, reply = client.rcpt("alice+y@example.test")
    assert (code, reply[:5]) == (452, b"4.5.3")
    client.quit()


def test_message_over_the_size_limit_is_refused_with_5_3_4(mx_server, alice, settings):
    settings.MAIL_MAX_MESSAGE_BYTES = 50_000

    client = smtp(mx_server)
    assert client.esmtp_features["size"] == "50000"
    code, reply = client.mail("sam@sender.example", ["SIZE=60000"])
    assert (code, reply[:5]) == (552, b"5.3.4")
    client.rset()
    # A client that does not declare SIZE is stopped at the end of DATA.
    assert client.mail("sam@sender.example")[0] == 250
    assert client.rcpt("alice@example.test")[0] == 250
    code, reply = client.data(message_bytes(attachments=[("big.bin", b"x" * 60_000)]))
    assert (code, reply[:5]) == (552, b"5.3.4")
    client.quit()
    assert not InboundMessage.objects.exists()


def test_a_30_mb_message_is_refused_over_the_default_25_mb_limit_and_nothing_is_stored(mx_server, alice):
    raw = message_bytes(attachments=[("video.bin", b"\x00" * (30 * 1024 * 1024))])
    client = smtp(mx_server)
    assert client.mail("sam@sender.example")[0] == 250  # no SIZE declared: the limit is enforced on the data
    assert client.rcpt("alice@example.test")[0] == 250

    code, reply = client.data(raw)

    assert (code, reply[:5]) == (552, b"5.3.4")
    client.quit()
    assert not InboundMessage.objects.exists()


@pytest.fixture
def mx_clock(monkeypatch):
    """The MX's clock, frozen: its one-minute windows move only when a test moves it."""
    clock = {"now": 1000.0}
    monkeypatch.setattr(smtpd, "clock", lambda: clock["now"])
    return clock


def test_per_client_message_rate_limit_answers_450_until_the_minute_has_passed(mx_server, alice, settings, mx_clock):
    settings.SMTPD_MESSAGES_PER_MINUTE_PER_IP = 2
    client = smtp(mx_server)
    for _ in range(2):
        assert client.mail("sam@sender.example")[0] == 250
        client.rset()
    mx_clock["now"] += 59
    code, reply = client.mail("sam@sender.example")
    assert (code, reply[:5]) == (450, b"4.7.1")
    mx_clock["now"] += 2
    assert client.mail("sam@sender.example")[0] == 250
    client.quit()


def test_per_client_connection_rate_limit_answers_421(mx_server, settings, db, mx_clock):
    settings.SMTPD_CONNECTIONS_PER_MINUTE_PER_IP = 2
    for _ in range(2):
        smtp(mx_server).quit()
    with pytest.raises(smtplib.SMTPConnectError) as excinfo:
        smtplib.SMTP(*mx_server, timeout=60)
    assert (excinfo.value.smtp_code, excinfo.value.smtp_error[:5]) == (421, b"4.7.0")


# --- accepted mail ------------------------------------------------------------------------------


def test_accepted_mail_lands_in_the_inbox_with_its_authentication_results(mx_server, alice, dns_server, settings):
    dns_server.resolver.add('sender.example. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"')
    key = generate_private_key_pem()
    record = f"v=DKIM1; k=rsa; p={public_key_base64(key)}"
    chunks = " ".join(f'"{record[i : i + 255]}"' for i in range(0, len(record), 255))  # TXT strings max 255
    dns_server.resolver.add(f"sel._domainkey.sender.example. 300 IN TXT {chunks}")
    dns_server.resolver.add('_dmarc.sender.example. 300 IN TXT "v=DMARC1; p=reject"')
    raw = message_bytes(subject="Signed hello")
    signed = dkim.sign(raw, b"sel", b"sender.example", key.encode(), canonicalize=(b"relaxed", b"relaxed")) + raw

    client = smtp(mx_server)
    refused = client.sendmail("sam@sender.example", ["alice@example.test"], signed)
    client.quit()

    assert refused == {}
    job = InboundMessage.objects.get()
    assert read_blob(job.blob) == signed  # the exact bytes received
    assert job.status == InboundMessage.Status.DELIVERED
    assert job.client_ip == "127.0.0.1" and job.helo == "mail.sender.example"
    [item] = inbox(alice)
    stored = read_blob(item.message.blob)
    assert stored.endswith(signed)
    header = parse_message(stored).headers["authentication-results"]
    assert header.startswith(f"{settings.MAIL_HOSTNAME};")
    assert "spf=pass" in header and "dkim=pass" in header and "dmarc=pass" in header
    assert item.message.subject == "Signed hello"
    assert not item.is_read


def test_failing_dmarc_with_a_reject_policy_goes_to_spam(mx_server, alice, dns_server):
    dns_server.resolver.add('sender.example. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"')
    dns_server.resolver.add('_dmarc.sender.example. 300 IN TXT "v=DMARC1; p=reject"')

    client = smtp(mx_server)
    client.sendmail("sam@sender.example", ["alice@example.test"], message_bytes(subject="Forged"))
    client.quit()

    item = MailboxItem.objects.get(user=alice)
    assert item.folder == Folder.SPAM
    assert "dmarc=fail" in InboundMessage.objects.get().authentication_results


def test_eicar_is_quarantined_and_never_delivered(mx_server, alice):
    client = smtp(mx_server)
    client.sendmail("sam@sender.example", ["alice@example.test"], message_bytes(attachments=[("eicar.com", EICAR)]))
    client.quit()

    job = InboundMessage.objects.get()
    assert job.status == InboundMessage.Status.QUARANTINED
    assert job.virus_verdict["infected"]
    assert not MailboxItem.objects.filter(user=alice).exists()


def test_one_message_to_several_users_is_stored_once_and_placed_for_each(mx_server, alice, bob):
    client = smtp(mx_server)
    client.sendmail("sam@sender.example", ["alice@example.test", "bob@example.test"], message_bytes())
    client.quit()

    items = MailboxItem.objects.all()
    assert sorted(i.user.username for i in items) == ["alice@example.test", "bob@example.test"]
    assert len({i.message_id for i in items}) == 1


def test_the_same_message_id_delivered_twice_gives_one_item(mx_server, alice):
    raw = message_bytes(subject="Retried")
    for _ in range(2):
        client = smtp(mx_server)
        client.sendmail("sam@sender.example", ["alice@example.test"], raw)
        client.quit()

    assert InboundMessage.objects.count() == 2
    assert MailboxItem.objects.filter(user=alice).count() == 1


def test_a_job_stranded_after_250_is_processed_by_the_reconciler(mx_server, alice, monkeypatch):
    # The task is "lost": the MX's dispatch (its timer may fire at any time after the 250) queues nothing.
    monkeypatch.setattr(smtpd, "dispatch_processing", lambda **kwargs: None)
    celery_app.conf.task_always_eager = False
    try:
        client = smtp(mx_server)
        client.sendmail("sam@sender.example", ["alice@example.test"], message_bytes(subject="Stranded"))
        client.quit()
    finally:
        celery_app.conf.task_always_eager = True
    job = InboundMessage.objects.get()
    assert job.status == InboundMessage.Status.QUEUED
    assert not MailboxItem.objects.exists()

    InboundMessage.objects.filter(pk=job.pk).update(received_at=job.received_at.replace(year=2025))
    assert reconcile_inbound() == {"redispatched": 1, "dead_lettered": 0}

    job.refresh_from_db()
    assert job.status == InboundMessage.Status.DELIVERED
    assert inbox(alice).get().message.subject == "Stranded"


MALFORMED = {
    "broken_boundary": (
        b"From: a@sender.example\r\nTo: alice@example.test\r\nSubject: broken\r\n"
        b"Content-Type: multipart/mixed; boundary=XYZ\r\n\r\n--XYZ\r\nContent-Type: text/plain\r\n\r\npart one\r\n"
    ),
    "bad_base64": (
        b"From: a@sender.example\r\nTo: alice@example.test\r\nSubject: b64\r\nContent-Type: text/plain\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64***\r\n"
    ),
    "unknown_charset": (
        b"From: a@sender.example\r\nTo: alice@example.test\r\nSubject: cs\r\n"
        b"Content-Type: text/plain; charset=x-klingon\r\n\r\n\xe9t\xe9\r\n"
    ),
    "eight_bit_headers": (
        "From: J\u00f6rg <j@sender.example>\r\nTo: alice@example.test\r\n"
        "Subject: gr\u00fc\u00dfe \u4f60\u597d\r\n\r\nhallo\r\n"
    ).encode(),
    "thousand_header_recipients": (
        b"From: a@sender.example\r\nTo: "
        + b", ".join(f"user{n}@list.example".encode() for n in range(1000))
        + b"\r\nSubject: many\r\n\r\nhi\r\n"
    ),
    "no_headers_at_all": b"\r\njust a body\r\n",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_mail_is_accepted_and_placed_not_lost(mx_server, alice, name):
    client = smtp(mx_server)
    client.sendmail("a@sender.example", ["alice@example.test"], MALFORMED[name])
    client.quit()

    job = InboundMessage.objects.get()
    assert job.status == InboundMessage.Status.DELIVERED, job.error
    item = MailboxItem.objects.get(user=alice)
    assert read_blob(item.message.blob).endswith(MALFORMED[name])


# --- bounces --------------------------------------------------------------------------------------


def test_a_dsn_to_our_verp_address_bounces_the_recipient_and_is_not_placed(mx_server, alice, remote_domain, settings):
    message = send_message(user=alice, to=["ok-then-gone@remote.example"], subject="Invoice", text="x")
    run_delivery()
    recipient = message.recipients.get()
    assert recipient.status == Recipient.Status.SENT
    return_path = verp.return_path(recipient_id=recipient.pk, domain="example.test")
    dsn = (
        "From: MAILER-DAEMON@mx.remote.example\r\nTo: " + return_path + "\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.remote.example\r\n\r\n"
        "Final-Recipient: rfc822; ok-then-gone@remote.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 mailbox gone\r\n"
        f"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{message.message_id}>\r\n--B--\r\n"
    ).encode()

    client = smtp(mx_server)
    client.sendmail("", [return_path], dsn)
    client.quit()

    recipient.refresh_from_db()
    assert recipient.status == Recipient.Status.BOUNCED
    assert InboundMessage.objects.get().status == InboundMessage.Status.REPORT
    # The report itself is in nobody's mailbox; alice has only our own notice about it.
    [notice] = MailboxItem.objects.filter(user=alice, origin="received")
    assert notice.message.from_address == f"MAILER-DAEMON@{settings.MAIL_HOSTNAME}"
    assert settings.MAIL_HOSTNAME != "localhost"


# --- swaks ------------------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed (apt-get install swaks)")
def test_swaks_delivers_to_a_hosted_address(mx_server, alice):
    host, port = mx_server
    result = subprocess.run(  # noqa: S603 - fixed arguments, loopback only
        ["swaks", "--server", host, "--port", str(port), "--from", "swaks@sender.example",  # noqa: S607
         "--to", "alice@example.test", "--header", "Subject: hello from swaks", "--body", "swaks body"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "250 2.0.0 OK queued as" in result.stdout
    assert inbox(alice).get().message.subject == "hello from swaks"
