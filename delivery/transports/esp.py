"""Delivery through an email service provider with django-anymail.

The ESP is Anymail's backend named in ``OPTIONS["EMAIL_BACKEND"]`` (for
example ``anymail.backends.postmark.EmailBackend``, configured by the usual
``ANYMAIL`` setting). The raw message is handed over with its headers intact;
the ESP's message id is kept so its tracking webhooks find the recipient.
"""

from email import policy
from email.parser import BytesParser

from anymail.exceptions import AnymailError
from anymail.message import AnymailMessage
from django.core.mail import get_connection

from delivery.transports.base import Envelope, Outcome, Result, Transport

# Headers Anymail sets itself from the message's fields.
_MANAGED_HEADERS = {
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "content-type",
    "mime-version",
    "content-transfer-encoding",
    "dkim-signature",
    "date",
}
# Anymail's per-recipient statuses (anymail.message.ANYMAIL_STATUSES) as our outcomes.
_OUTCOMES = {
    "sent": Outcome.SENT,
    "queued": Outcome.SENT,
    "scheduled": Outcome.SENT,
    "rejected": Outcome.BOUNCED,
    "invalid": Outcome.BOUNCED,
    "failed": Outcome.DEFERRED,
}


def to_anymail_message(envelope: Envelope) -> AnymailMessage:
    parsed = BytesParser(policy=policy.default).parsebytes(envelope.raw)
    text = html = ""
    body = parsed.get_body(preferencelist=("plain",))
    if body is not None:
        text = body.get_content()
    html_part = parsed.get_body(preferencelist=("html",))
    if html_part is not None:
        html = html_part.get_content()
    message = AnymailMessage(
        subject=str(parsed.get("subject", "")),
        body=text,
        from_email=str(parsed.get("from", "")),
        to=[envelope.rcpt_to],
        headers={k: str(v) for k, v in parsed.items() if k.lower() not in _MANAGED_HEADERS},
        envelope_sender=envelope.mail_from,
        metadata={"recipient_id": str(envelope.recipient_id)},
    )
    if html:
        message.attach_alternative(html, "text/html")
    for part in parsed.iter_attachments():
        message.attach(part.get_filename() or "attachment", part.get_content(), part.get_content_type())
    return message


class AnymailTransport(Transport):
    name = "anymail"

    def deliver(self, *, domain: str, envelopes: list[Envelope], on_result=None) -> list[Result]:
        results = []
        with get_connection(self.options["EMAIL_BACKEND"]) as connection:
            for envelope in envelopes:
                message = to_anymail_message(envelope)
                message.connection = connection
                try:
                    message.send(fail_silently=False)
                except AnymailError as exc:
                    result = Result(envelope.recipient_id, Outcome.DEFERRED, None, "4.0.0", f"ESP error: {exc}")
                else:
                    result = _result(envelope, message)
                results.append(result)
                if on_result is not None:
                    on_result(result)
        return results


def _result(envelope: Envelope, message: AnymailMessage) -> Result:
    statuses = message.anymail_status.recipients
    status = statuses.get(envelope.rcpt_to.lower()) or statuses.get(envelope.rcpt_to)
    esp_status = getattr(status, "status", None)
    outcome = _OUTCOMES.get(esp_status, Outcome.DEFERRED)
    return Result(
        recipient_id=envelope.recipient_id,
        outcome=outcome,
        enhanced_status={Outcome.SENT: "2.0.0", Outcome.BOUNCED: "5.0.0"}.get(outcome, "4.0.0"),
        response=f"ESP status: {esp_status or 'unknown'}",
        provider_message_id="" if getattr(status, "message_id", None) is None else str(status.message_id),
    )
