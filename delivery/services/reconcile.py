"""The outbox reconciler: nothing stays stranded by a lost task or a killed worker."""

import logging

from django.db import transaction
from django.utils import timezone

from delivery.services.events import release_to_queue
from delivery.services.rates import forget_old_rates
from mailboxes.models import Recipient
from reputation.services.limits import forget_old_quota_counts

logger = logging.getLogger(__name__)


def release_expired_leases() -> int:
    """Recipients whose worker died mid-delivery go back in the queue, due now."""
    now = timezone.now()
    released = 0
    with transaction.atomic():
        stale = Recipient.objects.select_for_update(skip_locked=True).filter(
            status=Recipient.Status.SENDING, lease_expires_at__lt=now
        )
        for recipient in stale:
            release_to_queue(
                recipient, now=now, transport="reconciler",
                description="The worker delivering this stopped before reporting; trying again.",
            )  # fmt: skip
            released += 1
    return released


def reconcile_outbox() -> dict[str, int]:
    """Release dead workers' claims and dispatch whatever is due; returns what it found."""
    from delivery.tasks import deliver_due  # tasks import services

    released = release_expired_leases()
    now = timezone.now()
    forget_old_rates(now=now)
    forget_old_quota_counts(now=now)
    due = {
        queue: Recipient.objects.filter(
            queue=queue, status__in=[Recipient.Status.QUEUED, Recipient.Status.DEFERRED], next_attempt_at__lte=now
        ).count()
        for queue in Recipient.Queue.values
    }
    for queue, count in due.items():
        if count:
            deliver_due.apply_async(kwargs={"queue": queue}, queue=queue)
    report = {"released": released, **{f"due_{queue}": count for queue, count in due.items()}}
    if released or any(due.values()):
        logger.info("outbox reconciled: %s", report)
    return report
