"""Celery tasks of the sending platform (the ``bulk`` queue; tracking hits on ``tracking``): thin, safe to run twice.

A tracking hit run twice is recorded twice, but counts once among the unique:
its first-open (first-click) mark is set by a conditional UPDATE.
"""

from celery import shared_task

from campaigns.models import Campaign
from campaigns.services.fanout import release_due, start_due_campaigns
from campaigns.services.imports import redispatch_queued_imports as redispatch
from campaigns.services.imports import run_contact_import
from campaigns.services.tracking import Hit, record_hit


@shared_task(name="campaigns.run_contact_import", ignore_result=True)
def run_contact_import_task(import_id: int) -> None:
    run_contact_import(import_id=import_id)


@shared_task(name="campaigns.redispatch_queued_imports")
def redispatch_queued_imports() -> int:
    return redispatch()


@shared_task(name="campaigns.start_and_release", ignore_result=True)
def start_and_release() -> None:
    """Start the campaigns whose time came and release sending ones' next people (beat: every 5 seconds).

    While it releases people and campaigns are sending, it runs again a second
    later, so a campaign keeps its window filled between beats; a run that
    released nobody ends its chain (the beat starts the next), which keeps the
    chains from multiplying.
    """
    start_due_campaigns()
    released = release_due()
    if released and Campaign.objects.filter(status=Campaign.Status.SENDING).exists():
        start_and_release.apply_async(countdown=1)


@shared_task(name="campaigns.record_tracking_hit", ignore_result=True)
def record_tracking_hit(hit: dict) -> None:
    record_hit(Hit(**hit))
