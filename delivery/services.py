"""Sending mail: the one entry point for everything that submits a message.

A submission is validated, then stored in one transaction with the sender's
Sent copy and a ``Recipient`` row per envelope address. Recipients on hosted
domains are delivered locally in that same transaction; the others stay
``queued`` for the outbound transport.
"""

from django.db import transaction
from django.utils import timezone

from accounts.addresses import split_address
from accounts.selectors import is_hosted_domain, resolve_hosted_address
from delivery.models import DeliveryEvent
from mailboxes.compose import Composition, compose, render, require_recipients
from mailboxes.conversations import refresh_thread
from mailboxes.models import Folder, MailboxItem, Message, Recipient
from mailboxes.services.drafts import draft_composition, get_draft_for_update, reply_headers
from mailboxes.services.placement import place_message
from mailboxes.services.store import replace_message_content, store_message

_STATUS_FOR_EVENT = {
    "queued": Recipient.Status.QUEUED,
    "sent": Recipient.Status.SENT,
    "delivered": Recipient.Status.DELIVERED,
    "deferred": Recipient.Status.DEFERRED,
    "bounced": Recipient.Status.BOUNCED,
    "rejected": Recipient.Status.SUPPRESSED,
    "failed": Recipient.Status.FAILED,
}


def send_message(
    *,
    user,
    from_address: str | None = None,
    to=(),
    cc=(),
    bcc=(),
    subject: str = "",
    text: str = "",
    html: str = "",
    attachments=(),
    in_reply_to_item_id=None,
) -> Message:
    in_reply_to, references = reply_headers(user=user, item_id=in_reply_to_item_id)
    composition = compose(
        user=user,
        from_address=from_address,
        to=to,
        cc=cc,
        bcc=bcc,
        subject=subject,
        text=text,
        html=html,
        attachments=attachments,
        in_reply_to=in_reply_to,
        references=references,
    )
    require_recipients(composition)
    raw = render(composition, date=timezone.now(), include_bcc=False)
    with transaction.atomic():
        message, _ = store_message(raw=raw, status=Message.Status.QUEUED, sender=user)
        place_message(user=user, message=message, origin=MailboxItem.Origin.SENT, folder=Folder.SENT, is_read=True)
        _submit(message, composition)
    return message


def send_draft(*, user, draft_id) -> Message:
    now = timezone.now()
    with transaction.atomic():
        item = get_draft_for_update(user=user, draft_id=draft_id)
        composition = draft_composition(user=user, item=item)
        require_recipients(composition)
        replace_message_content(
            message=item.message, raw=render(composition, date=now, include_bcc=False), status=Message.Status.QUEUED
        )
        item.folder, item.previous_folder, item.received_at = Folder.SENT, "", now
        item.save(update_fields=["folder", "previous_folder", "received_at", "updated_at"])
        refresh_thread(item.thread)
        _submit(item.message, composition)
    return item.message


def _submit(message: Message, composition: Composition) -> None:
    for kind, name, address in composition.envelope_recipients():
        recipient = Recipient.objects.create(message=message, address=address, name=name[:300], kind=kind)
        record_delivery_event(recipient=recipient, event_type="queued", transport="submission")
        _deliver_if_hosted(recipient)
    refresh_message_status(message)


def _deliver_if_hosted(recipient: Recipient) -> None:
    user = resolve_hosted_address(recipient.address)
    if user is not None:
        place_message(user=user, message=recipient.message)
        recipient.user = user
        recipient.save(update_fields=["user", "updated_at"])
        record_delivery_event(
            recipient=recipient,
            event_type="delivered",
            transport="local",
            smtp_code=250,
            enhanced_status="2.0.0",
            mta_response="Delivered to the mailbox",
        )
    elif is_hosted_domain(split_address(recipient.address)[1]):
        # Our own domain: no other server could take it, so fail now, not after days of retries.
        record_delivery_event(
            recipient=recipient,
            event_type="bounced",
            reject_reason="invalid",
            transport="local",
            smtp_code=550,
            enhanced_status="5.1.1",
            mta_response="No such user here",
        )


def record_delivery_event(
    *,
    recipient: Recipient,
    event_type: str,
    transport: str,
    reject_reason: str = "",
    description: str = "",
    mta_response: str = "",
    smtp_code: int | None = None,
    enhanced_status: str = "",
    metadata: dict | None = None,
    esp_event: dict | None = None,
) -> DeliveryEvent:
    """Append an event and move the recipient's derived status along with it."""
    event = DeliveryEvent.objects.create(
        message_id=recipient.message_id,
        recipient=recipient,
        event_type=event_type,
        reject_reason=reject_reason,
        transport=transport,
        description=description,
        mta_response=mta_response,
        metadata=metadata or {},
        esp_event=esp_event,
    )
    status = _STATUS_FOR_EVENT.get(event_type)
    if status is not None:
        recipient.status = status
        recipient.last_attempt_at = event.timestamp if event_type != "queued" else recipient.last_attempt_at
        if smtp_code is not None:
            recipient.smtp_code = smtp_code
        recipient.enhanced_status = enhanced_status or recipient.enhanced_status
        recipient.response = mta_response or description or recipient.response
        recipient.save(
            update_fields=["status", "last_attempt_at", "smtp_code", "enhanced_status", "response", "updated_at"]
        )
    return event


def refresh_message_status(message: Message) -> None:
    statuses = set(message.recipients.values_list("status", flat=True))
    if not statuses or statuses & {Recipient.Status.QUEUED, Recipient.Status.DEFERRED}:
        status = Message.Status.QUEUED
    elif statuses <= Recipient.FAILED_STATUSES:
        status = Message.Status.FAILED
    elif statuses & Recipient.FAILED_STATUSES:
        status = Message.Status.PARTIALLY_FAILED
    else:
        status = Message.Status.SENT
    if message.status != status:
        message.status = status
        message.save(update_fields=["status", "updated_at"])
