"""Inbound tasks: thin wrappers over the pipeline (claims make a repeated task a no-op)."""

from celery import shared_task

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
