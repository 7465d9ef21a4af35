"""Outbound mail: submission, the delivery engine, events, suppression, notices, ESP webhooks."""

from delivery.services.engine import requeue_recipients, run_delivery
from delivery.services.events import record_delivery_event, refresh_message_status
from delivery.services.reconcile import reconcile_outbox
from delivery.services.submission import IdempotencyKeyReused, send_draft, send_message
from delivery.services.suppression import remove_suppression, suppress_address

__all__ = [
    "IdempotencyKeyReused",
    "reconcile_outbox",
    "record_delivery_event",
    "refresh_message_status",
    "remove_suppression",
    "requeue_recipients",
    "run_delivery",
    "send_draft",
    "send_message",
    "suppress_address",
]
