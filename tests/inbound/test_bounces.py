"""Bounces and complaints at our VERP return paths: reading them, and what they do to delivery.

The corpus under tests/samples/bounces and tests/samples/complaints is written
after what the MTAs and feedback loops really send. The handling tests send a
real message through the loopback SMTP server first, so the recipient is
``sent`` as it would be when an asynchronous bounce comes back.
"""

import logging
import random
from datetime import timedelta
from pathlib import Path

import pytest

from delivery import verp
from delivery.models import DeliveryEvent, Suppression
from delivery.services import run_delivery, send_message
from inbound.bounces import Report, handle_report, parse_report
from mailboxes.models import MailboxItem, Message, Recipient

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

# sample: (kind, [(address, action, status)], original Message-ID, feedback type, reporter)
EXPECTED = {
    "bounces/postfix_user_unknown.eml": (
        "dsn", [("jdoe@remote.example", "failed", "5.1.1")], "171567075912.4821.1290@example.test", "",
        "mail.remote.example",
    ),
    "bounces/postfix_two_recipients.eml": (
        "dsn",
        [("full.box@remote.example", "failed", "5.2.2"), ("sales-team@remote.example", "failed", "5.1.1")],
        "171578178811.5120.33@example.test", "", "relay.remote.example",
    ),
    "bounces/postfix_delayed_warning.eml": (
        "dsn", [("slow@remote.example", "delayed", "4.4.1")], "171585119701.7788.4@example.test", "",
        "relay.remote.example",
    ),
    "bounces/postfix_success_delivered.eml": (
        "dsn", [("happy@remote.example", "delivered", "2.0.0")], "171593280101.1.7@example.test", "",
        "mail.remote.example",
    ),
    "bounces/exim_dsn_generic_status.eml": (  # Exim says 5.0.0; the diagnostic says 5.1.1
        "dsn", [("gone@remote.example", "failed", "5.1.1")], "171619926001.311.9@example.test", "",
        "mx.remote.example",
    ),
    "bounces/sendmail_user_unknown.eml": (
        "dsn", [("bsmith@remote.example", "failed", "5.1.1")], "171619985901.2.15@example.test", "",
        "mail.remote.example",
    ),
    "bounces/sendmail_delayed_4_4_7.eml": (
        "dsn", [("later@remote.example", "delayed", "4.4.7")], "171621431701.3.2@example.test", "",
        "mail.remote.example",
    ),
    "bounces/office365_recipient_not_found.eml": (
        "dsn", [("m.ruiz@remote.example", "failed", "5.1.10")], "171628381101.77.3@example.test", "",
        "DM6PR11MB4000.namprd11.prod.outlook.com",
    ),
    "bounces/exchange_not_authorized.eml": (
        "dsn", [("board@remote.example", "failed", "5.7.1")], "171636573801.90.1@example.test", "",
        "EX01.corp.remote.example",
    ),
    "bounces/gmail_address_not_found.eml": (
        "dsn", [("tom.h@remote.example", "failed", "5.1.1")], "171628409401.12.6@example.test", "", "googlemail.com",
    ),
    "bounces/gmail_over_quota.eml": (  # no original attached: Gmail's X-Original-Message-ID names it
        "dsn", [("mia@remote.example", "failed", "5.2.2")], "171640093201.41.8@example.test", "", "googlemail.com",
    ),
    "bounces/yahoo_dsn_user_unknown.eml": (  # 5.0.0 with "dd This user doesn't have a … account"
        "dsn", [("lee.w@remote.example", "failed", "5.1.1")], "171648240001.8.21@example.test", "",
        "sonic301-21.consmr.mail.ne1.yahoo.com",
    ),
    "bounces/yahoo_failure_notice_text.eml": (
        "dsn", [("sam.t@remote.example", "failed", "5.7.1")], "171655202801.9.9@example.test", "", "yahoo.com",
    ),
    "bounces/qmail_user_unknown.eml": (
        "dsn", [("olduser@remote.example", "failed", "5.1.1")], "171653434301.5.5@example.test", "",
        "mx1.remote.example",
    ),
    "bounces/qmail_two_recipients.eml": (
        "dsn",
        [("ann@remote.example", "failed", "5.1.1"), ("bob.k@remote.example", "failed", "5.2.2")],
        "171654360001.6.6@example.test", "", "smtp.remote.example",
    ),
    "bounces/exim_text_failed.eml": (
        "dsn", [("moved.on@remote.example", "failed", "5.1.1")], "171655332301.4.4@example.test", "",
        "mx.remote.example",
    ),
    "bounces/exim_text_delay_warning.eml": (
        "dsn", [("queued@remote.example", "delayed", "4.3.0")], "", "", "mx.remote.example",
    ),
    "bounces/domino_not_listed.eml": (  # no status anywhere: "not listed in Domino Directory" is 5.1.1
        "dsn", [("kpark@remote.example", "failed", "5.1.1")], "171676711001.3.3@example.test", "", "remote.example",
    ),
    "bounces/gmail_legacy_text.eml": (
        "dsn", [("chris@remote.example", "failed", "5.1.1")], "171689106701.8.8@example.test", "", "googlemail.com",
    ),
    "bounces/dsn_without_final_recipient.eml": (  # the address comes from the human-readable part
        "dsn", [("dana@remote.example", "failed", "5.1.1")], "171699603901.2.2@example.test", "", "gw.remote.example",
    ),
    "bounces/broken_boundary_8bit_garbage.eml": (  # the declared boundary is never used
        "dsn", [("garbled@remote.example", "failed", "5.1.1")], "171712830401.9.1@example.test", "",
        "mx.remote.example",
    ),
    "complaints/yahoo_arf_abuse.eml": (
        "arf", [("reader@remote.example", "", "")], "171743772901.1.1@example.test", "abuse",
        "Yahoo!-Mail-Feedback/2.0",
    ),
    "complaints/aol_arf_redacted.eml": (
        "arf", [("", "", "")], "171750570001.2.2@example.test", "abuse", "AOL SComp",
    ),
    "complaints/microsoft_jmrp_arf_headers.eml": (
        "arf", [("casey@hotmail.example", "", "")], "171759426101.3.3@example.test", "abuse",
        "Microsoft Junk Mail Reporting Program/1.0",
    ),
    "complaints/microsoft_jmrp_legacy.eml": (
        "arf", [("drew@hotmail.example", "", "")], "171766499901.4.4@example.test", "abuse", "hotmail.com",
    ),
    "complaints/isp_arf_fraud_original_rcpt_to.eml": (
        "arf", [("robin@isp.example", "", "")], "171774709101.5.5@example.test", "fraud", "ISP-FBL/3.1",
    ),
}  # fmt: skip
NOT_REPORTS = ["bounces/not_a_bounce_out_of_office.eml", "bounces/not_a_bounce_exchange_automatic_reply.eml"]


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def rescued(caplog) -> list:
    """Reports the reader only survived by its catch-all (logged as a warning)."""
    return [r for r in caplog.records if r.name == "inbound.bounces" and r.levelno >= logging.WARNING]


