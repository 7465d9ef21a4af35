"""The delivery event log and the statuses derived from it."""

from django.db import transaction

from delivery.models import DeliveryEvent
from mailboxes.models import Message, Recipient

_STATUS_FOR_EVENT = {
    "queued": Recipient.Status.QUEUED,
    "sent": Recipient.Status.SENT,
    "delivered": Recipient.Status.DELIVERED,
    "deferred": Recipient.Status.DEFERRED,
    "bounced": Recipient.Status.BOUNCED,
    "rejected": Recipient.Status.SUPPRESSED,
    "failed": Recipient.Status.FAILED,
}


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
    remote_host: str = "",
    metadata: dict | None = None,
    esp_event: dict | None = None,
    update_status: bool = True,
) -> DeliveryEvent:
    """Append an event; unless ``update_status`` is off, move the recipient's status along with it.

    Tracking events (opened, clicked…) never change the delivery status.
    """
    with transaction.atomic():
        event = DeliveryEvent.objects.create(
            message_id=recipient.message_id,
            recipient=recipient,
            event_type=event_type,
            reject_reason=reject_reason,
            transport=transport,
            description=description[:5000],
            mta_response=mta_response[:5000],
            metadata={
                **(metadata or {}),
                **({"smtp_code": smtp_code} if smtp_code else {}),
                **({"enhanced_status": enhanced_status} if enhanced_status else {}),
                **({"remote_host": remote_host} if remote_host else {}),
            },
            esp_event=esp_event,
        )
        status = _STATUS_FOR_EVENT.get(event_type)
        if update_status and status is not None:
            recipient.status = status
            if smtp_code is not None:
                recipient.smtp_code = smtp_code
            recipient.enhanced_status = enhanced_status or recipient.enhanced_status
            recipient.response = (mta_response or description or recipient.response)[:5000]
            recipient.remote_host = remote_host or recipient.remote_host
            recipient.save(
                update_fields=["status", "smtp_code", "enhanced_status", "response", "remote_host", "updated_at"]
            )
    return event


def refresh_message_status(message: Message) -> None:
    """The message's overall status from its recipients'."""
    statuses = set(message.recipients.values_list("status", flat=True))
    if not statuses or statuses & Recipient.PENDING_STATUSES:
        status = Message.Status.QUEUED
    elif statuses <= Recipient.FAILED_STATUSES:
        status = Message.Status.FAILED
    elif statuses & Recipient.FAILED_STATUSES:
        status = Message.Status.PARTIALLY_FAILED
    else:
        status = Message.Status.SENT
    if message.status != status:
        Message.objects.filter(pk=message.pk).update(status=status)
        message.status = status
