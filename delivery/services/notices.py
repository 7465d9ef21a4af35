"""Telling senders that mail could not be delivered, or not yet.

The notice is a real RFC 3464 delivery status notification (multipart/report)
placed straight into the sender's inbox, in the thread of the original. It is
never sent out over SMTP, so a forged sender can never be hit with backscatter.
It comes from ``MAILER-DAEMON@`` ``MAIL_HOSTNAME``, and its two machine parts are
attachments named ``delivery-status.txt`` and ``original-headers.txt``.

A message some recipient of which is still deferred an hour after it was sent
(``DELIVERY_DELAY_NOTICE_SECONDS``) gets one "delayed" notice (``Action: delayed``),
once per message, from the beat task ``delivery.notify_delays``; see docs/BOUNCE-NOTICES.md.
"""

from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from core.bounce_reasons import Reason, classify, reason_label
from delivery.personalization import campaign_of
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


def build_failure_notice(*, message: Message, recipients: list[Recipient], now: datetime | None = None) -> bytes:
    lines = [
        f"Your message \u201c{message.subject or '(no subject)'}\u201d could not be delivered to "
        f"{'this recipient' if len(recipients) == 1 else 'these recipients'}:",
        "",
    ]
    for recipient in recipients:
        lines += [f"  {recipient.address}", f"    {_explain(recipient)}", ""]
    lines.append("No further attempts will be made. The original message's headers are attached.")
    return _notice(
        message=message, recipients=recipients, action="failed", text="\n".join(lines), now=now or timezone.now(),
        subject=f"Undelivered Mail Returned to Sender: {message.subject}",
    )  # fmt: skip


def build_delay_notice(*, message: Message, recipients: list[Recipient], now: datetime) -> bytes:
    """The "still trying to deliver" notice (RFC 3464 ``Action: delayed``)."""
    lines = [
        f"Your message \u201c{message.subject or '(no subject)'}\u201d has not been delivered yet to "
        f"{'this recipient' if len(recipients) == 1 else 'these recipients'}:",
        "",
    ]
    for recipient in recipients:
        lines += [f"  {recipient.address}", f"    Last reply: {_one_line(recipient.response) or '(none)'}"]
        if recipient.expires_at:
            lines.append(f"    We will keep trying until {format_datetime(recipient.expires_at)}.")
        lines.append("")
    lines += [
        "We are still trying to deliver it; you do not need to send it again. If it still cannot be",
        "delivered in the end, you will get another notice. The original message's headers are attached.",
    ]
    return _notice(
        message=message, recipients=recipients, action="delayed", text="\n".join(lines), now=now,
        subject=f"Delayed Mail (still being retried): {message.subject}",
    )  # fmt: skip


def _notice(
    *, message: Message, recipients: list[Recipient], action: str, text: str, subject: str, now: datetime
) -> bytes:
    reporting_mta = settings.MAIL_HOSTNAME
    notice = EmailMessage(policy=policy.SMTP)
    notice["From"] = f"Mail Delivery System <MAILER-DAEMON@{reporting_mta}>"
    notice["To"] = message.from_address
    notice["Subject"] = subject[:250]
    notice["Date"] = format_datetime(now)
    notice["Message-ID"] = make_msgid(domain=reporting_mta)
    notice["Auto-Submitted"] = "auto-replied"
    if message.message_id:  # joins the original's conversation in the sender's mailbox
        notice["In-Reply-To"] = f"<{message.message_id}>"
        notice["References"] = " ".join(f"<{i}>" for i in [*message.references, message.message_id])
    notice.set_content(text)

    notice.make_mixed()
    notice.attach(_delivery_status(message, recipients, reporting_mta, action=action))
    headers = EmailMessage(policy=policy.SMTP)
    headers.set_content(
        read_blob(message.blob).split(b"\r\n\r\n", 1)[0] + b"\r\n", "text", "rfc822-headers",
        disposition="attachment", filename="original-headers.txt",
    )  # fmt: skip
    notice.attach(headers)
    notice.set_type("multipart/report")  # keeps the boundary parameter
    notice.set_param("report-type", "delivery-status")
    return notice.as_bytes()


