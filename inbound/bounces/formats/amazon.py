"""Amazon SES and WorkMail.

SES tells of bounces and complaints in two ways: as mail (a DSN from
``MAILER-DAEMON@amazonses.com``, read by the generic reader) and as JSON
notifications, which reach a mailbox as the body of a message when an SNS
topic is subscribed by email (``{"Type":"Notification","Message":"{…}"}``)
or when the notification itself is forwarded. The JSON says the reason
outright: ``bounceType`` and ``bounceSubType``, a status and a diagnostic per
recipient; a ``Complaint`` is a feedback report. ``Delivery`` notifications
are not bounces.
"""

import json
import re

from core.bounce_reasons import Reason
from inbound.bounces.formats.common import (
    Letter,
    Report,
    ReportedRecipient,
    first_address,
    hinted,
    one_line,
    recipient,
)
from inbound.bounces.reading import _address_field, _dns_name, _message_id, generic_report

_JSON_CHARS = 512 * 1024
# bounceSubType → the reason it states. "General", "Undetermined", "ContentRejected" and
# "AttachmentRejected" state none: the diagnostic tells.
_SUBTYPE_REASONS = {
    "NoEmail": Reason.USER_UNKNOWN,
    "Suppressed": Reason.USER_UNKNOWN,  # SES's own list of addresses that bounced as unknown
    "OnAccountSuppressionList": Reason.USER_UNKNOWN,
    "MailboxFull": Reason.MAILBOX_FULL,
    "MessageTooLarge": Reason.MESSAGE_TOO_BIG,
}
_SES_HINTS = ((re.compile(r"delivery expired|message expired", re.I), Reason.EXPIRED),)


def read(letter: Letter) -> Report | None:
    notification = _notification(letter)
    if notification is not None:
        return _from_notification(notification)
    sender = letter.parsed.from_address.lower()
    if (
        sender.endswith(("amazonses.com", "amazonaws.com"))
        or letter.header("x-ses-outgoing")
        or letter.header("x-mailer").startswith("Amazon WorkMail")
    ):
        return hinted(generic_report(letter), _SES_HINTS)
    return None


def _notification(letter: Letter) -> dict | None:
    """The SES notification in the message's text (unwrapped from SNS), or None."""
    text = letter.parsed.text or letter.human
    start = text.find("{")
    if start < 0 or start > 200 or "Type" not in text[start : start + _JSON_CHARS]:
        return None
    found = _decoded(text[start : start + _JSON_CHARS])
    if found is None:
        return None
    if isinstance(found, dict) and isinstance(found.get("Message"), str):  # SNS: the notification is a string
        try:
            found = json.loads(found["Message"])
        except ValueError:
            return None
    if not isinstance(found, dict) or not (found.get("notificationType") or found.get("eventType")):
        return None
    return found


def _decoded(text: str):
    """The JSON value at the start of ``text``; also when a mail system wrapped its long line
    (with or without a "!" at each break, as some gateways do)."""
    for candidate in (text, re.sub(r"!?\r?\n[ \t]*", "", text)):
        try:
            return json.JSONDecoder().raw_decode(candidate)[0]
        except ValueError:
            continue
    return None


def _from_notification(notification: dict) -> Report | None:
    kind = notification.get("notificationType") or notification.get("eventType")
    mail = notification.get("mail") if isinstance(notification.get("mail"), dict) else {}
    message_id = _mail_message_id(mail)
    if kind == "Bounce":
        bounce = _dict(notification.get("bounce"))
        hint = _SUBTYPE_REASONS.get(str(bounce.get("bounceSubType", "")), "")
        permanent = bounce.get("bounceType") == "Permanent"
        reporter = _dns_name(str(bounce.get("reportingMTA", ""))) or "amazonses.com"
        recipients = []
        for bounced in _list(bounce.get("bouncedRecipients")):
            address = _ses_address(_dict(bounced).get("emailAddress"))
            if not address:
                continue
            diagnostic = re.sub(r"^\s*smtp\s*;\s*", "", str(bounced.get("diagnosticCode") or ""), flags=re.I)
            status = str(bounced.get("status") or "")
            if not status and not diagnostic and not permanent:
                status = "4.0.0"
            recipients.append(
                recipient(
                    address,
                    diagnostic,
                    action=str(bounced.get("action") or "failed").lower(),
                    status=status,
                    reason=hint,
                    remote_mta=_dns_name(str(bounce.get("remoteMtaIp") or "")),
                )
            )
        if not recipients:
            return None
        return Report(kind="dsn", recipients=recipients, original_message_id=message_id, reporter=reporter)
    if kind == "Complaint":
        complaint = _dict(notification.get("complaint"))
        recipients = [
            ReportedRecipient(address=address, action="", status="", diagnostic=one_line(feedback))
            for complained in _list(complaint.get("complainedRecipients"))
            if (address := _ses_address(_dict(complained).get("emailAddress")))
            for feedback in [str(complaint.get("complaintFeedbackType") or "")]
        ]
        if not recipients:
            return None
        return Report(
            kind="arf",
            recipients=recipients,
            original_message_id=message_id,
            feedback_type=str(complaint.get("complaintFeedbackType") or "abuse").lower(),
            reporter=str(complaint.get("userAgent") or "amazonses.com"),
        )
    return None  # Delivery, Send, Open… are not bounces


def _mail_message_id(mail: dict) -> str:
    common = _dict(mail.get("commonHeaders"))
    if common.get("messageId"):
        return _message_id(str(common["messageId"]))
    for header in _list(mail.get("headers")):
        if str(_dict(header).get("name", "")).lower() == "message-id":
            return _message_id(str(header.get("value", "")))
    return ""


def _ses_address(value) -> str:
    """An ``emailAddress``: a bare address, or one with a display name ("Jo <jo@example.com>")."""
    if not isinstance(value, str):
        return ""
    return _address_field(value) or first_address(value)


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []
