"""ESP tracking events (through django-anymail's webhooks) as our delivery events."""

import json
import logging

from django.db import transaction

from core.bounce_reasons import Reason, Verdict, classify
from delivery.models import DeliveryEvent, SendScope, Suppression
from delivery.services.events import record_delivery_event, refresh_message_status, reject_reason_for
from delivery.services.notices import notify_sender_of_failures
from delivery.services.suppression import suppress_address
from mailboxes.models import Recipient
from observability.logs import log_context

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
        verdict = judge_esp_event(event)
        reject_reason = event.reject_reason or ""
        if verdict is not None and event.event_type == "bounced":
            reject_reason = reject_reason_for(verdict.reason, hard=verdict.hard)
        recorded = record_delivery_event(
            recipient=recipient,
            event_type=event.event_type,
            transport=f"anymail:{esp_name}",
            reject_reason=reject_reason,
            reason=verdict.reason if verdict else "",
            description=event.description or "",
            mta_response=event.mta_response or "",
            metadata={"esp_event_id": event_id, **({"click_url": event.click_url} if event.click_url else {})},
            esp_event=_json_safe(event.esp_event),
            update_status=event.event_type in _STATUS_EVENTS,
        )
        reason = _SUPPRESS_FOR.get(event.event_type)
        if event.event_type == "bounced" and verdict.hard:
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
    with log_context(message_id=recipient.message_id, recipient_id=recipient.pk, queue_id=recipient.queue):
        logger.info(
            "recorded %s for recipient %s of message %s (anymail:%s webhook)",
            event.event_type, recipient.pk, recipient.message_id, esp_name,
        )  # fmt: skip
    if event.event_type == "bounced":
        notify_sender_of_failures(message_id=recipient.message_id, recipient_ids=[recipient.pk])
    return recorded


# The ESP's own bounce types and subtypes, where they name a reason outright (lower case).
_ESP_TYPES = {
    # Amazon SES bounceSubType
    "noemail": Reason.USER_UNKNOWN, "mailboxfull": Reason.MAILBOX_FULL, "messagetoolarge": Reason.MESSAGE_TOO_BIG,
    "contentrejected": Reason.CONTENT_ERROR, "attachmentrejected": Reason.POLICY_VIOLATION,
    "suppressed": Reason.USER_UNKNOWN, "onaccountsuppressionlist": Reason.USER_UNKNOWN,
    # Postmark Type
    "hardbounce": Reason.USER_UNKNOWN, "bademailaddress": Reason.USER_UNKNOWN, "addresschange": Reason.HAS_MOVED,
    "spamnotification": Reason.SPAM_DETECTED, "virusnotification": Reason.VIRUS_DETECTED,
    "dmarcpolicy": Reason.AUTH_FAILURE, "dnserror": Reason.NETWORK_ERROR, "blocked": Reason.BLOCKED,
    "challengeverification": Reason.FILTERED, "smtpapierror": Reason.SYNTAX_ERROR,
    # Mailgun reason
    "old": Reason.EXPIRED, "espblock": Reason.BLOCKED, "suppress-bounce": Reason.USER_UNKNOWN,
    # SendGrid bounce_classification
    "invalidaddress": Reason.USER_UNKNOWN, "mailboxunavailable": Reason.SUSPENDED, "reputation": Reason.BAD_REPUTATION,
    "frequencyorvolume": Reason.RATE_LIMITED, "content": Reason.SPAM_DETECTED, "technical": Reason.SYSTEM_ERROR,
}  # fmt: skip
# Types that say only "soft" or "permanent": the text decides.
_VAGUE_TYPES = {"softbounce", "transient", "undetermined", "general", "bounce", "generic", "permanent", "temporary"}


def judge_esp_event(event) -> Verdict | None:
    """The reason of a bounced, deferred or complained ESP event, from what the ESP says; None for the others.

    The reply text (anymail's ``mta_response``, else the payload's diagnostic)
    and its status decide, as for our own SMTP replies; the ESP's bounce type
    or subtype decides when it names a reason and the text names none. With
    no explanation at all, anymail's "invalid" or "bounced" of a failed event
    is taken as the ESP's word that the address is gone (what ESPs suppress).
    """
    if event.event_type == "complained":
        return Verdict(Reason.FEEDBACK, "", hard=False)
    if event.event_type not in ("bounced", "deferred"):
        return None
    payload = event.esp_event if isinstance(event.esp_event, dict) else {}
    status, text, kinds = _esp_details(payload)
    text = event.mta_response or text or ""
    action = "delayed" if event.event_type == "deferred" else "failed"
    verdict = classify(status, text, action=action)
    hint = next((_ESP_TYPES[k] for k in kinds if k in _ESP_TYPES), None)
    if hint is not None and (not text.strip() or verdict.reason in (Reason.UNDEFINED, Reason.ON_HOLD)):
        verdict = classify(status, text, action=action, hint=hint)
    if verdict.reason == Reason.UNDEFINED and action == "failed" and event.reject_reason in ("invalid", "bounced"):
        verdict = classify(status, text, action=action, hint=Reason.USER_UNKNOWN)
    return verdict


def _esp_details(payload: dict) -> tuple[str, str, list[str]]:
    """(status, diagnostic text, bounce types/subtypes, lower case) from the raw payloads of SES, SendGrid,
    Mailgun and Postmark; empty where the payload has none."""
    status, text, kinds = "", "", []
    bounce = payload.get("bounce") if isinstance(payload.get("bounce"), dict) else None
    if bounce:  # Amazon SES (SNS notification)
        kinds += [str(bounce.get("bounceSubType", "")), str(bounce.get("bounceType", ""))]
        for recipient in bounce.get("bouncedRecipients") or []:
            if isinstance(recipient, dict):
                status = status or str(recipient.get("status", ""))
                text = text or str(recipient.get("diagnosticCode", ""))
    delivery_status = payload.get("delivery-status")
    if isinstance(delivery_status, dict):  # Mailgun
        status = str(delivery_status.get("enhanced-code", "") or "")
        text = " ".join(str(delivery_status.get(k) or "") for k in ("code", "message", "description")).strip()
        kinds += [str(payload.get("reason", "")), str(payload.get("severity", ""))]
    if "sg_event_id" in payload or payload.get("event") in ("bounce", "dropped", "deferred", "blocked"):  # SendGrid
        status = status or str(payload.get("status", ""))
        text = text or str(payload.get("reason", "") or payload.get("response", ""))
        kinds += [str(payload.get("type", "")), str(payload.get("bounce_classification", ""))]
    if "RecordType" in payload:  # Postmark
        text = text or str(payload.get("Details", "") or payload.get("Description", ""))
        kinds.append(str(payload.get("Type", "")))
    kinds = [k.strip().lower().replace(" ", "") for k in kinds if k and k.strip()]
    return status, text, [k for k in kinds if k not in _VAGUE_TYPES]


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
