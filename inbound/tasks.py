"""Inbound tasks: thin wrappers over the pipeline (claims make a repeated task a no-op)."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from inbound.dmarc_reports.sending import send_aggregate_reports
from inbound.services.pipeline import process_inbound_messages, reconcile_inbound


@shared_task(name="inbound.process_inbound_batch", ignore_result=True)
def process_inbound_batch(job_ids: list[int]) -> None:
    process_inbound_messages(job_ids=job_ids)


@shared_task(name="inbound.process_inbound", ignore_result=True)
def process_inbound(job_id: int) -> None:
    """One job (tasks queued before batches existed)."""
    process_inbound_messages(job_ids=[job_id])


@shared_task(name="inbound.reconcile_inbound")
def reconcile() -> dict:
    return reconcile_inbound()


@shared_task(name="inbound.send_dmarc_aggregate_reports", ignore_result=True)
def send_dmarc_aggregate_reports() -> int:
    """Yesterday's (UTC) aggregate reports, each sent once however often this runs (hourly: DNS failures retry)."""
    if not settings.DMARC_SEND_AGGREGATE_REPORTS:
        return 0
    return len(send_aggregate_reports(day=(timezone.now() - timedelta(days=1)).date()))
