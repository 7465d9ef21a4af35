"""Celery tasks of the sending platform (the ``bulk`` queue; tracking hits on ``tracking``): thin, safe to run twice.

A tracking hit run twice is recorded twice, but counts once among the unique:
its first-open (first-click) mark is set by a conditional UPDATE.
"""

from celery import shared_task

from campaigns.services.imports import redispatch_queued_imports as redispatch
from campaigns.services.imports import run_contact_import
from campaigns.services.tracking import Hit, record_hit


@shared_task(name="campaigns.run_contact_import", ignore_result=True)
def run_contact_import_task(import_id: int) -> None:
    run_contact_import(import_id=import_id)


@shared_task(name="campaigns.redispatch_queued_imports")
def redispatch_queued_imports() -> int:
    return redispatch()


@shared_task(name="campaigns.record_tracking_hit", ignore_result=True)
def record_tracking_hit(hit: dict) -> None:
    record_hit(Hit(**hit))
