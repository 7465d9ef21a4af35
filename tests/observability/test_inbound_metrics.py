"""The receiving side's metrics (docs/METRICS-RECEIVING.md), moved by real mail through the real MX.

Each test sends over SMTP on loopback to the MX (``mx_server``), which stores the message and, tasks
running inline, processes it before its 250: authentication against the loopback DNS, the virus
scanner (built in, or the fake clamd), the spam filter (built in, or the fake rspamd), placement.
Counters are process-wide, so each test compares them before and after.
"""

import base64
import smtplib
from email.message import EmailMessage

import dkim
import pytest
from django.db import transaction
from prometheus_client import REGISTRY

from accounts.dkim import generate_private_key_pem, public_key_base64
from inbound.metrics import count_placement_on_commit
from inbound.models import InboundMessage
from inbound.services import pipeline
from mailboxes.models import Folder, MailboxChange, MailboxItem
from mailboxes.search.indexing import index_changes
from tests.support.fake_clamd import FakeClamd
from tests.support.fake_rspamd import FakeRspamd

pytestmark = pytest.mark.django_db(transaction=True)

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


class Metrics:
    """Sample values of the default registry, read again and compared with a snapshot taken at creation."""

    def __init__(self):
        self.before = self._all()

    def _all(self) -> dict:
        values = {}
        for metric in REGISTRY.collect():
            for sample in metric.samples:
                values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return values

    def moved(self) -> dict:
        """Every sample (``name{label=value,…}``) that moved since the snapshot, with how much."""
        after = self._all()
        moved = {}
        for key, value in after.items():
            delta = value - self.before.get(key, 0.0)
            name, labels = key
            if delta and name.startswith("webmail_") and not name.endswith(("_created", "_sum", "_bucket")):
                moved[name + "{" + ",".join(f"{k}={v}" for k, v in labels) + "}"] = delta
        return moved

    def delta(self, name: str, **labels) -> float:
        key = (name, tuple(sorted(labels.items())))
        return (REGISTRY.get_sample_value(name, labels) or 0.0) - self.before.get(key, 0.0)


def placements(metrics: Metrics) -> dict:
    return {k: v for k, v in metrics.moved().items() if k.startswith("webmail_inbound_messages_total")}


def message_bytes(*, sender="Sam <sam@sender.example>", to="alice@example.test", subject="Hello", body="Hi!",
                  attachments=()) -> bytes:  # fmt: skip
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Sat, 28 Nov 2026 10:00:00 +0000"
    msg["Message-ID"] = f"<{subject.replace(' ', '-')}@sender.example>"
    msg.set_content(body)
    for filename, content in attachments:
        msg.add_attachment(content, maintype="application", subtype="octet-stream", filename=filename)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def send(mx_server, raw: bytes, rcpt_tos=("alice@example.test",)) -> dict:
    client = smtplib.SMTP(*mx_server, timeout=60)
    client.ehlo("mail.sender.example")
    refused = client.sendmail("sam@sender.example", list(rcpt_tos), raw)
    client.quit()
    return refused


def publish_sender_dns(dns_server, *, spf="v=spf1 ip4:127.0.0.1 -all", dmarc="v=DMARC1; p=reject") -> str:
    """sender.example's SPF, DMARC and a DKIM key (selector ``sel``) on the loopback DNS; the private key."""
    dns_server.resolver.add(f'sender.example. 300 IN TXT "{spf}"')
    dns_server.resolver.add(f'_dmarc.sender.example. 300 IN TXT "{dmarc}"')
    key = generate_private_key_pem()
    record = f"v=DKIM1; k=rsa; p={public_key_base64(key)}"
    chunks = " ".join(f'"{record[i : i + 255]}"' for i in range(0, len(record), 255))  # TXT strings max 255
    dns_server.resolver.add(f"sel._domainkey.sender.example. 300 IN TXT {chunks}")
    return key


def signed(raw: bytes, key: str) -> bytes:
    return dkim.sign(raw, b"sel", b"sender.example", key.encode(), canonicalize=(b"relaxed", b"relaxed")) + raw


def spammy_mail() -> bytes:
    html = (
        "<html><body><p>CONGRATULATIONS!!! You are a winner! Act now, this is a limited time offer!!!</p>"
        '<a href="http://192.0.2.7/claim">https://www.paypal.com/claim</a>'
        '<a href="http://bit.ly/xyz">Claim your prize</a> <a href="http://192.0.2.7/x">click here</a>'
        '<div style="font-size:0">invisible words for the filters</div></body></html>'
    )
    return (
        "From: PayPal Security <security@prizes.example>\r\nTo: alice@example.test\r\n"
        "Reply-To: claims@another.example\r\nSubject: YOU HAVE WON A FREE IPHONE!!!\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(html.encode()).decode().replace("\n", "\r\n")
    ).encode()


@pytest.fixture
def fake_clamd(settings):
    server = FakeClamd().start()
    settings.INBOUND_VIRUS_SCANNER = {"BACKEND": "inbound.filters.virus.ClamdScanner", "OPTIONS": {"URL": server.url}}
    yield server
    server.stop()


@pytest.fixture
def fake_rspamd(settings):
    server = FakeRspamd().start()
    settings.INBOUND_SPAM_FILTER = {
        "BACKEND": "inbound.filters.spam.RspamdFilter",
        "OPTIONS": {"URL": server.url, "TIMEOUT": 5},
    }
    yield server
    server.stop()


# --- the MX -----------------------------------------------------------------------------------------


def test_each_connection_and_the_final_reply_to_each_rcpt_and_data_are_counted_by_code(mx_server, alice, settings):
    metrics = Metrics()
    client = smtplib.SMTP(*mx_server, timeout=60)
    client.ehlo("mail.sender.example")
    client.mail("sam@sender.example")
    assert client.rcpt("nobody@example.test")[0] == 550  # no such user
    assert client.rcpt("victim@elsewhere.example")[0] == 550  # relaying
    assert client.rcpt("alice@example.test")[0] == 250
    assert client.data(message_bytes())[0] == 250  # its 354 is no final reply, and is not counted
    client.quit()

    settings.MAIL_MAX_MESSAGE_BYTES = 2000
    client = smtplib.SMTP(*mx_server, timeout=60)
    client.ehlo("mail.sender.example")
    client.mail("sam@sender.example")
    assert client.docmd("DATA")[0] == 503  # no recipient yet
    assert client.rcpt("alice@example.test")[0] == 250
    assert client.data(message_bytes(body="x" * 5000))[0] == 552
    client.quit()

    moved = {k: v for k, v in metrics.moved().items() if k.startswith("webmail_mx_")}
    assert moved == {
        "webmail_mx_connections_total{}": 2,
        "webmail_mx_replies_total{code=550,command=RCPT}": 2,
        "webmail_mx_replies_total{code=250,command=RCPT}": 2,
        "webmail_mx_replies_total{code=250,command=DATA}": 1,
        "webmail_mx_replies_total{code=503,command=DATA}": 1,
        "webmail_mx_replies_total{code=552,command=DATA}": 1,
    }


def test_a_temporary_failure_to_store_is_counted_as_451_to_data(mx_server, alice, monkeypatch):
    def broken(arrivals, dispatch):
        raise RuntimeError("the database is away")

    monkeypatch.setattr("inbound.smtpd.accept_messages", broken)
    metrics = Metrics()
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(mx_server, message_bytes())
    assert refused.value.smtp_code == 451
    assert metrics.delta("webmail_mx_replies_total", command="DATA", code="451") == 1
    assert metrics.delta("webmail_inbound_messages_total", placement="inbox") == 0


# --- authentication, spam, viruses, placement -----------------------------------------------------


def test_authenticated_mail_counts_passes_a_clean_scan_a_ham_verdict_and_one_inbox_placement(
    mx_server, alice, dns_server
):
    key = publish_sender_dns(dns_server)
    metrics = Metrics()

    assert send(mx_server, signed(message_bytes(subject="Signed"), key)) == {}

    assert MailboxItem.objects.get(user=alice).folder == Folder.INBOX
    moved = metrics.moved()
    assert {k: v for k, v in moved.items() if k.startswith("webmail_auth_results_total")} == {
        "webmail_auth_results_total{method=spf,result=pass}": 1,
        "webmail_auth_results_total{method=dkim,result=pass}": 1,
        "webmail_auth_results_total{method=dmarc,result=pass}": 1,
        "webmail_auth_results_total{method=arc,result=none}": 1,
    }
    assert metrics.delta("webmail_virus_verdicts_total", verdict="clean") == 1
    assert metrics.delta("webmail_spam_verdicts_total", filter="builtin", verdict="ham") == 1
    assert placements(metrics) == {"webmail_inbound_messages_total{placement=inbox}": 1}
    assert metrics.delta("webmail_inbound_pipeline_duration_seconds_count") == 1
    assert metrics.delta("webmail_inbox_write_duration_seconds_count") == 1