def test_every_sample_in_the_corpus_has_an_expectation():
    names = {f"{p.parent.name}/{p.name}" for d in ("bounces", "complaints") for p in (SAMPLES / d).glob("*.eml")}
    assert names == set(EXPECTED) | set(NOT_REPORTS)


# --- reading ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample_reads_as_the_report_it_is(name, caplog):
    kind, recipients, original_message_id, feedback_type, reporter = EXPECTED[name]

    report = parse_report(sample(name))

    assert isinstance(report, Report)
    assert report.kind == kind
    assert [(r.address, r.action, r.status) for r in report.recipients] == recipients
    assert report.original_message_id == original_message_id
    assert (report.feedback_type, report.reporter) == (feedback_type, reporter)
    assert not rescued(caplog)  # read, not saved by the catch-all


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e[0] == "dsn" and e[1][0][1] == "failed"))
def test_a_failure_carries_its_explanation(name):
    [first, *_] = parse_report(sample(name)).recipients
    assert len(first.diagnostic) > 10
    assert "\n" not in first.diagnostic


def test_dsn_fields_keep_the_remote_mta_and_the_original_recipient():
    [full, sales] = parse_report(sample("bounces/postfix_two_recipients.eml")).recipients
    assert full.remote_mta == "mbox.remote.example"
    assert full.diagnostic == "552 5.2.2 <full.box@remote.example>: Mailbox full"
    assert sales.original_address == "sales@remote.example"  # an alias expanded on the remote side


