"""What the MX does synchronously: judge a recipient, and store an accepted message durably."""

from enum import StrEnum

from django.db import transaction

from accounts.addresses import split_address
from accounts.models import Domain
from accounts.selectors import resolve_hosted_address
from delivery import verp
from inbound.models import InboundMessage
from mailboxes.blobstore import store_blob


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
    return RecipientCheck.ACCEPT if resolve_hosted_address(address) else RecipientCheck.UNKNOWN


def accept_message(
    *, raw: bytes, mail_from: str, rcpt_tos: list[str], client_ip: str | None, helo: str, source: str = "smtp"
) -> InboundMessage:
    """Commit the exact bytes and the envelope, then (after commit) queue processing.

    The MX answers 250 only when this returns: a crash after that loses nothing,
    because the job row is what the reconciler works from.
    """
    with transaction.atomic():
        job = InboundMessage.objects.create(
            blob=store_blob(raw),
            source=source,
            mail_from=mail_from[:320],
            rcpt_tos=rcpt_tos,
            client_ip=client_ip or None,
            helo=helo[:255],
        )
        transaction.on_commit(lambda: dispatch_processing(job_id=job.pk))
    return job


def dispatch_processing(*, job_id: int, countdown: int = 0) -> None:
    from inbound.tasks import process_inbound  # tasks import services

    process_inbound.apply_async(args=[job_id], countdown=countdown)
