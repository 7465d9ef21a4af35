"""Telling senders that mail could not be delivered.

The notice is a real RFC 3464 delivery status notification (multipart/report)
placed straight into the sender's inbox, in the thread of the original. It is
never sent out over SMTP, so a forged sender can never be hit with backscatter.
"""

from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from core.bounce_reasons import Reason, classify, reason_label
from mailboxes.blobstore import read_blob
from mailboxes.models import Message, Recipient
from mailboxes.services.placement import place_message
from mailboxes.services.store import store_message


def notify_sender_of_failures(*, message_id: int, recipient_ids: list[int]) -> Message | None:
    """One notice for the recipients of one message that failed for good; None if there is nobody to tell."""
    message = Message.objects.select_related("sender", "blob").filter(pk=message_id).first()
    if message is None or message.sender is None:
        return None
    recipients = list(Recipient.objects.filter(pk__in=recipient_ids, message=message).order_by("pk"))
    if not recipients:
        return None
    raw = build_failure_notice(message=message, recipients=recipients)
    with transaction.atomic():
        notice, _ = store_message(raw=raw, status=Message.Status.RECEIVED)
        place_message(user=message.sender, message=notice)
    return notice


def build_failure_notice(*, message: Message, recipients: list[Recipient]) -> bytes:
    reporting_mta = settings.MAIL_HOSTNAME
    notice = EmailMessage(policy=policy.SMTP)
    notice["From"] = f"Mail Delivery System <MAILER-DAEMON@{reporting_mta}>"
    notice["To"] = message.from_address
    notice["Subject"] = f"Undelivered Mail Returned to Sender: {message.subject}"[:250]
    notice["Date"] = format_datetime(timezone.now())
    notice["Message-ID"] = make_msgid(domain=reporting_mta)
    notice["Auto-Submitted"] = "auto-replied"
    if message.message_id:
        notice["In-Reply-To"] = f"<{message.message_id}>"
        notice["References"] = " ".join(f"<{i}>" for i in [*message.references, message.message_id])

    lines = [
        f"Your message \u201c{message.subject or '(no subject)'}\u201d could not be delivered to "
        f"{'this recipient' if len(recipients) == 1 else 'these recipients'}:",
        "",
    ]
    for recipient in recipients:
        lines += [f"  {recipient.address}", f"    {_explain(recipient)}", ""]
    lines.append("No further attempts will be made. The original message's headers are attached.")
    notice.set_content("\n".join(lines))

    notice.make_mixed()
    notice.attach(_delivery_status(message, recipients, reporting_mta))
    headers = EmailMessage(policy=policy.SMTP)
    headers.set_content(read_blob(message.blob).split(b"\r\n\r\n", 1)[0] + b"\r\n", "text", "rfc822-headers")
    notice.attach(headers)
    notice.set_type("multipart/report")  # keeps the boundary parameter
    notice.set_param("report-type", "delivery-status")
    return notice.as_bytes()


def _delivery_status(message: Message, recipients: list[Recipient], reporting_mta: str) -> EmailMessage:
    """The machine-readable part (RFC 3464): one field block for the message, one per recipient."""
    per_message = EmailMessage(policy=policy.SMTP)
    per_message["Reporting-MTA"] = f"dns; {reporting_mta}"
    per_message["Arrival-Date"] = format_datetime(message.created_at)
    blocks = [per_message]
    for recipient in recipients:
        block = EmailMessage(policy=policy.SMTP)
        block["Final-Recipient"] = f"rfc822; {recipient.address}"
        block["Action"] = "failed"
        block["Status"] = recipient.enhanced_status or "5.0.0"
        if recipient.remote_host:
            block["Remote-MTA"] = f"dns; {recipient.remote_host}"
        if recipient.response:
            block["Diagnostic-Code"] = f"smtp; {_one_line(recipient.response)}"
        blocks.append(block)
    part = EmailMessage(policy=policy.SMTP)
    part["Content-Type"] = "message/delivery-status"
    part.set_payload(blocks)
    return part


def _explain(recipient: Recipient) -> str:
    if recipient.status == Recipient.Status.SUPPRESSED:  # refused here, before any attempt: the reason is ours
        return _one_line(recipient.response)
    if recipient.status == Recipient.Status.BOUNCED and recipient.enhanced_status == "4.4.7":
        return f"The receiving server kept refusing it for too long. Last reply: {_one_line(recipient.response)}"
    if recipient.status == Recipient.Status.FAILED:
        return "An internal error stopped delivery; an administrator has been alerted."
    verdict = classify(recipient.enhanced_status, recipient.response, action="failed")
    if verdict.hard:  # the address itself is gone, not a refusal of this message
        return f"The address does not exist or cannot receive mail. The server said: {_one_line(recipient.response)}"
    with translation.override("en"):  # the notice is written in English, as its DSN part
        why = reason_label(verdict.reason) if verdict.reason not in (Reason.UNDEFINED, Reason.ON_HOLD) else ""
    said = _one_line(recipient.response)
    return f"The receiving server refused it ({why}): {said}" if why else f"The receiving server refused it: {said}"


def _one_line(text: str) -> str:
    return " ".join((text or "").split())[:900]
