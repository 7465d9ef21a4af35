"""The delivery engine: claim due recipients, hand them to the transport, record what happened.

1. **Claim** due recipients in a short transaction, with row locks that skip
   rows another worker holds; drop the suppressed ones; hold back what would
   exceed a domain's concurrency or rate, or a sender's rate; lease the rest.
2. **Deliver** outside any transaction: hosted recipients are placed in their
   mailbox, the others go to the transport grouped by destination domain,
   DKIM-signed, each with its own VERP return path.
3. **Record** each outcome only if our lease still holds (a worker that lost
   its lease to the reconciler records nothing): 2xx sent; 4xx deferred with
   exponential backoff until the queue lifetime ends; 5xx bounced, hard
   bounces suppressed; anything unexpected goes to the dead-letter state.
"""

import logging
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.addresses import split_address
from accounts.models import Domain
from accounts.selectors import resolve_hosted_address
from delivery import dkim, verp
from delivery.models import Suppression
from delivery.services.events import record_delivery_event, refresh_message_status
from delivery.services.notices import notify_sender_of_failures
from delivery.services.suppression import suppress_address, suppressed_among
from delivery.transports import Envelope, Outcome, Result, get_transport
from mailboxes.blobstore import read_blob
from mailboxes.models import Message, Recipient
from mailboxes.services.placement import place_message

logger = logging.getLogger(__name__)

DUE_STATUSES = (Recipient.Status.QUEUED, Recipient.Status.DEFERRED)


@dataclass
class Claim:
    token: str
    recipients: list[Recipient] = field(default_factory=list)


@dataclass
class RunReport:
    claimed: int = 0
    sent: int = 0
    delivered: int = 0
    deferred: int = 0
    bounced: int = 0
    suppressed: int = 0
    failed: int = 0
    throttled: int = 0
    batches: int = 0

    def add(self, other: "RunReport") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def run_delivery(
    *, message_id: int | None = None, queue: str | None = None, max_batches: int | None = None
) -> RunReport:
    """Deliver what is due (of one message, or of a queue) until nothing is left or the batch budget ends."""
    report = RunReport()
    while max_batches is None or report.batches < max_batches:
        batch = deliver_batch(message_id=message_id, queue=queue)
        report.add(batch)
        report.batches += 1
        if batch.claimed == 0:
            break
    return report


def deliver_batch(*, message_id: int | None = None, queue: str | None = None, limit: int | None = None) -> RunReport:
    report = RunReport()
    claim = claim_due_recipients(
        message_id=message_id, queue=queue, limit=limit or settings.OUTBOUND_BATCH_SIZE, report=report
    )
    report.claimed = len(claim.recipients)
    if claim.recipients:
        deliver_claim(claim, report)
    return report


# --- 1. claim ---------------------------------------------------------------------


def claim_due_recipients(*, message_id: int | None, queue: str | None, limit: int, report: RunReport) -> Claim:
    now = timezone.now()
    claim = Claim(token=uuid.uuid4().hex)
    with transaction.atomic():
        due = Recipient.objects.select_for_update(skip_locked=True).filter(
            status__in=DUE_STATUSES, next_attempt_at__lte=now
        )
        if message_id is not None:
            due = due.filter(message_id=message_id)
        if queue is not None:
            due = due.filter(queue=queue)
        candidates = list(due.select_related("message").order_by("next_attempt_at", "pk")[:limit])
        if not candidates:
            return claim
        suppressed = suppressed_among(r.address for r in candidates)
        hosted = hosted_domains({r.domain for r in candidates})
        room = _Throttle(candidates, now, hosted)
        for recipient in candidates:
            entry = suppressed.get(recipient.address.lower())
            if entry is not None:
                _reject_suppressed(recipient, entry)
                report.suppressed += 1
            elif room.take(recipient):
                claim.recipients.append(recipient)
            else:
                recipient.next_attempt_at = now + timedelta(seconds=settings.OUTBOUND_THROTTLE_DELAY_SECONDS)
                recipient.save(update_fields=["next_attempt_at", "updated_at"])
                report.throttled += 1
        lease_until = now + timedelta(seconds=settings.OUTBOUND_LEASE_SECONDS)
        for recipient in claim.recipients:
            recipient.status = Recipient.Status.SENDING
            recipient.lease_token = claim.token
            recipient.lease_expires_at = lease_until
            recipient.attempts += 1
            recipient.last_attempt_at = now
        Recipient.objects.bulk_update(
            claim.recipients, ["status", "lease_token", "lease_expires_at", "attempts", "last_attempt_at"]
        )
    for message_id_ in {r.message_id for r in candidates if r.status == Recipient.Status.SUPPRESSED}:
        refresh_message_status(Message.objects.get(pk=message_id_))
    return claim


def _reject_suppressed(recipient: Recipient, entry: Suppression) -> None:
    record_delivery_event(
        recipient=recipient,
        event_type="rejected",
        reject_reason="unsubscribed" if entry.reason == Suppression.Reason.UNSUBSCRIBE else "bounced",
        transport="suppression",
        description=f"{recipient.address} is on the suppression list ({entry.get_reason_display().lower()}).",
    )


