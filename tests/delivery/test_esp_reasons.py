"""ESP tracking events judged with the bounce reasons: from the reply text, else the ESP's own bounce type."""

import pytest
from anymail.signals import AnymailTrackingEvent

from delivery.models import Suppression
from delivery.services import run_delivery, send_message
from delivery.services.webhooks import judge_esp_event
from mailboxes.models import Recipient


def event(event_type, *, reject_reason=None, mta_response=None, payload=None):
    return AnymailTrackingEvent(
        event_type=event_type, reject_reason=reject_reason, mta_response=mta_response, esp_event=payload or {}
    )


SES_BLOCKED = {
    "notificationType": "Bounce",
    "bounce": {
        "bounceType": "Transient",
        "bounceSubType": "General",
        "bouncedRecipients": [
            {
                "emailAddress": "ana@remote.example",
                "status": "5.7.1",
                "diagnosticCode": "smtp; 554 5.7.1 Service unavailable; Client host [192.0.2.25] blocked using "
                "zen.spamhaus.org",
            }
        ],
    },
}
SES_NO_EMAIL = {"bounce": {"bounceType": "Permanent", "bounceSubType": "NoEmail", "bouncedRecipients": [{}]}}
SES_MAILBOX_FULL = {"bounce": {"bounceType": "Transient", "bounceSubType": "MailboxFull"}}
SENDGRID_BOUNCE = {
    "event": "bounce", "sg_event_id": "x1", "type": "bounce", "status": "5.0.0",
    "reason": "550 5.0.0 <ana@remote.example>... User unknown",
}  # fmt: skip
SENDGRID_BLOCK = {"event": "bounce", "sg_event_id": "x2", "type": "blocked", "status": "4.0.0", "reason": ""}
MAILGUN_FAILED = {
    "event": "failed", "severity": "permanent", "reason": "generic",
    "delivery-status": {"code": 552, "message": "5.2.2 The email account that you tried to reach is over quota.",
                        "description": "", "enhanced-code": "5.2.2"},
}  # fmt: skip
MAILGUN_OLD = {"event": "failed", "severity": "permanent", "reason": "old", "delivery-status": {"code": 0}}
POSTMARK_SOFT = {"RecordType": "Bounce", "Type": "SoftBounce", "Details": "smtp;552 5.2.2 Mailbox full"}
POSTMARK_DMARC = {"RecordType": "Bounce", "Type": "DMARCPolicy", "Details": ""}


@pytest.mark.parametrize(
    ("tracking", "reason", "hard"),
    [
        (event("bounced", reject_reason="bounced", payload=SES_BLOCKED), "blocked", False),
        (event("bounced", reject_reason="bounced", payload=SES_NO_EMAIL), "user_unknown", True),
        (event("bounced", reject_reason="bounced", payload=SES_MAILBOX_FULL), "mailbox_full", False),
        (event("bounced", reject_reason="bounced", payload=SENDGRID_BOUNCE), "user_unknown", True),
        (event("bounced", reject_reason="blocked", payload=SENDGRID_BLOCK), "blocked", False),
        (event("bounced", reject_reason="bounced", payload=MAILGUN_FAILED), "mailbox_full", False),
        (event("bounced", reject_reason="timed_out", payload=MAILGUN_OLD), "expired", False),
        (event("bounced", reject_reason="bounced", payload=POSTMARK_SOFT), "mailbox_full", False),
        (event("bounced", reject_reason="bounced", payload=POSTMARK_DMARC), "auth_failure", False),
        (
            event("bounced", reject_reason="bounced", mta_response="550 5.7.1 listed at zen.spamhaus.org"),
            "blocked",
            False,
        ),
        (event("bounced", reject_reason="invalid"), "user_unknown", True),  # the ESP's word, nothing else
        (event("deferred", mta_response="421 4.7.28 unusual rate of unsolicited mail"), "rate_limited", False),
        (event("complained"), "feedback", False),
    ],
)
def test_esp_events_are_judged_from_their_text_then_their_type(tracking, reason, hard):
    verdict = judge_esp_event(tracking)
    assert (verdict.reason, verdict.hard) == (reason, hard)


def test_events_that_are_no_failure_have_no_reason():
    assert judge_esp_event(event("opened")) is None
    assert judge_esp_event(event("delivered")) is None


def test_a_soft_esp_bounce_records_its_reason_and_does_not_suppress(alice, settings, client):
    settings.MAIL_TRANSPORT = {
        "BACKEND": "delivery.transports.esp.AnymailTransport",
        "OPTIONS": {"EMAIL_BACKEND": "anymail.backends.test.EmailBackend"},
    }
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:s3cret"}
    message = send_message(user=alice, to=["full@esp.example"], subject="Via ESP", text="x")
    run_delivery()
    recipient = message.recipients.get()
    bounce = {
        "RecordType": "Bounce", "Type": "SoftBounce", "ID": 42, "MessageID": recipient.provider_message_id,
        "Email": "full@esp.example", "BouncedAt": "2026-11-28T10:00:00Z",
        "Description": "The server could not temporarily deliver your message (ex: Message is delayed due to network "
        "troubles).", "Details": "smtp;552 5.2.2 The email account that you tried to reach is over quota.",
    }  # fmt: skip

    response = client.post(
        "/anymail/postmark/tracking/", bounce, content_type="application/json",
        HTTP_AUTHORIZATION="Basic aG9vazpzM2NyZXQ=",
    )  # fmt: skip

    assert response.status_code == 200
    recipient.refresh_from_db()
    assert recipient.status == Recipient.Status.BOUNCED
    bounced = recipient.events.get(event_type="bounced")
    assert (bounced.reason, bounced.reject_reason) == ("mailbox_full", "bounced")
    assert not Suppression.objects.exists()