def test_the_explanation_of_a_text_bounce_stops_before_its_boilerplate():
    [recipient] = parse_report(sample("bounces/exim_text_delay_warning.eml")).recipients
    assert recipient.diagnostic.endswith("451 4.3.0 Temporary lookup failure")
    [recipient] = parse_report(sample("bounces/domino_not_listed.eml")).recipients
    assert recipient.diagnostic == "because: User Kim Park (kpark@remote.example) not listed in Domino Directory"


@pytest.mark.parametrize("name", NOT_REPORTS)
def test_an_auto_reply_to_the_return_path_is_not_a_bounce(name):
    assert parse_report(sample(name)) is None


@pytest.mark.parametrize(
    "name", sorted(p.name for p in (SAMPLES / "messages").glob("*.eml") if p.name != "bounce_delivery_status.eml")
)
def test_ordinary_and_malformed_messages_are_not_reports(name, caplog):
    assert parse_report((SAMPLES / "messages" / name).read_bytes()) is None
    assert not rescued(caplog)


def test_the_message_stores_own_bounce_sample_reads_too():
    report = parse_report((SAMPLES / "messages" / "bounce_delivery_status.eml").read_bytes())
    assert [(r.address, r.action, r.status) for r in report.recipients] == [
        ("nobody@nowhere.example", "failed", "5.1.1")
    ]
    assert report.original_message_id == "lost.1@example.test"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_report_cut_off_anywhere_never_raises(name, caplog):
    raw = sample(name)
    for cut in range(0, len(raw), max(1, len(raw) // 23)):
        report = parse_report(raw[:cut])
        assert report is None or report.kind in ("dsn", "arf")
    assert not rescued(caplog)


def test_garbage_never_raises(caplog):
    noise = random.Random(3464)  # noqa: S311 - reproducible noise, not security
    inputs = [b"", b"\r\n\r\n", b"\x00" * 100, b"Content-Type: multipart/report\r\n\r\n--\r\n"]
    inputs += [bytes(noise.randrange(256) for _ in range(2000)) for _ in range(20)]
    inputs.append(b"Final-Recipient: rfc822; x@y.example\nAction: failed\n\n" * 5000)
    inputs.append(("Subject: failure notice\nFrom: MAILER-DAEMON@x.example\n\n" + "a@b.example\n" * 50_000).encode())
    for raw in inputs:
        parse_report(raw)
    assert not rescued(caplog)


def test_a_huge_returned_message_is_read_quickly():
    raw = sample("bounces/qmail_user_unknown.eml") + b"x" * 998 + b"\n" + (b"y" * 76 + b"\n") * 200_000
    report = parse_report(raw)
    assert [r.address for r in report.recipients] == ["olduser@remote.example"]


# --- handling --------------------------------------------------------------------------------------


@pytest.fixture
def sent(alice, remote_domain, smtp_server):
    """A message from alice, handed to the remote server; returns its recipient(s) once they are ``sent``."""

    def send(*addresses):
        message = send_message(user=alice, to=list(addresses), subject="Report", text="Numbers inside.")
        run_delivery(message_id=message.pk)
        recipients = list(message.recipients.order_by("pk"))
        assert {r.status for r in recipients} == {Recipient.Status.SENT}
        return recipients

    return send


def about(recipient: Recipient, name: str, *, address: str | None = None) -> bytes:
    """A sample report made to be about ``recipient``: its address and its message's Message-ID."""
    _, recipients, original_message_id, _, _ = EXPECTED[name]
    raw = sample(name).replace(original_message_id.encode(), recipient.message.message_id.encode())
    return raw.replace((address or recipients[0][0]).encode(), recipient.address.encode())


def return_path(recipient: Recipient) -> str:
    return verp.return_path(recipient_id=recipient.pk, domain="example.test")


def notices_for(user):
    return MailboxItem.objects.filter(user=user, message__from_address__istartswith="MAILER-DAEMON@")


def events_of(recipient):
    return list(recipient.events.order_by("timestamp", "pk").values_list("event_type", flat=True))


def test_a_hard_bounce_after_sending_bounces_suppresses_and_tells_the_sender_once(alice, sent, smtp_server):
    [recipient] = sent("jdoe@remote.example")
    raw = about(recipient, "bounces/postfix_user_unknown.eml")

    [event] = handle_report(raw=raw, verp_address=return_path(recipient))

    recipient.refresh_from_db()
    assert (event.event_type, event.reject_reason, event.transport) == ("bounced", "invalid", "report:dsn")
    assert events_of(recipient) == ["queued", "sent", "bounced"]
    assert recipient.status == Recipient.Status.BOUNCED
    assert (recipient.smtp_code, recipient.enhanced_status) == (550, "5.1.1")
    assert recipient.remote_host == "mbox.remote.example"
    assert "User unknown" in recipient.response
    assert Message.objects.get(pk=recipient.message_id).status == Message.Status.FAILED
    entry = Suppression.objects.get(address="jdoe@remote.example")
    assert (entry.reason, entry.source_event) == (Suppression.Reason.HARD_BOUNCE, event)
    [notice] = notices_for(alice)
    assert notice.message.in_reply_to == recipient.message.message_id
    # No backscatter: nothing more went out, and nothing was queued to go out.
    assert len(smtp_server.messages) == 1
    assert Recipient.objects.count() == 1


def test_the_same_report_delivered_twice_is_recorded_once(alice, sent):
    [recipient] = sent("jdoe@remote.example")
    raw = about(recipient, "bounces/postfix_user_unknown.eml")
    assert len(handle_report(raw=raw, verp_address=return_path(recipient))) == 1

    again = b"Received: from relay2.remote.example by mail.example.test; Tue, 14 May 2024 09:20:00 +0000\r\n" + raw
    assert handle_report(raw=again, verp_address=return_path(recipient)) == []
    assert handle_report(raw=raw, verp_address=return_path(recipient)) == []

    assert events_of(recipient) == ["queued", "sent", "bounced"]
    assert notices_for(alice).count() == 1


def test_a_later_bounce_for_a_recipient_already_bounced_adds_nothing(alice, sent):
    [recipient] = sent("olduser@remote.example")
    handle_report(raw=about(recipient, "bounces/qmail_user_unknown.eml"), verp_address=return_path(recipient))

    other = about(recipient, "bounces/exim_text_failed.eml", address="moved.on@remote.example")
    assert handle_report(raw=other, verp_address=return_path(recipient)) == []

    assert events_of(recipient) == ["queued", "sent", "bounced"]
    assert notices_for(alice).count() == 1


@pytest.mark.parametrize(
    ("name", "status", "reason", "reject_reason"),
    [
        ("bounces/gmail_over_quota.eml", "5.2.2", "mailbox_full", "bounced"),
        ("bounces/exchange_not_authorized.eml", "5.7.1", "security_error", "blocked"),  # RESOLVER.RST.AuthRequired
    ],
)
def test_a_refusal_not_about_the_address_bounces_without_suppressing(alice, sent, name, status, reason, reject_reason):
    [recipient] = sent(EXPECTED[name][1][0][0])

    [event] = handle_report(raw=about(recipient, name), verp_address=return_path(recipient))

    recipient.refresh_from_db()
    assert (event.event_type, event.reason, event.reject_reason) == ("bounced", reason, reject_reason)
    assert (recipient.status, recipient.enhanced_status) == (Recipient.Status.BOUNCED, status)
    assert not Suppression.objects.exists()
    assert notices_for(alice).count() == 1


def test_a_delayed_dsn_is_noted_but_neither_bounces_nor_sends_again(alice, sent, smtp_server):
    [recipient] = sent("later@remote.example")
    reply = (recipient.smtp_code, recipient.enhanced_status, recipient.response)

    [event] = handle_report(
        raw=about(recipient, "bounces/sendmail_delayed_4_4_7.eml"), verp_address=return_path(recipient)
    )

    recipient.refresh_from_db()
    assert event.event_type == "deferred"
    assert event.metadata["enhanced_status"] == "4.4.7"
    assert recipient.status == Recipient.Status.SENT
    assert (recipient.smtp_code, recipient.enhanced_status, recipient.response) == reply  # the delivery's own
    assert not Suppression.objects.exists()
    assert not notices_for(alice).exists()
    assert run_delivery().claimed == 0  # the remote side retries, not us
    assert len(smtp_server.messages) == 1


def test_a_success_dsn_records_nothing(sent):
    [recipient] = sent("happy@remote.example")

    events = handle_report(
        raw=about(recipient, "bounces/postfix_success_delivered.eml"), verp_address=return_path(recipient)
    )

    assert events == []
    assert events_of(recipient) == ["queued", "sent"]


def test_a_complaint_is_recorded_and_suppresses_without_changing_the_delivery_status(alice, sent):
    [recipient] = sent("reader@remote.example")
    raw = about(recipient, "complaints/yahoo_arf_abuse.eml")

    [event] = handle_report(raw=raw, verp_address=return_path(recipient))

    recipient.refresh_from_db()
    assert (event.event_type, event.reject_reason, event.transport) == ("complained", "spam", "report:arf")
    assert event.metadata["feedback_type"] == "abuse"
    assert recipient.status == Recipient.Status.SENT
    entry = Suppression.objects.get(address="reader@remote.example")
    assert (entry.reason, entry.source_event) == (Suppression.Reason.COMPLAINT, event)
    assert not notices_for(alice).exists()
    # The same report again, or another loop's report about the same message, adds nothing.
    assert handle_report(raw=raw, verp_address=return_path(recipient)) == []
    other = about(recipient, "complaints/aol_arf_redacted.eml", address="redacted@aol.example")
    assert handle_report(raw=other, verp_address=return_path(recipient)) == []
    assert events_of(recipient) == ["queued", "sent", "complained"]


def test_feedback_that_is_not_a_complaint_is_ignored(sent):
    [recipient] = sent("reader@remote.example")
    raw = about(recipient, "complaints/yahoo_arf_abuse.eml").replace(
        b"Feedback-Type: abuse", b"Feedback-Type: not-spam"
    )

    assert handle_report(raw=raw, verp_address=return_path(recipient)) == []

    assert events_of(recipient) == ["queued", "sent"]
    assert not Suppression.objects.exists()


def test_a_report_about_one_of_two_recipients_applies_to_the_one_its_verp_address_names(alice, sent):
    ann, bob = sent("ann@remote.example", "bob.k@remote.example")
    raw = about(ann, "bounces/qmail_two_recipients.eml")  # lists both; each came back to its own VERP address

    [for_ann] = handle_report(raw=raw, verp_address=return_path(ann))
    [for_bob] = handle_report(raw=raw, verp_address=return_path(bob))

    assert (for_ann.recipient_id, for_ann.reject_reason) == (ann.pk, "invalid")
    assert (for_bob.recipient_id, for_bob.reject_reason) == (bob.pk, "bounced")  # mailbox full: not suppressed
    assert list(Suppression.objects.values_list("address", flat=True)) == ["ann@remote.example"]
    assert Message.objects.get(pk=ann.message_id).status == Message.Status.FAILED
    assert notices_for(alice).count() == 2


def test_a_mangled_verp_address_falls_back_to_the_original_message_id_and_address(sent):
    [recipient] = sent("jdoe@remote.example")
    mangled = return_path(recipient).replace("bounces+", "BOUNCES=").replace("-", "")

    [event] = handle_report(raw=about(recipient, "bounces/postfix_user_unknown.eml"), verp_address=mangled)

    recipient.refresh_from_db()
    assert event.recipient_id == recipient.pk
    assert recipient.status == Recipient.Status.BOUNCED


def test_a_redacted_complaint_at_a_mangled_address_falls_back_to_the_messages_only_recipient(sent):
    [recipient] = sent("someone@remote.example")
    raw = about(recipient, "complaints/aol_arf_redacted.eml", address="not-in-this-report@nowhere.example")

    [event] = handle_report(raw=raw, verp_address="bounces@example.test")

    assert (event.recipient_id, event.event_type) == (recipient.pk, "complained")


def test_an_unrelated_report_does_nothing(sent):
    [recipient] = sent("jdoe@remote.example")
    unrelated = sample("bounces/postfix_user_unknown.eml")  # about a message we never sent
    about_others = sample("bounces/postfix_two_recipients.eml")  # two other addresses, neither ours

    assert handle_report(raw=unrelated, verp_address="bounces+zz-000000000000@example.test") == []
    assert handle_report(raw=about_others, verp_address=return_path(recipient)) == []
    assert handle_report(raw=sample(NOT_REPORTS[0]), verp_address=return_path(recipient)) == []

    assert events_of(recipient) == ["queued", "sent"]
    assert not Suppression.objects.exists()


def test_a_report_for_a_recipient_that_no_longer_exists_does_nothing(db):
    raw = sample("bounces/postfix_user_unknown.eml")
    assert handle_report(raw=raw, verp_address=verp.return_path(recipient_id=10**9, domain="example.test")) == []
    assert not DeliveryEvent.objects.exists()


def test_a_forged_report_cannot_bounce_a_local_delivery(alice, bob, mallory):
    message = send_message(user=alice, to=["bob@example.test"], subject="Lunch", text="Noon?")
    run_delivery(message_id=message.pk)
    recipient = message.recipients.get()
    assert recipient.status == Recipient.Status.DELIVERED
    forged = about(recipient, "bounces/postfix_user_unknown.eml")  # mallory saw the Message-ID somewhere

    assert handle_report(raw=forged, verp_address="bounces+forged@example.test") == []

    recipient.refresh_from_db()
    assert recipient.status == Recipient.Status.DELIVERED
    assert not Suppression.objects.exists()


@pytest.mark.parametrize(
    "name",
    [
        "bounces/qmail_user_unknown.eml",
        "bounces/exim_text_failed.eml",
        "bounces/domino_not_listed.eml",
        "bounces/gmail_legacy_text.eml",
        "bounces/office365_recipient_not_found.eml",
        "bounces/broken_boundary_8bit_garbage.eml",
    ],
)
def test_a_non_standard_or_broken_bounce_still_bounces_and_suppresses(alice, sent, name):
    [recipient] = sent(EXPECTED[name][1][0][0])

    [event] = handle_report(raw=about(recipient, name), verp_address=return_path(recipient))

    assert (event.event_type, event.reject_reason) == ("bounced", "invalid")
    assert Suppression.objects.filter(address=recipient.address, reason=Suppression.Reason.HARD_BOUNCE).exists()
    assert notices_for(alice).count() == 1


def test_a_reported_host_unknown_suppresses_only_once_it_has_lasted(alice, sent, settings):
    settings.OUTBOUND_HOST_UNKNOWN_RETRY_SECONDS = 3600
    first, second = sent("jdoe@remote.example", "jane@remote.example")
    host_unknown = about(first, "bounces/postfix_user_unknown.eml").replace(b"5.1.1", b"5.1.2")

    [event] = handle_report(raw=host_unknown, verp_address=return_path(first))

    assert (event.event_type, event.metadata["enhanced_status"]) == ("bounced", "5.1.2")
    assert not Suppression.objects.exists()  # one "host unknown" may be a DNS blip

    DeliveryEvent.objects.filter(pk=event.pk).update(timestamp=event.timestamp - timedelta(seconds=3601))
    again = about(second, "bounces/postfix_user_unknown.eml", address="jdoe@remote.example")
    handle_report(raw=again.replace(b"5.1.1", b"5.1.2"), verp_address=return_path(second))

    entry = Suppression.objects.get()
    assert (entry.address, entry.source) == ("jane@remote.example", Suppression.Source.REPORT)