def _delivery_status(message: Message, recipients: list[Recipient], reporting_mta: str, *, action: str) -> EmailMessage:
    """The machine-readable part (RFC 3464): one field block for the message, one per recipient."""
    per_message = EmailMessage(policy=policy.SMTP)
    per_message["Reporting-MTA"] = f"dns; {reporting_mta}"
    per_message["Arrival-Date"] = format_datetime(message.created_at)
    blocks = [per_message]
    for recipient in recipients:
        block = EmailMessage(policy=policy.SMTP)
        block["Final-Recipient"] = f"rfc822; {recipient.address}"
        block["Action"] = action
        block["Status"] = recipient.enhanced_status or ("4.0.0" if action == "delayed" else "5.0.0")
        if recipient.remote_host:
            block["Remote-MTA"] = f"dns; {recipient.remote_host}"
        if recipient.response:
            block["Diagnostic-Code"] = f"smtp; {_one_line(recipient.response)}"
        if recipient.last_attempt_at:
            block["Last-Attempt-Date"] = format_datetime(recipient.last_attempt_at)
        if action == "delayed" and recipient.expires_at:
            block["Will-Retry-Until"] = format_datetime(recipient.expires_at)
        blocks.append(block)
    part = EmailMessage(policy=policy.SMTP)
    part["Content-Type"] = "message/delivery-status"
    # Named, so that mail programs (ours included) list it as a file rather than "attachment-1".
    part["Content-Disposition"] = 'attachment; filename="delivery-status.txt"'
    part.set_payload(blocks)
    return part


def is_delayed(recipient: Recipient, *, sent_at: datetime, now: datetime) -> bool:
    """Still deferred longer after sending than a sender waits before being told (Gmail's hour)."""
    return recipient.status == Recipient.Status.DEFERRED and now - sent_at > _delay_notice_after()


def still_trying(recipient: Recipient, *, message: Message, now: datetime) -> bool:
    """What the sender's conversation says of a recipient: delayed, or its sender was told so."""
    if recipient.status != Recipient.Status.DEFERRED:
        return False
    return message.delay_notice_sent_at is not None or is_delayed(recipient, sent_at=message.created_at, now=now)


def _delay_notice_after() -> timedelta:
    return timedelta(seconds=settings.DELIVERY_DELAY_NOTICE_SECONDS)


def notify_senders_of_delays(*, now: datetime | None = None, limit: int = 500) -> int:
    """One "delayed" notice for each message that is due one; how many were placed.

    Safe to run concurrently and repeatedly: each message is claimed with a conditional
    update of ``delay_notice_sent_at``, so only one run tells its sender, once.
    """
    now = now or timezone.now()
    due = (
        Recipient.objects.filter(
            status=Recipient.Status.DEFERRED,
            message__created_at__lt=now - _delay_notice_after(),
            message__delay_notice_sent_at__isnull=True,
            message__sender__isnull=False,
        )
        # A campaign's marketer reads its outcomes on the results page, as for failures (engine._notify_sender).
        .exclude(message__send_scope__campaign_id__isnull=False)
        .values_list("message_id", flat=True)
        .distinct()
        .order_by("message_id")[:limit]
    )
    return sum(1 for message_id in list(due) if notify_sender_of_delay(message_id=message_id, now=now))


def notify_sender_of_delay(*, message_id: int, now: datetime) -> Message | None:
    """The "delayed" notice for one message, unless it was already sent or nobody is delayed."""
    message = Message.objects.select_related("sender", "blob", "send_scope").filter(pk=message_id).first()
    if message is None or message.sender is None or campaign_of(message) is not None:
        return None
    recipients = [
        r
        for r in message.recipients.filter(status=Recipient.Status.DEFERRED).order_by("pk")
        if is_delayed(r, sent_at=message.created_at, now=now)
    ]
    if not recipients:
        return None
    raw = build_delay_notice(message=message, recipients=recipients, now=now)
    with transaction.atomic():
        claimed = Message.objects.filter(pk=message.pk, delay_notice_sent_at__isnull=True).update(
            delay_notice_sent_at=now
        )
        if not claimed:  # another run told the sender already
            return None
        notice, _ = store_message(raw=raw, status=Message.Status.RECEIVED)
        place_message(user=message.sender, message=notice)
    return notice


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
