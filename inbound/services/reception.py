"""What the MX does synchronously: judge a recipient, and store an accepted message durably."""

import logging
from dataclasses import dataclass
from enum import StrEnum

from django.db import transaction

from accounts.addresses import split_address
from accounts.models import Domain
from accounts.selectors import resolve_hosted_address
from campaigns.unsubscribe import is_unsubscribe_address
from core.bulk import insert_objects
from delivery import verp
from inbound.dmarc_reports.services import is_report_address
from inbound.models import InboundMessage
from mailboxes.blobstore import store_blobs, write_blob_files
from webmail.celery import BROKER_ERRORS

logger = logging.getLogger(__name__)

# Jobs per processing task: small enough that workers share a burst, big enough to save overhead.
DISPATCH_BATCH = 20


class RecipientCheck(StrEnum):
    ACCEPT = "accept"
    UNKNOWN = "unknown"  # our domain, no such user: 550 5.1.1
    RELAY = "relay"  # not our domain: we are no open relay, 550 5.7.1


def check_recipient(address: str) -> RecipientCheck:
    _, domain = split_address(address.strip().strip("<>"))
    domain = domain.lower().rstrip(".")
    if not domain or not Domain.objects.filter(name=domain, is_active=True).exists():
        return RecipientCheck.RELAY
    if verp.looks_like_verp(address):  # a bounce or complaint about mail we sent (even with a mangled token)
        return RecipientCheck.ACCEPT
    if is_unsubscribe_address(address):  # the mailto: of our List-Unsubscribe headers, owned by no user
        return RecipientCheck.ACCEPT
    if is_report_address(address):  # the rua= of our DMARC records (a mailbox may have it too)
        return RecipientCheck.ACCEPT
    return RecipientCheck.ACCEPT if resolve_hosted_address(address) else RecipientCheck.UNKNOWN


@dataclass(frozen=True)
class Arrival:
    """One message as the MX (or an ESP webhook) received it: the exact bytes and the envelope."""

    raw: bytes
    mail_from: str
    rcpt_tos: list[str]
    client_ip: str | None
    helo: str
    source: str = "smtp"


def accept_message(
    *, raw: bytes, mail_from: str, rcpt_tos: list[str], client_ip: str | None, helo: str, source: str = "smtp"
) -> InboundMessage:
    """Commit the exact bytes and the envelope, then (after commit) queue processing.

    The MX answers 250 only when this returns: a crash after that loses nothing,
    because the job row is what the reconciler works from.
    """
    [job] = accept_messages([Arrival(raw, mail_from, rcpt_tos, client_ip, helo, source)])
    return job


def accept_messages(arrivals: list[Arrival], *, dispatch: bool = True) -> list[InboundMessage]:
    """``accept_message`` for many messages in one transaction (the MX's group commit).

    The files are flushed to disk and the rows committed when this returns;
    all of them or none. Processing is queued after commit, in one batch,
    unless the caller queues it itself (``dispatch=False``: the MX gathers
    the jobs of several commits into one task).
    """
    raws = [arrival.raw for arrival in arrivals]
    write_blob_files(raws)  # the fsyncs, before taking the database's locks
    with transaction.atomic():
        blobs = store_blobs(raws)
        jobs = [
            InboundMessage(
                blob=blob,
                source=arrival.source,
                mail_from=arrival.mail_from[:320],
                rcpt_tos=arrival.rcpt_tos,
                client_ip=arrival.client_ip or None,
                helo=arrival.helo[:255],
            )
            for arrival, blob in zip(arrivals, blobs, strict=True)
        ]
        insert_objects(jobs)
        if dispatch:
            job_ids = [job.pk for job in jobs]
            transaction.on_commit(lambda: dispatch_processing(job_ids=job_ids))
    return jobs


def dispatch_processing(*, job_ids: list[int], countdown: int = 0) -> None:
    """Queue processing: one task per batch of jobs (a task claims them all and handles each).

    The jobs are stored: with the broker down they wait for the reconciler, and
    whoever stored them (the MX before its 250, a webhook) still succeeds.
    """
    from inbound.tasks import process_inbound_batch  # tasks import services

    for start in range(0, len(job_ids), DISPATCH_BATCH):
        try:
            process_inbound_batch.apply_async(args=[job_ids[start : start + DISPATCH_BATCH]], countdown=countdown)
        except BROKER_ERRORS:
            logger.warning(
                "broker unreachable: %d stored inbound messages wait for the reconciler",
                len(job_ids) - start,
                exc_info=True,
            )
            return
