"""The delivery event log and the statuses derived from it."""

from collections import defaultdict
from datetime import datetime

from django.db import transaction
from django.dispatch import Signal

from core.bounce_reasons import Reason
from core.lookups import any_of
from delivery.models import DeliveryEvent
from mailboxes.models import Message, Recipient

# Sent inside the transaction that stored delivery events (``events``: saved DeliveryEvents), by
# ``record_delivery_event`` and the engine's ``record_results``: counters kept from it (a
# campaign's results) commit or roll back with the events they count.
events_recorded = Signal()

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
    reason: str = "",
    description: str = "",
    mta_response: str = "",
    smtp_code: int | None = None,
    enhanced_status: str = "",
    remote_host: str = "",
    metadata: dict | None = None,
    esp_event: dict | None = None,
    update_status: bool = True,
    timestamp: datetime | None = None,
) -> DeliveryEvent:
    """Append an event; unless ``update_status`` is off, move the recipient's status along with it.

    Tracking events (opened, clicked…) never change the delivery status; they
    give their ``timestamp`` (when the person acted, not when a worker wrote it).
    """
    with transaction.atomic():
        event = new_delivery_event(
            recipient=recipient, event_type=event_type, transport=transport, reject_reason=reject_reason,
            reason=reason, description=description, mta_response=mta_response, smtp_code=smtp_code,
            enhanced_status=enhanced_status, remote_host=remote_host, metadata=metadata, esp_event=esp_event,
        )  # fmt: skip
        if timestamp is not None:
            event.timestamp = timestamp
        event.save(force_insert=True)
        if update_status and _STATUS_FOR_EVENT.get(event_type) is not None:
            fields = status_fields_for_event(
                recipient, event_type, description=description, mta_response=mta_response, smtp_code=smtp_code,
                enhanced_status=enhanced_status, remote_host=remote_host,
            )  # fmt: skip
            for name, value in fields.items():
                setattr(recipient, name, value)
            recipient.save(update_fields=[*fields, "updated_at"])
        events_recorded.send(sender=DeliveryEvent, events=[event])
    return event


def new_delivery_event(
    *,
    recipient: Recipient,
    event_type: str,
    transport: str,
    reject_reason: str = "",
    reason: str = "",
    description: str = "",
    mta_response: str = "",
    smtp_code: int | None = None,
    enhanced_status: str = "",
    remote_host: str = "",
    metadata: dict | None = None,
    esp_event: dict | None = None,
) -> DeliveryEvent:
    """The event row, not yet saved (callers recording many at once ``bulk_create`` them)."""
    return DeliveryEvent(
        message_id=recipient.message_id,
        recipient=recipient,
        event_type=event_type,
        reject_reason=reject_reason,
        reason=reason,
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


# anymail's RejectReason for each failure reason that is neither hard nor expired (the rest: "bounced").
_REJECT_REASONS = {
    Reason.SPAM_DETECTED: "spam",
    Reason.VIRUS_DETECTED: "spam",
    **dict.fromkeys(
        (
            Reason.BLOCKED, Reason.BAD_REPUTATION, Reason.REQUIRE_PTR, Reason.REJECTED, Reason.POLICY_VIOLATION,
            Reason.FILTERED, Reason.AUTH_FAILURE, Reason.SECURITY_ERROR, Reason.NO_RELAYING,
        ),
        "blocked",
    ),
}  # fmt: skip


def reject_reason_for(reason: str, *, hard: bool) -> str:
    """anymail's word for a failure: "invalid" exactly when the address is gone (what campaign results count as
    a hard bounce), "timed_out" when the sender gave up retrying, "spam"/"blocked" for a refusal of the message
    or of us, else "bounced"."""
    if hard:
        return "invalid"
    if reason == Reason.EXPIRED:
        return "timed_out"
    return _REJECT_REASONS.get(reason, "bounced")


def failure_reasons_of(recipient_ids) -> dict[int, str]:
    """Each recipient's latest judged reason for a failure or deferral (``{recipient id: reason}``), in one query."""
    rows = (
        DeliveryEvent.objects.filter(any_of("recipient_id", recipient_ids), event_type__in=("bounced", "deferred"))
        .exclude(reason="")
        .order_by("recipient_id", "timestamp", "pk")
        .values_list("recipient_id", "reason")
    )
    return dict(rows)  # later rows of a recipient overwrite earlier ones: the latest wins


def latest_failure_reason(events) -> str:
    """The latest judged reason among ``events`` (one recipient's, oldest first, e.g. prefetched)."""
    return next((e.reason for e in reversed(list(events)) if e.reason and e.event_type in ("bounced", "deferred")), "")


def release_to_queue(recipient: Recipient, *, now, transport: str, description: str) -> None:
    """Take a claimed recipient back from its worker, due again ``now``, with a "deferred" event saying why."""
    recipient.lease_token, recipient.lease_expires_at, recipient.next_attempt_at = "", None, now
    recipient.save(update_fields=["lease_token", "lease_expires_at", "next_attempt_at", "updated_at"])
    record_delivery_event(recipient=recipient, event_type="deferred", transport=transport, description=description)


def status_fields_for_event(
    recipient: Recipient,
    event_type: str,
    *,
    description: str = "",
    mta_response: str = "",
    smtp_code: int | None = None,
    enhanced_status: str = "",
    remote_host: str = "",
) -> dict:
    """The ``Recipient`` fields a delivery event sets, from the recipient as it is in memory."""
    return {
        "status": _STATUS_FOR_EVENT[event_type],
        "smtp_code": recipient.smtp_code if smtp_code is None else smtp_code,
        "enhanced_status": enhanced_status or recipient.enhanced_status,
        "response": (mta_response or description or recipient.response)[:5000],
        "remote_host": remote_host or recipient.remote_host,
    }


def overall_status(statuses: set[str]) -> str:
    """A message's status from the set of its recipients' statuses."""
    if not statuses or statuses & Recipient.PENDING_STATUSES:
        return Message.Status.QUEUED
    if statuses <= Recipient.FAILED_STATUSES:
        return Message.Status.FAILED
    if statuses & Recipient.FAILED_STATUSES:
        return Message.Status.PARTIALLY_FAILED
    return Message.Status.SENT


def refresh_message_statuses(message_ids) -> None:
    """``refresh_message_status`` for many messages, in a few queries.

    Call it after the recipients' changes are committed. The messages are
    locked (in id order) before their recipients are read, so of two workers
    finishing recipients of one message, the one that writes last has read
    after both commits: the status never ends stale.
    """
    ids = sorted(set(message_ids))
    if not ids:
        return
    with transaction.atomic():
        current = dict(
            Message.objects.select_for_update().filter(any_of("pk", ids)).order_by("pk").values_list("pk", "status")
        )
        statuses = defaultdict(set)
        for message_id, status in (
            Recipient.objects.filter(any_of("message_id", ids)).values_list("message_id", "status").distinct()
        ):
            statuses[message_id].add(status)
        changes = defaultdict(list)
        for message_id, status in current.items():
            new = overall_status(statuses[message_id])
            if status != new:
                changes[new].append(message_id)
        for status, pks in changes.items():
            Message.objects.filter(any_of("pk", pks)).update(status=status)


def refresh_message_status(message: Message) -> None:
    """The message's overall status from its recipients'."""
    status = overall_status(set(message.recipients.values_list("status", flat=True)))
    if message.status != status:
        Message.objects.filter(pk=message.pk).update(status=status)
        message.status = status