class _Throttle:
    """What each destination domain and sender may still take now, counted once per claim.

    A domain's concurrency is the number of workers delivering to it at once
    (distinct live leases); its rate and a sender's rate count attempts in the
    last minute. Hosted domains are local deliveries and are not throttled.
    """

    def __init__(self, candidates: list[Recipient], now, hosted: set[str]):
        window = now - timedelta(minutes=1)
        domains = {r.domain for r in candidates} - hosted
        senders = {r.message.sender_id for r in candidates if r.message.sender_id}
        per_domain = (
            Recipient.objects.filter(domain__in=domains)
            .values("domain")
            .annotate(
                workers=Count(
                    "lease_token", distinct=True, filter=Q(status=Recipient.Status.SENDING, lease_expires_at__gt=now)
                ),
                recent=Count("pk", filter=Q(last_attempt_at__gte=window)),
            )
        )
        self.hosted = hosted
        self.domain_room = {
            row["domain"]: (
                settings.OUTBOUND_DOMAIN_RATE_PER_MINUTE - row["recent"]
                if row["workers"] < settings.OUTBOUND_DOMAIN_CONCURRENCY
                else 0
            )
            for row in per_domain
        }
        per_sender = (
            Recipient.objects.filter(message__sender_id__in=senders, last_attempt_at__gte=window)
            .exclude(domain__in=hosted)
            .values("message__sender_id")
            .annotate(recent=Count("pk"))
        )
        recent_by_sender = {row["message__sender_id"]: row["recent"] for row in per_sender}
        self.sender_room = {s: settings.OUTBOUND_SENDER_RATE_PER_MINUTE - recent_by_sender.get(s, 0) for s in senders}

    def take(self, recipient: Recipient) -> bool:
        if recipient.domain in self.hosted:
            return True
        sender = recipient.message.sender_id
        domain_room = self.domain_room.get(recipient.domain, settings.OUTBOUND_DOMAIN_RATE_PER_MINUTE)
        if domain_room <= 0 or (sender and self.sender_room.get(sender, 1) <= 0):
            return False
        self.domain_room[recipient.domain] = domain_room - 1
        if sender:
            self.sender_room[sender] -= 1
        return True


# --- 2. deliver -------------------------------------------------------------------


def hosted_domains(names: set[str]) -> set[str]:
    """Which of ``names`` are ours (active or not): mail to them never leaves this system."""
    return set(Domain.objects.filter(name__in=names).values_list("name", flat=True))


def deliver_claim(claim: Claim, report: RunReport) -> None:
    hosted_names = hosted_domains({r.domain for r in claim.recipients})
    hosted, remote = [], defaultdict(list)
    for recipient in claim.recipients:
        if recipient.domain in hosted_names:
            hosted.append(recipient)
        else:
            remote[recipient.domain].append(recipient)
    failures: dict[int, list[Recipient]] = defaultdict(list)
    for recipient in hosted:
        _guarded(claim, [recipient], report, failures, lambda group: _deliver_locally(group[0]))
    signed: dict[int, bytes] = {}
    for domain, group in remote.items():
        _guarded(claim, group, report, failures, lambda group, domain=domain: _deliver_remote(domain, group, signed))
    for message_id, recipients in failures.items():
        notify_sender_of_failures(message_id=message_id, recipient_ids=[r.pk for r in recipients])
    for message_id in {r.message_id for r in claim.recipients}:
        refresh_message_status(Message.objects.get(pk=message_id))


def _guarded(claim: Claim, group: list[Recipient], report: RunReport, failures: dict, deliver) -> None:
    """Run one delivery and record its results; a crash dead-letters the group instead of losing it."""
    try:
        results = deliver(group)
    except Exception as exc:
        logger.exception("delivery to %s crashed; dead-lettering %d recipients", group[0].domain, len(group))
        for recipient in group:
            _dead_letter(claim, recipient, exc)
            report.failed += 1
        return
    by_id = {r.pk: r for r in group}
    for result in results:
        recipient = by_id[result.recipient_id]
        outcome = apply_result(claim=claim, recipient=recipient, result=result)
        if outcome:
            setattr(report, outcome, getattr(report, outcome) + 1)
        if outcome == "bounced":
            failures[recipient.message_id].append(recipient)


def _deliver_locally(recipient: Recipient) -> list[Result]:
    user = resolve_hosted_address(recipient.address)
    if user is None:
        return [Result(recipient.pk, Outcome.BOUNCED, 550, "5.1.1", "550 5.1.1 No such user here", remote_host="local")]
    place_message(user=user, message=recipient.message, received_at=recipient.message.created_at)
    Recipient.objects.filter(pk=recipient.pk).update(user=user)
    return [Result(recipient.pk, Outcome.SENT, 250, "2.0.0", "250 2.0.0 Delivered to the mailbox", remote_host="local")]