def test_forged_mail_counts_spf_and_dmarc_failures_and_lands_in_spam(mx_server, alice, dns_server):
    publish_sender_dns(dns_server, spf="v=spf1 ip4:192.0.2.1 -all")  # not our loopback client
    metrics = Metrics()

    send(mx_server, message_bytes(subject="Forged"))  # and not signed

    assert MailboxItem.objects.get(user=alice).folder == Folder.SPAM  # p=reject, after acceptance: Spam
    assert {k: v for k, v in metrics.moved().items() if k.startswith("webmail_auth_results_total")} == {
        "webmail_auth_results_total{method=spf,result=fail}": 1,
        "webmail_auth_results_total{method=dkim,result=none}": 1,
        "webmail_auth_results_total{method=dmarc,result=fail}": 1,
        "webmail_auth_results_total{method=arc,result=none}": 1,
    }
    assert placements(metrics) == {"webmail_inbound_messages_total{placement=spam}": 1}


def test_a_tampered_signature_counts_a_dkim_failure(mx_server, alice, dns_server):
    key = publish_sender_dns(dns_server)
    metrics = Metrics()

    send(mx_server, signed(message_bytes(subject="Tampered"), key).replace(b"Hi!", b"Pay!"))

    assert metrics.delta("webmail_auth_results_total", method="dkim", result="fail") == 1
    assert metrics.delta("webmail_auth_results_total", method="dkim", result="pass") == 0
    assert metrics.delta("webmail_auth_results_total", method="dmarc", result="pass") == 1  # SPF still aligns


def test_spam_counts_a_builtin_spam_verdict_and_a_spam_placement(mx_server, alice):
    metrics = Metrics()

    send(mx_server, spammy_mail())

    assert MailboxItem.objects.get(user=alice).folder == Folder.SPAM
    assert {k: v for k, v in metrics.moved().items() if k.startswith("webmail_spam_verdicts_total")} == {
        "webmail_spam_verdicts_total{filter=builtin,verdict=spam}": 1
    }
    assert placements(metrics) == {"webmail_inbound_messages_total{placement=spam}": 1}
    assert metrics.delta("webmail_inbound_pipeline_duration_seconds_count") == 1


def test_rspamd_verdicts_are_counted_under_its_name_and_an_unreachable_rspamd_as_error(mx_server, alice, fake_rspamd):
    metrics = Metrics()
    pharma = b"From: shop@pharma.example\r\nTo: alice@example.test\r\nSubject: Best prices\r\n\r\nCheap viagra\r\n"
    send(mx_server, pharma)
    send(mx_server, message_bytes(subject="Plain"))
    fake_rspamd.state.fail_with = 500
    send(mx_server, message_bytes(subject="While rspamd is down"))

    assert {k: v for k, v in metrics.moved().items() if k.startswith("webmail_spam_verdicts_total")} == {
        "webmail_spam_verdicts_total{filter=rspamd,verdict=spam}": 1,
        "webmail_spam_verdicts_total{filter=rspamd,verdict=ham}": 1,
        "webmail_spam_verdicts_total{filter=rspamd,verdict=error}": 1,
    }
    assert placements(metrics) == {
        "webmail_inbound_messages_total{placement=spam}": 1,
        "webmail_inbound_messages_total{placement=inbox}": 2,  # unscored mail is delivered, not held
    }


def test_clamd_verdicts_clean_and_infected_and_quarantine_without_a_placement(mx_server, alice, fake_clamd):
    metrics = Metrics()

    send(mx_server, message_bytes(subject="Clean"))
    send(mx_server, message_bytes(subject="Infected", attachments=[("eicar.com", EICAR)]))

    assert InboundMessage.objects.get(status=InboundMessage.Status.QUARANTINED)
    assert {k: v for k, v in metrics.moved().items() if k.startswith("webmail_virus_verdicts_total")} == {
        "webmail_virus_verdicts_total{verdict=clean}": 1,
        "webmail_virus_verdicts_total{verdict=infected}": 1,
    }
    assert placements(metrics) == {
        "webmail_inbound_messages_total{placement=inbox}": 1,
        "webmail_inbound_messages_total{placement=quarantined}": 1,
    }
    assert metrics.delta("webmail_inbound_pipeline_duration_seconds_count") == 1  # the quarantined one never shows


def test_a_failing_scan_counts_an_error_per_attempt_and_the_dead_letter_once(mx_server, alice, fake_clamd):
    fake_clamd.state.max_stream = 100  # clamd answers "INSTREAM size limit exceeded. ERROR"
    metrics = Metrics()

    send(mx_server, message_bytes(subject="Unscannable"))

    # Tasks run inline, so every retry ran at once, up to the last attempt.
    job = InboundMessage.objects.get()
    assert job.status == InboundMessage.Status.FAILED
    assert job.attempts == pipeline.MAX_ATTEMPTS
    assert {k: v for k, v in metrics.moved().items() if k.startswith("webmail_virus_verdicts_total")} == {
        "webmail_virus_verdicts_total{verdict=error}": pipeline.MAX_ATTEMPTS
    }
    assert placements(metrics) == {"webmail_inbound_messages_total{placement=failed}": 1}
    assert metrics.delta("webmail_inbound_pipeline_duration_seconds_count") == 0
    assert metrics.delta("webmail_inbox_write_duration_seconds_count") == 0


