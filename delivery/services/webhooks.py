"""ESP tracking events (through django-anymail's webhooks) as our delivery events."""

import json
import logging

from django.db import transaction

from delivery.models import DeliveryEvent, SendScope, Suppression
from delivery.services.events import record_delivery_event, refresh_message_status
from delivery.services.notices import notify_sender_of_failures
from delivery.services.suppression import suppress_address
from mailboxes.models import Recipient

logger = logging.getLogger(__name__)

# Events that change where delivery stands; the others (opened, clicked…) are only logged.
_STATUS_EVENTS = {"sent", "delivered", "deferred", "bounced", "rejected", "failed"}
_SUPPRESS_FOR = {"complained": Suppression.Reason.COMPLAINT, "unsubscribed": Suppression.Reason.UNSUBSCRIBE}


def record_esp_event(*, esp_name: str, event) -> DeliveryEvent | None:
    """Record one ``anymail.signals.AnymailTrackingEvent``; None if it is unknown or a repeat.

    The recipient is found by the ESP's message id that the transport kept,
    and the recipient address (an ESP message id can cover several).
    """
    recipients = Recipient.objects.filter(provider_message_id=event.message_id or "-")
    if event.recipient:
        recipients = recipients.filter(address__iexact=event.recipient)
    recipient = recipients.select_related("message").first()
    if recipient is None:
        logger.info("%s %s event for unknown message %r", esp_name, event.event_type, event.message_id)
        return None
    event_id = str(event.event_id or "")
    with transaction.atomic():
        if event_id and DeliveryEvent.objects.filter(recipient=recipient, metadata__esp_event_id=event_id).exists():
            return None  # ESPs retry webhooks: the same event twice is recorded once
        recorded = record_delivery_event(
            recipient=recipient,
            event_type=event.event_type,
            transport=f"anymail:{esp_name}",
            reject_reason=event.reject_reason or "",
            description=event.description or "",
            mta_response=event.mta_response or "",
            metadata={"esp_event_id": event_id, **({"click_url": event.click_url} if event.click_url else {})},
            esp_event=_json_safe(event.esp_event),
            update_status=event.event_type in _STATUS_EVENTS,
        )
        reason = _SUPPRESS_FOR.get(event.event_type)
        if event.event_type == "bounced" and event.reject_reason in ("bounced", "invalid"):
            reason = Suppression.Reason.HARD_BOUNCE
        if reason:
            suppress_address(
                address=recipient.address,
                reason=reason,
                detail=event.description or "",
                source=Suppression.Source.ESP,
                source_event=recorded,
                **_scope_of(recipient, reason),
            )
        refresh_message_status(recipient.message)
    if event.event_type == "bounced":
        notify_sender_of_failures(message_id=recipient.message_id, recipient_ids=[recipient.pk])
    return recorded


def _scope_of(recipient: Recipient, reason: str) -> dict:
    """Bounces and complaints are GLOBAL; an unsubscribe only stops its workspace's marketing mail.

    An unsubscribe reported by the ESP is someone leaving the sender's
    marketing, not refusing their receipts; without a workspace on record (a
    message sent before scopes existed), GLOBAL is the safe side.
    """
    scope = SendScope.objects.filter(message_id=recipient.message_id).first()
    if reason != Suppression.Reason.UNSUBSCRIBE or scope is None or scope.domain_id is None:
        return {}
    return {"scope": Suppression.Scope.STREAM, "domain": scope.domain, "stream": "bulk"}


def _json_safe(payload) -> dict | list | None:
    """The provider's payload as stored JSON (most ESPs post JSON; others are kept as text)."""
    if payload is None:
        return None
    try:
        return json.loads(json.dumps(payload, default=str))
    except (TypeError, ValueError):
        return {"text": str(payload)[:100_000]}
