"""Inbound tasks: thin wrappers over the pipeline (claims make a repeated task a no-op)."""

from celery import shared_task

from inbound.services.pipeline import process_inbound_message, reconcile_inbound


@shared_task(name="inbound.process_inbound", ignore_result=True)
def process_inbound(job_id: int) -> None:
    process_inbound_message(job_id=job_id)


@shared_task(name="inbound.reconcile_inbound")
def reconcile() -> dict:
    return reconcile_inbound()