def test_one_message_to_two_users_is_two_placements_one_latency_and_one_write(mx_server, alice, bob):
    metrics = Metrics()

    send(mx_server, message_bytes(), rcpt_tos=["alice@example.test", "bob@example.test"])

    assert placements(metrics) == {"webmail_inbound_messages_total{placement=inbox}": 2}
    assert metrics.delta("webmail_inbound_pipeline_duration_seconds_count") == 1
    assert metrics.delta("webmail_inbox_write_duration_seconds_count") == 1
    assert metrics.delta("webmail_spam_verdicts_total", filter="builtin", verdict="ham") == 2  # one per recipient


def test_a_message_already_held_is_counted_as_a_duplicate_not_as_visible_again(mx_server, alice):
    raw = message_bytes(subject="Retried")
    send(mx_server, raw)
    metrics = Metrics()

    send(mx_server, raw)

    assert MailboxItem.objects.filter(user=alice).count() == 1
    assert placements(metrics) == {"webmail_inbound_messages_total{placement=duplicate}": 1}
    assert metrics.delta("webmail_inbound_pipeline_duration_seconds_count") == 0


def test_placing_one_by_one_after_the_batch_fails_counts_the_same(mx_server, alice, bob, monkeypatch):
    def broken(ready, token):
        raise RuntimeError("the batch statement failed")

    monkeypatch.setattr(pipeline, "_place_together", broken)
    metrics = Metrics()

    send(mx_server, message_bytes(), rcpt_tos=["alice@example.test", "bob@example.test"])

    assert MailboxItem.objects.count() == 2
    assert placements(metrics) == {"webmail_inbound_messages_total{placement=inbox}": 2}
    assert metrics.delta("webmail_inbound_pipeline_duration_seconds_count") == 1
    assert metrics.delta("webmail_inbox_write_duration_seconds_count") == 1


def test_the_pipeline_latency_is_measured_from_the_250_to_the_commit(mx_server, alice, monkeypatch):
    send(mx_server, message_bytes(subject="First"))
    job = InboundMessage.objects.get()
    # The message becomes visible 42 s after its 250, by the pipeline's clock.
    monkeypatch.setattr(pipeline, "_now", lambda: job.received_at + pipeline.timedelta(seconds=42))
    InboundMessage.objects.filter(pk=job.pk).update(status=InboundMessage.Status.QUEUED, lease_token="")
    MailboxItem.objects.all().delete()
    metrics = Metrics()

    pipeline.process_inbound_messages(job_ids=[job.pk])

    assert metrics.delta("webmail_inbound_pipeline_duration_seconds_count") == 1
    assert metrics.delta("webmail_inbound_pipeline_duration_seconds_sum") == 42
    assert metrics.delta("webmail_inbound_pipeline_duration_seconds_bucket", le="30.0") == 0
    assert metrics.delta("webmail_inbound_pipeline_duration_seconds_bucket", le="60.0") == 1


def test_a_placement_rolled_back_counts_nothing():
    metrics = Metrics()
    with pytest.raises(RuntimeError), transaction.atomic():
        count_placement_on_commit("inbox")
        raise RuntimeError("rolled back")
    with transaction.atomic():
        count_placement_on_commit("inbox", 3)
    assert placements(metrics) == {"webmail_inbound_messages_total{placement=inbox}": 3}


def test_mail_handled_as_a_report_is_counted_as_such_and_never_authenticated_or_scored(mx_server, alice):
    metrics = Metrics()

    send(mx_server, message_bytes(subject="unsubscribe not-a-token"), rcpt_tos=["unsubscribe@example.test"])

    assert InboundMessage.objects.get().status == InboundMessage.Status.REPORT
    assert placements(metrics) == {"webmail_inbound_messages_total{placement=report}": 1}
    moved = metrics.moved()
    assert not [k for k in moved if k.startswith(("webmail_auth_results", "webmail_spam_verdicts"))]
    assert metrics.delta("webmail_inbound_pipeline_duration_seconds_count") == 0


# --- search ------------------------------------------------------------------------------------------


def test_indexing_counts_the_mailbox_changes_it_applied(mx_server, alice, bob):
    send(mx_server, message_bytes(subject="Find me"), rcpt_tos=["alice@example.test", "bob@example.test"])
    changes = MailboxChange.objects.count()
    assert changes >= 2  # one new-mail change per copy
    metrics = Metrics()

    index_changes()
    index_changes()  # nothing new: nothing more counted

    assert metrics.delta("webmail_search_documents_indexed_total") == changes
