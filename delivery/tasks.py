"""Delivery tasks: thin wrappers over the engine, safe to run twice (claims are leased)."""

from celery import shared_task
from django.conf import settings

from delivery.services.engine import run_delivery
from delivery.services.reconcile import reconcile_outbox as reconcile


@shared_task(name="delivery.deliver_message", ignore_result=True)
def deliver_message(message_id: int) -> None:
    # Its claim also takes other due mail of the queue: a burst goes out in fewer claims and sessions.
    run_delivery(message_id=message_id, max_batches=settings.OUTBOUND_MAX_BATCHES_PER_TASK, with_queue=True)


@shared_task(name="delivery.deliver_due", ignore_result=True)
def deliver_due(queue: str = "transactional") -> None:
    report = run_delivery(queue=queue, max_batches=settings.OUTBOUND_MAX_BATCHES_PER_TASK)
    if report.claimed and report.batches >= settings.OUTBOUND_MAX_BATCHES_PER_TASK:
        deliver_due.apply_async(kwargs={"queue": queue}, queue=queue)  # more is due: continue in a fresh task


@shared_task(name="delivery.reconcile_outbox")
def reconcile_outbox() -> dict:
    return reconcile()


@shared_task(name="delivery.simulator_follow_up", ignore_result=True)
def simulator_follow_up(recipient_ids: list[int]) -> None:
    """The mailbox simulator's complaint reports and auto-replies, into the inbound path."""
    from delivery.simulator import follow_up

    follow_up(recipient_ids)


@shared_task(name="delivery.notify_delays", ignore_result=True)
def notify_delays() -> int:
    """Tell senders whose mail is still being retried an hour on (once per message)."""
    from delivery.services.notices import notify_senders_of_delays

    return notify_senders_of_delays()
