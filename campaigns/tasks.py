"""Celery tasks of the sending platform (routed to the ``bulk`` queue): thin, safe to run twice."""

from celery import shared_task

from campaigns.services.imports import redispatch_queued_imports as redispatch
from campaigns.services.imports import run_contact_import


@shared_task(name="campaigns.run_contact_import", ignore_result=True)
def run_contact_import_task(import_id: int) -> None:
    run_contact_import(import_id=import_id)


@shared_task(name="campaigns.redispatch_queued_imports")
def redispatch_queued_imports() -> int:
    return redispatch()
