"""The provider readers (inbound.bounces.formats: amazon, google, microsoft, yahoo, providers, esps, appliances)
on hostile or unusual input: they never raise, never claim mail that is not theirs, and keep what they can read.

The realistic samples of each provider are in tests/samples/bounces/corpus (test_bounce_corpus.py).
"""

import json

from inbound.bounces import parse_report
from inbound.bounces.formats import with_vendor_codes
from inbound.bounces.reading import Report, ReportedRecipient


def _sns_mail(body: str) -> bytes:
    head = (
        "From: AWS Notifications <no-reply@sns.amazonaws.com>\r\n"
        "To: ses-alerts@shop.example\r\n"
        "Subject: AWS Notification Message\r\n"
        "Date: Mon, 7 Dec 2026 03:12:47 +0000\r\n"
        "Message-ID: <n1@email.amazonses.com>\r\n"
        "Content-Type: text/plain; charset=UTF-8\r\n\r\n"
    )
    return (head + body).encode()


def _bounce(**bounce) -> dict:
    return {
        "notificationType": "Bounce",
        "bounce": bounce,
        "mail": {"commonHeaders": {"messageId": "<m1@shop.example>"}},
    }


def test_ses_bounce_in_an_sns_envelope_names_the_recipients_and_the_original_message():
    notification = _bounce(
        bounceType="Permanent",
        bounceSubType="NoEmail",
        bouncedRecipients=[{"emailAddress": "Jo <jo@remote.example>", "status": "5.0.0", "action": "failed"}],
    )
    report = parse_report(_sns_mail(json.dumps({"Type": "Notification", "Message": json.dumps(notification)})))

    assert report.kind == "dsn"
    assert report.original_message_id == "m1@shop.example"
    [found] = report.recipients
    assert (found.address, found.action, found.status, found.reason, found.hard) == (
        "jo@remote.example",
        "failed",
        "5.1.1",  # NoEmail says the address does not exist: a generic 5.0.0 gets its detail
        "user_unknown",
        True,
    )


def test_ses_transient_bounce_without_status_or_diagnostic_is_a_soft_failure():
    notification = _bounce(
        bounceType="Transient", bounceSubType="General", bouncedRecipients=[{"emailAddress": "jo@remote.example"}]
    )
    [found] = parse_report(_sns_mail(json.dumps(notification))).recipients

    assert (found.action, found.status[:2], found.hard) == ("failed", "4.", False)


def test_ses_json_that_is_broken_or_of_the_wrong_shape_is_not_a_report_and_does_not_raise():
    bodies = [
        '{"Type": "Notification", "Message": "{not json',
        '{"Type": "Notification", "Message": "[1, 2, 3]"}',
        '{"notificationType": "Bounce", "bounce": "permanent"}',
        '{"notificationType": "Bounce", "bounce": {"bouncedRecipients": [null, 3, {"emailAddress": 7}]}}',
        '{"notificationType": "Complaint", "complaint": {"complainedRecipients": "all"}}',
        '{"notificationType": "Bounce", "bounce": {"bouncedRecipients": [{"emailAddress": "no-at-sign"}]}}',
        "{" * 100_000,
    ]
    for body in bodies:
        assert parse_report(_sns_mail(body)) is None, body[:60]


def test_ses_delivery_and_send_notifications_are_not_bounces():
    for kind in ("Delivery", "Send", "Open"):
        body = json.dumps({"notificationType": kind, "delivery": {"recipients": ["jo@remote.example"]}})
        assert parse_report(_sns_mail(body)) is None


def test_ses_complaint_is_a_feedback_report_with_its_feedback_type():
    notification = {
        "notificationType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": "fan@remote.example"}],
            "complaintFeedbackType": "abuse",
        },
        "mail": {"headers": [{"name": "Message-ID", "value": "<m2@shop.example>"}]},
    }
    report = parse_report(_sns_mail(json.dumps(notification)))

    assert (report.kind, report.feedback_type, report.original_message_id) == ("arf", "abuse", "m2@shop.example")
    assert [(r.address, r.reason, r.hard) for r in report.recipients] == [("fan@remote.example", "feedback", False)]


def test_vendor_codes_name_the_reason_in_any_report_but_never_override_a_reader():
    def report_of(diagnostic: str, reason: str = "") -> Report:
        recipient = ReportedRecipient("jo@remote.example", "failed", "5.0.0", diagnostic, reason=reason)
        return Report(kind="dsn", recipients=[recipient], original_message_id="")

    coded = with_vendor_codes(report_of("550 5.4.1 Recipient address rejected: Access denied. AS(201806281)"))
    stated = with_vendor_codes(report_of("550 5.4.1 Access denied. AS(201806281)", reason="blocked"))
    plain = with_vendor_codes(report_of("550 5.7.1 Access denied"))

    assert (coded.recipients[0].reason, coded.recipients[0].status) == ("user_unknown", "5.1.1")
    assert stated.recipients[0].reason == "blocked"
    assert plain.recipients[0].reason == ""


def test_provider_looking_mail_with_garbage_bodies_never_raises():
    heads = [
        "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\r\nX-Failed-Recipients: ,,,<>\r\n",
        "From: postmaster@contoso.onmicrosoft.com\r\nX-MS-Exchange-Message-Is-Ndr:\r\n",
        "From: MAILER-DAEMON@yahoo.com\r\nX-YMailISG: x\r\n",
        "From: mailer-daemon@mail.zoho.com\r\nX-ZohoMail: Si\r\n",
        "From: mailer-daemon@gmx.net\r\nX-GMX-Antispam: 0\r\n",
        "From: post_master@vtext.com\r\n",
        'From: "InterScan MSS" <postmaster@remote.example>\r\nSubject: Mail could not be delivered\r\n',
        "From: postmaster@remote.example\r\nX-NAI-Header: Modified by McAfee\r\nSubject: Delivery Status\r\n",
        "From: postmaster@remote.example\r\nSubject: Email Delivery Failure\r\n",
        "Return-Path: <apps@sendgrid.net>\r\nFrom: apps@sendgrid.net\r\n",
    ]
    bodies = [
        "",
        "\x00\xff" * 5000,
        "Delivery to the following recipient failed permanently:\r\n\r\n     \r\n" * 200,
        "<@>:\r\nRemote host said:\r\n" * 500,
        "-- \r\n-- @\r\n" * 500,
        "Sent <<< RCPT TO:<>\r\nReceived >>> \r\n" * 300,
        '"a@b.c":\r\n' * 3000,
        "[Status: Error, Address: <>, ]\r\n" * 300,
        "The reason for the problem:\r\n5.1.0 - '" * 200,
    ]
    for head in heads:
        for body in bodies:
            raw = (head + "Content-Type: text/plain\r\n\r\n" + body).encode("utf-8", "surrogateescape")
            report = parse_report(raw)
            assert report is None or all("@" in r.address for r in report.recipients if r.address)


def test_ses_json_whose_long_line_a_gateway_wrapped_is_still_read():
    notification = json.dumps(
        _bounce(
            bounceType="Permanent",
            bounceSubType="General",
            bouncedRecipients=[{"emailAddress": "jo@remote.example", "status": "5.1.1", "action": "failed"}],
        )
    )
    wrapped = "!\r\n ".join(notification[i : i + 70] for i in range(0, len(notification), 70))

    [found] = parse_report(_sns_mail(wrapped)).recipients

    assert (found.address, found.status, found.reason) == ("jo@remote.example", "5.1.1", "user_unknown")