def _deliver_remote(domain: str, group: list[Recipient], signed: dict[int, bytes]) -> list[Result]:
    envelopes = []
    for recipient in group:
        message = recipient.message
        if message.pk not in signed:
            signed[message.pk] = dkim.sign(read_blob(message.blob), domain=_sender_domain(message))
        return_domain = split_address(message.from_address)[1].lower() or settings.MAIL_HOSTNAME
        envelopes.append(
            Envelope(
                recipient_id=recipient.pk,
                mail_from=verp.return_path(recipient_id=recipient.pk, domain=return_domain),
                rcpt_to=recipient.address,
                raw=signed[message.pk],
            )
        )
    return get_transport().deliver(domain=domain, envelopes=envelopes)


def _sender_domain(message: Message) -> Domain | None:
    return Domain.objects.filter(name=split_address(message.from_address)[1].lower()).first()


# --- 3. record --------------------------------------------------------------------


def apply_result(*, claim: Claim, recipient: Recipient, result: Result) -> str | None:
    """Record one outcome if our lease still holds; returns the report field it counts under."""
    transport = "local" if result.remote_host == "local" else get_transport().name
    with transaction.atomic():
        current = (
            Recipient.objects.select_for_update()
            .filter(pk=recipient.pk, status=Recipient.Status.SENDING, lease_token=claim.token)
            .first()
        )
        if current is None:
            logger.warning(
                "lost the lease on recipient %s; its outcome (%s) is not recorded", recipient.pk, result.outcome
            )
            return None
        current.lease_token, current.lease_expires_at = "", None
        if result.provider_message_id:
            current.provider_message_id = result.provider_message_id[:255]
        current.save(update_fields=["lease_token", "lease_expires_at", "provider_message_id", "updated_at"])
        details = {
            "transport": transport,
            "mta_response": result.response,
            "smtp_code": result.smtp_code,
            "enhanced_status": result.enhanced_status,
            "remote_host": "" if transport == "local" else result.remote_host,
        }
        if result.outcome == Outcome.SENT:
            record_delivery_event(
                recipient=current, event_type="delivered" if transport == "local" else "sent", **details
            )
            return "delivered" if transport == "local" else "sent"
        expired = current.expires_at is not None and timezone.now() >= current.expires_at
        if result.outcome == Outcome.DEFERRED and not expired:
            current.next_attempt_at = timezone.now() + backoff(current.attempts)
            current.save(update_fields=["next_attempt_at", "updated_at"])
            record_delivery_event(recipient=current, event_type="deferred", **details)
            return "deferred"
        if result.outcome == Outcome.DEFERRED:
            details["description"] = (
                f"Gave up after {current.attempts} attempts over "
                f"{settings.OUTBOUND_MAX_QUEUE_LIFETIME // 3600} hours; last error: {result.response}"
            )
            details["enhanced_status"] = "4.4.7"  # delivery time expired (RFC 3463)
            record_delivery_event(recipient=current, event_type="bounced", reject_reason="timed_out", **details)
            return "bounced"
        reason = "invalid" if result.is_hard_bounce else "bounced"  # anymail's words: bad address / other refusal
        event = record_delivery_event(recipient=current, event_type="bounced", reject_reason=reason, **details)
        if result.is_hard_bounce:
            suppress_address(
                address=current.address,
                reason=Suppression.Reason.HARD_BOUNCE,
                detail=result.response,
                source_event=event,
            )
        return "bounced"


def backoff(attempts: int) -> timedelta:
    """Exponential backoff with jitter, as Postfix spaces its retries (300 s doubling up to 4000 s)."""
    base = settings.OUTBOUND_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1)
    seconds = min(base, settings.OUTBOUND_RETRY_MAX_SECONDS)
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))


def _dead_letter(claim: Claim, recipient: Recipient, exc: Exception) -> None:
    with transaction.atomic():
        updated = Recipient.objects.filter(
            pk=recipient.pk, status=Recipient.Status.SENDING, lease_token=claim.token
        ).update(lease_token="", lease_expires_at=None)
        if updated:
            record_delivery_event(
                recipient=recipient, event_type="failed", transport="engine",
                description=f"Internal error, held for an admin to requeue: {exc.__class__.__name__}: {exc}",
            )  # fmt: skip


def requeue_recipients(*, recipient_ids) -> int:
    """Send dead-lettered (or bounced) recipients again, now, with a fresh queue lifetime."""
    now = timezone.now()
    lifetime = timedelta(seconds=settings.OUTBOUND_MAX_QUEUE_LIFETIME)
    requeued = []
    with transaction.atomic():
        recipients = Recipient.objects.select_for_update().filter(
            pk__in=list(recipient_ids), status__in=[Recipient.Status.FAILED, Recipient.Status.BOUNCED]
        )
        for recipient in recipients:
            recipient.next_attempt_at, recipient.expires_at = now, now + lifetime
            recipient.save(update_fields=["next_attempt_at", "expires_at", "updated_at"])
            record_delivery_event(
                recipient=recipient, event_type="queued", transport="admin", description="Requeued by an admin."
            )
            requeued.append(recipient)
        for message_id in {r.message_id for r in requeued}:
            refresh_message_status(Message.objects.get(pk=message_id))
    from delivery.services.submission import dispatch_delivery

    for message_id in {r.message_id for r in requeued}:
        transaction.on_commit(lambda message_id=message_id: dispatch_delivery(message_id=message_id))
    return len(requeued)
