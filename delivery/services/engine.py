"""The delivery engine: claim due recipients, hand them to the transport, record what happened.

1. **Claim** due recipients in a short transaction, with row locks that skip
   rows another worker holds; refuse transactional and bulk mail to addresses
   suppressed in a scope that binds it (and tell the sender why); hold back what would
   exceed a domain's concurrency or rate, or a sender's rate; lease the rest.
2. **Deliver** outside any transaction: hosted recipients are placed in their
   mailbox, the others go to the transport grouped by destination domain,
   DKIM-signed, each with its own VERP return path.
3. **Record** each outcome as soon as the transport reports it (after each
   SMTP transaction), only if our lease still holds (a worker that lost its
   lease to the reconciler records nothing): 2xx sent; 4xx deferred with
   exponential backoff until the queue lifetime ends; 5xx bounced, hard
   bounces suppressed; a domain that does not resolve is retried for a while
   first (it may be a DNS blip); anything unexpected goes to the dead-letter state.

The lease is short (``OUTBOUND_LEASE_SECONDS``) and a heartbeat renews it
while the worker lives: a killed worker's claim goes back to the queue within
a minute, and is sent again only for what it had not recorded, which is at
most the SMTP transaction it was in.
"""

import dataclasses
import logging
import random
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F
from django.utils import timezone

from accounts.addresses import split_address
from accounts.models import Domain
from accounts.selectors import resolve_hosted_address
from core.bounce_reasons import Reason
from core.bulk import insert_objects, recordset
from core.heartbeat import Heartbeat, extend_held_leases
from core.lookups import any_of
from core.providers import Provider, provider_for_domain
from delivery import dkim, personalization, simulator, verp
from delivery.models import DeliveryEvent, ProviderBackoff, Suppression
from delivery.services import metrics, shaping
from delivery.services.events import (
    events_recorded,
    new_delivery_event,
    record_delivery_event,
    refresh_message_statuses,
    reject_reason_for,
    release_to_queue,
    status_fields_for_event,
)
from delivery.services.notices import notify_sender_of_failures
from delivery.services.rates import count_attempts, recent_attempts, recent_provider_attempts
from delivery.services.suppression import (
    HOST_UNKNOWN,
    Sending,
    describe,
    host_unknown_for_long,
    refusing_entries,
    scope_phrase,
    suppress_after_bounce,
)
from delivery.transports import Envelope, Outcome, Result, get_transport
from mailboxes.blobstore import read_blob
from mailboxes.models import Message, Recipient
from mailboxes.services.store import store_message
from observability.logs import log_context
from reputation.models import SendingHold
from rules.arrival import place_locally

logger = logging.getLogger(__name__)

DUE_STATUSES = (Recipient.Status.QUEUED, Recipient.Status.DEFERRED)


@dataclass
class Claim:
    token: str
    recipients: list[Recipient] = field(default_factory=list)
    hosted: set[str] = field(default_factory=set)  # the candidates' domains that are ours
    # Destination providers (docs/PROVIDER-SHAPING.md): of the domains known at claim time, the pauses
    # in force, and the retry rules (read once per claim, when a first failure needs them).
    providers: dict[str, str] = field(default_factory=dict)
    backoffs: dict[str, ProviderBackoff] = field(default_factory=dict)
    retry_rules: list | None = None
    profiles: dict | None = None  # the providers' profiles in force when claimed (the transport asks per domain)


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
    # Whether more may be due at once: claims that took as many due rows as their limit, recipients handed back.
    full_claims: int = 0
    given_back: int = 0

    def add(self, other: "RunReport") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def run_delivery(
    *,
    message_id: int | None = None,
    queue: str | None = None,
    max_batches: int | None = None,
    with_queue: bool = False,
) -> RunReport:
    """Deliver what is due (of one message, or of a queue) until nothing is left or the batch budget ends.

    A message's task claims again only when its claim may have left something due: it was full, or it
    handed recipients back. Otherwise a second claim would find nothing: what the first did not take
    is due later (deferred, throttled, its provider paused), held, or another worker's, and the
    reconciler dispatches whatever falls due later. A queue's delivery claims until a claim is empty
    (new mail keeps arriving there, and the bulk queue is topped up before each claim).

    ``with_queue`` (a message's task): a claim that finds the message's recipients due fills the rest of
    the batch with other due recipients of their queue, so that a burst is delivered by fewer claims
    and SMTP sessions, and the later messages' tasks find theirs taken (their claim finds nothing).
    """
    report = RunReport()
    while max_batches is None or report.batches < max_batches:
        if queue is not None:  # per-recipient mail (a campaign) is released as the queue drains, not in turns
            personalization.top_up(queue)
        batch = deliver_batch(message_id=message_id, queue=queue, with_queue=with_queue)
        report.add(batch)
        report.batches += 1
        if batch.claimed == 0:
            break
        if message_id is not None and queue is None and not (batch.full_claims or batch.given_back):
            break
    return report


def deliver_batch(
    *, message_id: int | None = None, queue: str | None = None, limit: int | None = None, with_queue: bool = False
) -> RunReport:
    report = RunReport()
    claim = claim_due_recipients(
        message_id=message_id, queue=queue, limit=limit or settings.OUTBOUND_BATCH_SIZE, report=report,
        with_queue=with_queue,
    )  # fmt: skip
    report.claimed = len(claim.recipients)
    if claim.recipients:
        deliver_claim(claim, report)
    return report


# --- 1. claim ---------------------------------------------------------------------


def claim_due_recipients(
    *, message_id: int | None, queue: str | None, limit: int, report: RunReport, with_queue: bool = False
) -> Claim:
    """Claim up to ``limit`` due recipients (of one message, or of a queue; ``with_queue``: of one message,
    then of its queue), refusing, holding back or postponing those that may not go now."""
    now = timezone.now()
    claim = Claim(token=uuid.uuid4().hex)
    rejected: dict[int, list[Recipient]] = defaultdict(list)
    with transaction.atomic():
        due = Recipient.objects.select_for_update(skip_locked=True, of=("self",)).filter(
            status__in=DUE_STATUSES, next_attempt_at__lte=now
        )
        if message_id is not None:
            due = due.filter(message_id=message_id)
        if queue is not None:
            due = due.filter(queue=queue)
        # The locking query reads the recipient table alone (the partial index
        # recipient_due, in its order): joined, the planner may sort the whole outbox.
        candidates = list(due.order_by("next_attempt_at", "pk")[:limit])
        if not candidates:
            return claim
        queues = {r.queue for r in candidates}
        if with_queue and message_id is not None and len(candidates) < limit and len(queues) == 1:
            others = Recipient.objects.select_for_update(skip_locked=True, of=("self",)).filter(
                status__in=DUE_STATUSES, next_attempt_at__lte=now, queue=queues.pop()
            )
            candidates += others.exclude(message_id=message_id).order_by("next_attempt_at", "pk")[
                : limit - len(candidates)
            ]
        report.full_claims += len(candidates) >= limit
        # The send scope (workspace, list) comes joined to its message: no query of its own.
        messages = {
            m.pk: m
            for m in Message.objects.select_related("blob", "send_scope").filter(
                any_of("pk", {r.message_id for r in candidates})
            )
        }
        sendings = {}
        for recipient in candidates:
            recipient.message = messages[recipient.message_id]
            sendings[recipient.pk] = _sending(recipient)
        # One query for the claim; a person's own mail is tried whatever the list says.
        suppressed = refusing_entries(sendings.values(), now=now)
        held = _held_campaigns(messages.values())
        held_senders = held_sender_messages(messages.values())
        hosted = claim.hosted = hosted_domains({r.domain for r in candidates})
        room = _Throttle(candidates, now, hosted)
        claim.providers, claim.backoffs, claim.profiles = room.providers, room.backoffs, room.profiles
        throttled, parked = [], []
        for recipient in candidates:
            entry = suppressed.get(sendings[recipient.pk])
            hold = held.get(personalization.campaign_of(recipient.message))
            if hold == personalization.CANCELLED:
                _reject_cancelled(recipient)
                rejected[recipient.message_id].append(recipient)
                report.suppressed += 1
            elif hold == personalization.PAUSED or recipient.message_id in held_senders:
                parked.append(recipient.pk)
            elif entry is not None:
                _reject_suppressed(recipient, entry)
                rejected[recipient.message_id].append(recipient)
                report.suppressed += 1
            elif room.take(recipient):
                claim.recipients.append(recipient)
            else:
                throttled.append(recipient.pk)
                report.throttled += 1
        if throttled:
            room.postpone(throttled, now)
        if parked:  # due at no time, until the campaign resumes or the sender's hold is released
            Recipient.objects.filter(any_of("pk", parked)).update(next_attempt_at=None, updated_at=now)
        lease_until = now + timedelta(seconds=settings.OUTBOUND_LEASE_SECONDS)
        # One UPDATE for the whole claim (bulk_update would build a CASE per row and field).
        Recipient.objects.filter(any_of("pk", [r.pk for r in claim.recipients])).update(
            status=Recipient.Status.SENDING,
            lease_token=claim.token,
            lease_expires_at=lease_until,
            attempts=F("attempts") + 1,
            last_attempt_at=now,
            updated_at=now,
        )
        for recipient in claim.recipients:
            recipient.status = Recipient.Status.SENDING
            recipient.lease_token = claim.token
            recipient.lease_expires_at = lease_until
            recipient.attempts += 1
            recipient.last_attempt_at = now
    # Counted once the claim is committed, in a statement of its own: the counter
    # rows are shared by all workers and stay locked only for that statement.
    count_attempts(
        domains=room.taken_by_domain, senders=room.taken_by_sender, providers=room.taken_by_provider, now=now
    )
    refresh_message_statuses(rejected)
    for message_id, recipients in rejected.items():  # a refused send is a failure its sender hears of
        _notify_sender(messages[message_id], recipients)
    _log_claimed(claim, rejected)
    return claim


def _log_claimed(claim: Claim, rejected: dict[int, list[Recipient]]) -> None:
    """One line per recipient the (committed) claim took or refused: the worker's step of a message's way."""
    for recipient in claim.recipients:
        with recipient_log_context(recipient):
            logger.info(
                "claimed recipient %s of message %s (attempt %s, claim %s)",
                recipient.pk, recipient.message_id, recipient.attempts, claim.token[:12],
            )  # fmt: skip
    for recipients in rejected.values():
        for recipient in recipients:
            with recipient_log_context(recipient):
                logger.info("recipient %s of message %s is not sent (%s)", recipient.pk, recipient.message_id,
                            recipient.status)  # fmt: skip


def recipient_log_context(recipient: Recipient):
    """The log context of a line about one recipient (docs/LOGS.md): its message, itself, its queue."""
    return log_context(message_id=recipient.message_id, recipient_id=recipient.pk, queue_id=recipient.queue)


def _held_campaigns(messages) -> dict[int, str]:
    """The campaigns of these messages that must not send now (paused or cancelled): one query, if any."""
    campaign_ids = {personalization.campaign_of(m) for m in messages} - {None}
    return personalization.renderer().held(campaign_ids) if campaign_ids else {}


def held_sender_messages(messages) -> set[int]:
    """The messages whose sender or From domain is held (``reputation.services.holds``): one query, holds are few."""
    holds = SendingHold.objects.filter(
        resolved_at=None, kind__in=(SendingHold.Kind.USER, SendingHold.Kind.DOMAIN)
    ).values_list("kind", "key")
    users, domains = set(), set()
    for kind, key in holds:
        (users if kind == SendingHold.Kind.USER else domains).add(key)
    if not users and not domains:
        return set()
    return {m.pk for m in messages if str(m.sender_id) in users or split_address(m.from_address)[1].lower() in domains}


def _reject_cancelled(recipient: Recipient) -> None:
    record_delivery_event(
        recipient=recipient, event_type="rejected", reject_reason="other", transport="campaign",
        description="Not sent: the campaign was cancelled.", metadata={"cancelled": True},
    )  # fmt: skip


def _notify_sender(message: Message, recipients: list[Recipient]) -> None:
    """A person or service hears of its failed mail; a campaign's marketer reads them on its results page."""
    if personalization.campaign_of(message) is None:
        notify_sender_of_failures(message_id=message.pk, recipient_ids=[r.pk for r in recipients])


def _sending(recipient: Recipient) -> Sending:
    message = recipient.message
    try:
        scope = message.send_scope
    except Message.send_scope.RelatedObjectDoesNotExist:  # personal mail, or sent before scopes existed
        scope = None
    return Sending(
        address=recipient.address,
        stream=message.stream,
        domain_id=scope.domain_id if scope else None,
        contact_list_id=scope.contact_list_id if scope else None,
    )


def _reject_suppressed(recipient: Recipient, entry: Suppression) -> None:
    record_delivery_event(
        recipient=recipient,
        event_type="rejected",
        reject_reason="unsubscribed" if entry.reason == Suppression.Reason.UNSUBSCRIBE else "bounced",
        transport="suppression",
        description=(
            f"Not sent: {recipient.address} {scope_phrase(entry)} since {entry.created_at:%Y-%m-%d} "
            f"({entry.get_reason_display().lower()}"
            f"{': ' + ' '.join(entry.detail.split())[:300] if entry.detail else ''})."
        ),
        enhanced_status="5.7.1",  # delivery not authorised: our policy, not the recipient's server
        metadata={"suppression": describe(entry)},
    )


class _Throttle:
    """What each destination domain and sender may still take now, counted once per claim.

    A domain's concurrency is the number of workers delivering to it at once
    (distinct live leases); its rate and a sender's rate count attempts in the
    last minute, from the ``SendRate`` counters. Hosted domains are local
    deliveries and are not throttled.

    On top, per destination provider (``delivery.services.shaping``): a paused
    provider's mail waits for the pause's end; Gmail, Microsoft, Yahoo and Apple
    each get their profile's workers and rate over all the domains they host;
    the "other" profile bounds each other domain (with the settings above).
    """

    def __init__(self, candidates: list[Recipient], now, hosted: set[str]):
        domains = {r.domain for r in candidates} - hosted
        senders = {r.message.sender_id for r in candidates if r.message.sender_id}
        workers = dict(
            Recipient.objects.filter(
                any_of("domain", domains), status=Recipient.Status.SENDING, lease_expires_at__gt=now
            )
            .values("domain")
            .annotate(workers=Count("lease_token", distinct=True))
            .values_list("domain", "workers")
        )
        recent_by_domain, recent_by_sender = recent_attempts(domains=domains, senders=senders, now=now)
        self.hosted = hosted
        self.domain_room = {
            domain: (
                settings.OUTBOUND_DOMAIN_RATE_PER_MINUTE - recent_by_domain.get(domain, 0)
                if workers.get(domain, 0) < settings.OUTBOUND_DOMAIN_CONCURRENCY
                else 0
            )
            for domain in domains
        }
        self.sender_room = {s: settings.OUTBOUND_SENDER_RATE_PER_MINUTE - recent_by_sender.get(s, 0) for s in senders}
        self.taken_by_domain: Counter = Counter()
        self.taken_by_sender: Counter = Counter()
        self._shape_by_provider(domains, workers, recent_by_domain, now)

    def _shape_by_provider(self, domains: set[str], workers: dict, recent_by_domain: dict, now) -> None:
        self.providers = shaping.known_providers(domains)  # no DNS lookup here: see known_providers
        self.backoffs = shaping.active_backoffs(now=now)
        profiles = self.profiles = shaping.effective_profiles()
        self.wait_until: dict[int, object] = {}  # recipient id -> the end of its provider's pause
        self.taken_by_provider: Counter = Counter()
        other = profiles[Provider.OTHER]
        for domain in domains:
            if self.providers.get(domain, Provider.OTHER) == Provider.OTHER:
                self.domain_room[domain] = (
                    min(self.domain_room[domain], other.messages_per_minute - recent_by_domain.get(domain, 0))
                    if workers.get(domain, 0) < other.max_connections
                    else 0
                )
        big = set(self.providers.values()) - {Provider.OTHER}
        self.provider_room: dict[str, int] = {}
        if not big:
            return
        # Workers at a provider: distinct live claims holding any of its domains (few rows: only mail in flight).
        claims = defaultdict(set)
        for domain, token in (
            Recipient.objects.filter(status=Recipient.Status.SENDING, lease_expires_at__gt=now)
            .values_list("domain", "lease_token")
            .distinct()
        ):
            provider = self.providers.get(domain) or shaping.known_providers([domain]).get(domain)
            if provider in big:
                claims[provider].add(token)
        recent = recent_provider_attempts(providers=big, now=now)
        for provider in big:
            profile = profiles[provider]
            self.provider_room[provider] = (
                profile.messages_per_minute - recent.get(provider, 0)
                if len(claims[provider]) < profile.max_connections
                else 0
            )

    def postpone(self, recipient_ids: list[int], now) -> None:
        """Throttled recipients are due again shortly; a paused provider's, when its pause ends."""
        due = defaultdict(list)
        later = now + timedelta(seconds=settings.OUTBOUND_THROTTLE_DELAY_SECONDS)
        for pk in recipient_ids:
            due[self.wait_until.get(pk, later)].append(pk)
        for when, pks in due.items():
            Recipient.objects.filter(any_of("pk", pks)).update(next_attempt_at=when, updated_at=now)

    def take(self, recipient: Recipient) -> bool:
        if recipient.domain in self.hosted:
            return True
        provider = self.providers.get(recipient.domain, Provider.OTHER)
        backoff = self.backoffs.get(provider)
        if backoff is not None:
            self.wait_until[recipient.pk] = backoff.until
            return False
        provider_room = self.provider_room.get(provider)
        if provider_room is not None and provider_room <= 0:
            return False
        sender = recipient.message.sender_id
        domain_room = self.domain_room.get(recipient.domain, settings.OUTBOUND_DOMAIN_RATE_PER_MINUTE)
        if domain_room <= 0 or (sender and self.sender_room.get(sender, 1) <= 0):
            return False
        self.domain_room[recipient.domain] = domain_room - 1
        self.taken_by_domain[recipient.domain] += 1
        if provider_room is not None:
            self.provider_room[provider] = provider_room - 1
            self.taken_by_provider[provider] += 1
        if sender:
            self.sender_room[sender] -= 1
            self.taken_by_sender[sender] += 1
        return True


# --- 2. deliver -------------------------------------------------------------------


def hosted_domains(names: set[str]) -> set[str]:
    """Which of ``names`` are ours (active or not): mail to them never leaves this system."""
    return set(Domain.objects.filter(any_of("name", names)).values_list("name", flat=True))


class LeaseHeartbeat:
    """Renews a claim's lease every third of it, from a thread of its own, while the worker delivers.

    A thread, so that the lease lives on through an SMTP step that blocks for
    longer than the lease (a host that times out); a worker killed, or frozen
    past the lease, stops renewing, and the reconciler takes the claim back.
    ``beat`` is the renewal itself (tests call it with their own clock).
    """

    def __init__(self, claim: Claim, *, clock=None):
        self.claim = claim
        self.clock = clock or timezone.now
        self.interval = settings.OUTBOUND_LEASE_SECONDS / 3
        # A beat that fails (a database hiccup) is logged by Heartbeat; the lease has two more.
        self._heartbeat = Heartbeat(lambda: self.beat(), interval=self.interval, name=f"lease-{claim.token[:8]}")

    def beat(self) -> int:
        """Extend the lease of the claim's recipients not recorded yet; returns how many it still holds."""
        return renew_lease(token=self.claim.token, now=self.clock())

    def __enter__(self) -> "LeaseHeartbeat":
        self._heartbeat.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        self._heartbeat.__exit__(*exc_info)


def renew_lease(*, token: str, now) -> int:
    """Extend a live claim's lease from ``now``; returns how many recipients it renewed (not yet recorded)."""
    return extend_held_leases(
        Recipient.objects.filter(lease_token=token, status=Recipient.Status.SENDING),
        until=now + timedelta(seconds=settings.OUTBOUND_LEASE_SECONDS),
    )


def deliver_claim(claim: Claim, report: RunReport) -> None:
    # The providers' profiles as the claim read them: per-connection limits need no query per domain.
    with LeaseHeartbeat(claim), shaping.profiles_of_claim(claim.profiles):
        _deliver_claim(claim, report)


def _deliver_claim(claim: Claim, report: RunReport) -> None:
    hosted, remote = [], defaultdict(list)
    for recipient in claim.recipients:
        if recipient.domain in claim.hosted:
            hosted.append(recipient)
        else:
            remote[recipient.domain].append(recipient)
    failures: dict[int, list[Recipient]] = defaultdict(list)
    for recipient in hosted:  # placed in a mailbox at once: recorded at once, so never placed twice
        with recipient_log_context(recipient):
            outcomes = _guarded(claim, [recipient], report, lambda group: _deliver_locally(group[0]))
            record_results(claim=claim, outcomes=outcomes, report=report, failures=failures)
    signed: dict[int, bytes] = {}
    sender_domains: dict[str, Domain | None] = {}
    # A campaign's recipients are rendered for the whole claim at once (one read of what renders them).
    personal = [r for group in remote.values() for r in group if personalization.campaign_of(r.message) is not None]
    rendered = personalization.renderer().render(personal) if personal else {}
    for recipient in personal:  # its message could not be made: held for an admin, the others go on
        if recipient.pk not in rendered:
            _dead_letter(claim, recipient, personalization.NotRendered("its message could not be rendered"))
            remote[recipient.domain].remove(recipient)
    remote = {domain: group for domain, group in remote.items() if group}
    not_started = []
    # The heartbeat keeps the lease however long the claim takes; this bound keeps
    # a claim behind slow domains from holding the rest of its recipients for long.
    deadline = time.monotonic() + settings.OUTBOUND_CLAIM_SECONDS
    lease_lost = False
    record = _Recorder(claim, report, failures)
    paused = []  # recipients of a provider that asked us to slow down: they wait for the pause's end
    for domain, group in remote.items():
        if lease_lost or time.monotonic() >= deadline:
            not_started += group
            continue
        if _paused_provider(claim, domain):
            paused += group
            continue
        try:
            outcomes = _guarded(
                claim, group, report,
                lambda group, domain=domain: _deliver_remote(
                    domain, group, signed, sender_domains, rendered, on_result=record
                ),
                before_dead_letter=record.flush,
            )  # fmt: skip
            record.add(outcomes)  # what the transport returned without reporting it
        except LeaseLost:
            lease_lost = True
        except ProviderThrottled:  # the rest of the group is not tried: the provider is paused now
            paused += [r for r in group if r.pk not in record.seen]
    if not lease_lost:
        try:
            record.flush()
        except LeaseLost:
            lease_lost = True
    if lease_lost:
        logger.warning("claim %s lost its lease (the worker was too slow); it sends nothing more", claim.token)
    _give_back(claim, not_started, report)
    _wait_for_pause(claim, paused, report)
    for recipients in failures.values():
        _notify_sender(recipients[0].message, recipients)
    refresh_message_statuses(r.message_id for r in claim.recipients)


class LeaseLost(Exception):
    """The reconciler took this claim back: another worker may be sending its recipients now."""


class ProviderThrottled(Exception):
    """A destination provider asked us to slow down: the claim stops sending it anything."""


def _provider_of(claim: Claim, domain: str) -> str:
    """The domain's provider as the claim knows it; one unknown at claim time is looked up now,
    outside any transaction (the transport is about to resolve its MX anyway, from the same cache)."""
    provider = claim.providers.get(domain)
    if provider is None:
        provider = claim.providers[domain] = provider_for_domain(domain)
    return provider


def _paused_provider(claim: Claim, domain: str) -> str | None:
    """The domain's provider if it is paused now (the claim's view, refreshed: another worker may have paused it)."""
    provider = _provider_of(claim, domain)
    if provider == Provider.OTHER:
        return None
    now = timezone.now()
    backoff = claim.backoffs.get(provider)
    if backoff is None or backoff.until <= now:
        backoff = ProviderBackoff.objects.filter(provider=provider, until__gt=now).first()
        if backoff is None:
            claim.backoffs.pop(provider, None)
            return None
        claim.backoffs[provider] = backoff
    return provider


def _wait_for_pause(claim: Claim, recipients: list[Recipient], report: RunReport) -> None:
    """Recipients not tried because their provider is paused: due again when the pause ends, with a deferred
    event saying why."""
    if not recipients:
        return
    with transaction.atomic():
        held = Recipient.objects.select_for_update().filter(
            any_of("pk", [r.pk for r in recipients]), status=Recipient.Status.SENDING, lease_token=claim.token
        )
        for recipient in held:
            provider = _provider_of(claim, recipient.domain)
            backoff = claim.backoffs.get(provider)
            if backoff is None:  # the pause was not recorded (cannot happen with our lease): try again shortly
                release_to_queue(recipient, now=timezone.now(), transport="engine", description="Not attempted.")
                report.deferred += 1
                report.given_back += 1
                continue
            recipient.lease_token, recipient.lease_expires_at, recipient.next_attempt_at = "", None, backoff.until
            recipient.save(update_fields=["lease_token", "lease_expires_at", "next_attempt_at", "updated_at"])
            record_delivery_event(
                recipient=recipient, event_type="deferred", transport="engine",
                description="Not attempted: " + shaping.backoff_description(provider, backoff),
                metadata={"provider_backoff": _backoff_metadata(provider, backoff)},
            )  # fmt: skip
            report.deferred += 1


def _backoff_metadata(provider: str, backoff: ProviderBackoff) -> dict:
    return {"provider": provider, "until": backoff.until.isoformat(), "strikes": backoff.strikes}


def _retry_rule(claim: Claim, recipient: Recipient, result: Result) -> tuple[str, "shaping.Rule | None"]:
    """The destination provider and the retry rule that decides this reply (None for most)."""
    if result.outcome == Outcome.SENT or result.smtp_code is None or recipient.domain in claim.hosted:
        return "", None
    if claim.retry_rules is None:
        claim.retry_rules = shaping.retry_rules()
    # Known by now (_paused_provider ran before the delivery); never a DNS lookup while recording.
    provider = claim.providers.get(recipient.domain) or shaping.known_providers([recipient.domain]).get(
        recipient.domain, Provider.OTHER
    )
    return provider, shaping.rule_for(claim.retry_rules, provider, result)


class _Recorder:
    """Records a claim's outcomes as they happen, every ``OUTBOUND_RECORD_EVERY`` SMTP transactions
    (``OUTBOUND_RECORD_EVERY_BULK`` for a claim of the bulk queue; default 1: each in its own transaction,
    before the next is sent); it is the transport's ``on_result``.

    A worker killed mid-claim has then recorded all it sent but the SMTP
    transactions it was in or had not recorded yet: those are what may be
    sent twice. An outcome that finds the lease gone (the worker was frozen
    past it and the reconciler took the claim back) stops the delivery: what
    is left belongs to whoever holds it now.
    """

    def __init__(self, claim: Claim, report: RunReport, failures: dict):
        self.claim, self.report, self.failures = claim, report, failures
        self.by_id = {r.pk: r for r in claim.recipients}
        bulk = all(r.queue == Recipient.Queue.BULK for r in claim.recipients)
        self.every = max(1, settings.OUTBOUND_RECORD_EVERY_BULK if bulk else settings.OUTBOUND_RECORD_EVERY)
        self.pending: list[tuple[Recipient, Result]] = []
        self.seen: set[int] = set()  # recipients whose outcome is pending or recorded

    def __call__(self, result: Result) -> None:
        recipient = self.by_id[result.recipient_id]
        with recipient_log_context(recipient):
            logger.info(
                "SMTP transaction for recipient %s with %s: %s",
                recipient.pk, result.remote_host or "no host", result.response,
            )  # fmt: skip
        self.add([(recipient, result)])
        provider, rule = _retry_rule(self.claim, recipient, result)
        if shaping.backs_off(rule, provider):  # recorded (the pause with it) before the claim stops
            self.flush()
            raise ProviderThrottled(provider)

    def add(self, outcomes: list[tuple[Recipient, Result]]) -> None:
        fresh = [(recipient, result) for recipient, result in outcomes if recipient.pk not in self.seen]
        self.seen.update(recipient.pk for recipient, _ in fresh)
        self.pending += fresh
        if len(self.pending) >= self.every:
            self.flush()

    def flush(self) -> None:
        outcomes, self.pending = self.pending, []
        if outcomes and not record_results(
            claim=self.claim, outcomes=outcomes, report=self.report, failures=self.failures
        ):
            raise LeaseLost(self.claim.token)


def _give_back(claim: Claim, recipients: list[Recipient], report: RunReport) -> None:
    """Recipients the claim had no time left for: due again at once, for any worker (as the reconciler does)."""
    if not recipients:
        return
    now = timezone.now()
    with transaction.atomic():
        held = Recipient.objects.select_for_update().filter(
            any_of("pk", [r.pk for r in recipients]), status=Recipient.Status.SENDING, lease_token=claim.token
        )
        for recipient in held:
            release_to_queue(
                recipient, now=now, transport="engine",
                description="Not attempted: the worker's claim ran short of time; trying again.",
            )  # fmt: skip
            report.deferred += 1
            report.given_back += 1


def _guarded(
    claim: Claim, group: list[Recipient], report: RunReport, deliver, *, before_dead_letter=None
) -> list[tuple[Recipient, Result]]:
    """Run one delivery; a crash dead-letters the group instead of losing it.

    ``before_dead_letter`` records the outcomes the transport reported before it
    crashed, so that only the recipients with none are dead-lettered.
    """
    try:
        results = deliver(group)
    except (LeaseLost, ProviderThrottled):
        raise
    except Exception as exc:
        logger.exception("delivery to %s crashed; dead-lettering its unrecorded recipients", group[0].domain)
        if before_dead_letter is not None:
            before_dead_letter()
        for recipient in group:
            report.failed += _dead_letter(claim, recipient, exc)
        return []
    by_id = {r.pk: r for r in group}
    return [(by_id[result.recipient_id], result) for result in results]


def _deliver_locally(recipient: Recipient) -> list[Result]:
    user = resolve_hosted_address(recipient.address)
    if user is None:
        return [Result(recipient.pk, Outcome.BOUNCED, 550, "5.1.1", "550 5.1.1 No such user here", remote_host="local")]
    message = recipient.message
    if personalization.campaign_of(message) is not None:  # the person's own copy, as it would arrive by SMTP
        raw = personalization.renderer().render([recipient])[recipient.pk]
        message, _ = store_message(raw=raw, status=Message.Status.RECEIVED, stream=message.stream)
    place_locally(user=user, message=message, received_at=recipient.message.created_at)  # with their mail rules
    Recipient.objects.filter(pk=recipient.pk).update(user=user)
    return [Result(recipient.pk, Outcome.SENT, 250, "2.0.0", "250 2.0.0 Delivered to the mailbox", remote_host="local")]


def _deliver_remote(
    domain: str,
    group: list[Recipient],
    signed: dict[int, bytes],
    sender_domains: dict[str, Domain | None],
    rendered: dict[int, bytes],
    on_result,
) -> list[Result]:
    """One SMTP transaction per recipient (each has its own VERP return path), signed once per message,
    or once per recipient for a campaign's (``rendered``: each recipient's own bytes, by recipient id)."""
    envelopes = []
    for recipient in group:
        message = recipient.message
        from_domain = split_address(message.from_address)[1].lower()
        if from_domain not in sender_domains:
            sender_domains[from_domain] = Domain.objects.filter(name=from_domain).first()
        if recipient.pk in rendered:
            raw = dkim.sign(rendered.pop(recipient.pk), domain=sender_domains[from_domain])
        else:
            if message.pk not in signed:
                signed[message.pk] = dkim.sign(read_blob(message.blob), domain=sender_domains[from_domain])
            raw = signed[message.pk]
        envelopes.append(
            Envelope(
                recipient_id=recipient.pk,
                mail_from=verp.return_path(recipient_id=recipient.pk, domain=from_domain or settings.MAIL_HOSTNAME),
                rcpt_to=recipient.address,
                raw=raw,
            )
        )
    transport = simulator.transport_for(domain, get_transport())  # the mailbox simulator's domain stays here
    return transport.deliver(domain=domain, envelopes=envelopes, on_result=on_result)


# --- 3. record --------------------------------------------------------------------


def apply_result(*, claim: Claim, recipient: Recipient, result: Result) -> str | None:
    """Record one outcome if our lease still holds; returns the report field it counts under."""
    report = RunReport()
    record_results(claim=claim, outcomes=[(recipient, result)], report=report, failures=defaultdict(list))
    return next((name for name in report.__dataclass_fields__ if getattr(report, name)), None)


def record_results(
    *, claim: Claim, outcomes: list[tuple[Recipient, Result]], report: RunReport, failures: dict
) -> set[int]:
    """Record outcomes in one transaction, for the recipients whose lease we still hold; returns their ids.

    Set-based: one locking SELECT, one UPDATE per set of recipients whose new
    values are identical, one INSERT of all the events. A recipient whose lease
    we lost (the reconciler released it) is left alone. Bounced recipients are
    added to ``failures`` (message id -> recipients) for the sender's notice.
    """
    if not outcomes:
        return set()
    transport_name = get_transport().name
    now = timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql" and all(r.queue == Recipient.Queue.BULK for r, _ in outcomes):
            # Bulk outcomes commit without waiting for the WAL flush: a killed worker loses nothing
            # committed; only a PostgreSQL crash can lose the last instants of records, whose
            # recipients the reconciler then sends again (docs/RELIABILITY.md).
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        held = set(
            Recipient.objects.select_for_update()
            .filter(any_of("pk", [r.pk for r, _ in outcomes]), status=Recipient.Status.SENDING, lease_token=claim.token)
            .values_list("pk", flat=True)
        )
        events, hard_bounces, attempts = [], [], []
        updates: dict[int, dict] = {}
        host_unknown = {r.domain for r, result in outcomes if _is_host_unknown(result)}
        lasting_host_unknown = {d for d in host_unknown if host_unknown_for_long(domain=d, now=now)}
        recorded = []
        for recipient, result in outcomes:
            if recipient.pk not in held:
                with recipient_log_context(recipient):
                    logger.warning(
                        "lost the lease on recipient %s; its outcome (%s) is not recorded", recipient.pk, result.outcome
                    )
                continue
            provider, rule = _retry_rule(claim, recipient, result)
            if rule is not None:  # a throttling reply, or one a rule retries: deferred, whatever its code
                result = dataclasses.replace(result, outcome=Outcome.DEFERRED)
            counted, event_type, details, fields = _outcome(
                recipient, result, transport_name, now, retry_host_unknown=recipient.domain not in lasting_host_unknown
            )
            if rule is not None:
                deferred = event_type == "deferred"
                _apply_retry_rule(claim, provider, rule, result, details, fields, now, deferred=deferred)
            fields |= status_fields_for_event(
                recipient, event_type, description=details.get("description", ""), mta_response=result.response,
                smtp_code=result.smtp_code, enhanced_status=details["enhanced_status"],
                remote_host=details["remote_host"],
            )  # fmt: skip
            fields.setdefault("next_attempt_at", recipient.next_attempt_at)
            fields.setdefault("provider_message_id", recipient.provider_message_id)
            for name, value in fields.items():
                setattr(recipient, name, value)
            updates[recipient.pk] = fields
            event = new_delivery_event(recipient=recipient, event_type=event_type, **details)
            events.append(event)
            recorded.append((recipient, event_type, details))
            setattr(report, counted, getattr(report, counted) + 1)
            attempts.append((_ATTEMPT_OUTCOMES[counted], _provider_label(claim, recipient, result)))
            if event_type == "bounced":
                failures[recipient.message_id].append(recipient)
                if result.is_hard_bounce:
                    hard_bounces.append((recipient, result, event))
        _update_recipients(updates, now)
        insert_objects(events)
        events_recorded.send(sender=DeliveryEvent, events=events)
        metrics.count_attempts(attempts)
        for recipient, result, event in hard_bounces:
            suppress_after_bounce(
                address=recipient.address, domain=recipient.domain, enhanced_status=result.enhanced_status,
                detail=result.response, source=Suppression.Source.DELIVERY, source_event=event if event.pk else None,
                now=now,
            )  # fmt: skip
    _log_recorded(recorded)
    return held


# The report field an outcome is counted under, as webmail_delivery_attempts_total's outcome.
_ATTEMPT_OUTCOMES = {"sent": "sent", "delivered": "sent", "deferred": "deferred", "bounced": "bounced"}


def _provider_label(claim: Claim, recipient: Recipient, result: Result) -> str:
    """The attempt's destination provider ("local" for a hosted mailbox): never a DNS lookup while recording."""
    local = recipient.domain in claim.hosted or result.remote_host == "local"
    return metrics.provider_label(recipient.domain, local=local, known=claim.providers)


def _log_recorded(recorded: list[tuple[Recipient, str, dict]]) -> None:
    """After the commit (or the caller's savepoint): the outcome as stored, with the reply that decided it."""
    for recipient, event_type, details in recorded:
        with recipient_log_context(recipient):
            logger.info(
                "recorded %s for recipient %s of message %s (%s%s: %s)",
                event_type, recipient.pk, recipient.message_id, details["transport"],
                f" via {details['remote_host']}" if details.get("remote_host") else "",
                details.get("description") or details.get("mta_response") or "",
            )  # fmt: skip


def _apply_retry_rule(
    claim: Claim, provider: str, rule, result: Result, details: dict, fields: dict, now, *, deferred: bool
) -> None:
    """A throttling reply pauses its provider (the recipient waits for the pause's end); a "retry" rule sets
    that message's own delay. A message that expired meanwhile bounces as expired, but the pause holds."""
    if shaping.backs_off(rule, provider):
        backoff = claim.backoffs.get(provider)
        if backoff is None or backoff.until <= now:
            backoff = claim.backoffs[provider] = shaping.back_off(provider=provider, rule=rule, result=result, now=now)
        if not deferred:
            return
        fields["next_attempt_at"] = backoff.until
        details["description"] = shaping.backoff_description(provider, backoff, result)
        details["metadata"] = {"provider_backoff": _backoff_metadata(provider, backoff), "rule": rule.note}
    elif not deferred:
        return
    elif rule.backoff_seconds:
        fields["next_attempt_at"] = now + timedelta(seconds=rule.backoff_seconds)
        details["description"] = (
            f"Only this message waits ({rule.note or result.enhanced_status}): "
            f"next attempt at {fields['next_attempt_at']:%H:%M} UTC."
        )
        details["metadata"] = {"rule": rule.note}
    else:
        details["metadata"] = {"rule": rule.note}


# Fewer rows than this are updated by primary key (see _update_recipients).
RECORDSET_MIN_ROWS = 20


def _update_recipients(updates: dict[int, dict], now) -> None:
    """Write ``{pk: {field: value}}`` (every row naming the same fields) in as few statements as can be.

    PostgreSQL, many rows: one ``UPDATE … FROM jsonb_to_recordset(…)`` for them
    all, the rows in one JSON parameter (``core.bulk``). A few rows (an outcome
    recorded right after its SMTP transaction), or elsewhere (SQLite,
    in-process, where a statement costs no round trip): one UPDATE by primary
    key per set of rows with identical values. The planner cannot see how few
    rows a JSON parameter holds, and joins it to the whole table with a scan.
    """
    if not updates:
        return
    if connection.vendor != "postgresql" or len(updates) < RECORDSET_MIN_ROWS:
        groups: dict[tuple, list[int]] = defaultdict(list)
        for pk, fields in updates.items():
            groups[tuple(sorted(fields.items()))].append(pk)
        for values, pks in groups.items():
            Recipient.objects.filter(pk__in=pks).update(**dict(values), updated_at=now)
        return
    names = sorted(next(iter(updates.values())))
    fields = [Recipient._meta.get_field(name) for name in ["id", *names]]
    source, rows = recordset(fields, [{"id": pk, **values} for pk, values in updates.items()])
    quote = connection.ops.quote_name
    table, columns = quote(Recipient._meta.db_table), [quote(field.column) for field in fields]
    assignments = ", ".join(f"{column} = v.{column}" for column in columns[1:])
    # Only names from the model are formatted in; every value is a parameter.
    sql = (
        f"UPDATE {table} SET {assignments}, {quote('updated_at')} = %s "  # noqa: S608
        f"FROM {source} WHERE {table}.{columns[0]} = v.{columns[0]}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, rows])


def _is_host_unknown(result: Result) -> bool:
    """Our own DNS lookup found no such domain (not a remote server's reply)."""
    return result.outcome == Outcome.BOUNCED and result.enhanced_status == HOST_UNKNOWN and result.smtp_code is None


def _outcome(
    recipient: Recipient, result: Result, transport_name: str, now, *, retry_host_unknown: bool
) -> tuple[str, str, dict, dict]:
    """``(report field, event type, event details, extra Recipient fields)`` for one result."""
    transport = "local" if result.remote_host == "local" else transport_name
    if simulator.routes(recipient.domain):
        transport = simulator.TRANSPORT_NAME
    details = {
        "transport": transport,
        "mta_response": result.response,
        "smtp_code": result.smtp_code,
        "enhanced_status": result.enhanced_status,
        "remote_host": "" if transport == "local" else result.remote_host,
    }
    fields = {"lease_token": "", "lease_expires_at": None}
    if result.provider_message_id:
        fields["provider_message_id"] = result.provider_message_id[:255]
    if result.outcome == Outcome.SENT:
        event_type = "delivered" if transport == "local" else "sent"
        return event_type, event_type, details, fields
    details["reason"] = result.verdict.reason
    expired = recipient.expires_at is not None and now >= recipient.expires_at
    if retry_host_unknown and _is_host_unknown(result) and not expired:
        fields["next_attempt_at"] = now + backoff(recipient.attempts)
        details["description"] = (
            f"{recipient.domain} was not found in the DNS; that may pass, so it is tried again "
            f"(for up to {settings.OUTBOUND_HOST_UNKNOWN_RETRY_SECONDS // 3600} hours after the first such answer)."
        )
        return "deferred", "deferred", details, fields
    if result.outcome == Outcome.DEFERRED and not expired:
        fields["next_attempt_at"] = now + backoff(recipient.attempts)
        return "deferred", "deferred", details, fields
    if result.outcome == Outcome.DEFERRED:
        details["description"] = (
            f"Gave up after {recipient.attempts} attempts over "
            f"{settings.OUTBOUND_MAX_QUEUE_LIFETIME // 3600} hours; last error: {result.response}"
        )
        details["enhanced_status"] = "4.4.7"  # delivery time expired (RFC 3463)
        details["reason"] = Reason.EXPIRED  # whatever the last temporary failure was: never a hard bounce
        details["reject_reason"] = reject_reason_for(Reason.EXPIRED, hard=False)
        return "bounced", "bounced", details, fields
    details["reject_reason"] = reject_reason_for(result.verdict.reason, hard=result.is_hard_bounce)
    return "bounced", "bounced", details, fields


def backoff(attempts: int) -> timedelta:
    """Exponential backoff with jitter, as Postfix spaces its retries (300 s doubling up to 4000 s)."""
    base = settings.OUTBOUND_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1)
    seconds = min(base, settings.OUTBOUND_RETRY_MAX_SECONDS)
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))


def _dead_letter(claim: Claim, recipient: Recipient, exc: Exception) -> bool:
    """Hold a recipient for an admin, unless it was recorded already or is no longer ours."""
    with transaction.atomic():
        updated = Recipient.objects.filter(
            pk=recipient.pk, status=Recipient.Status.SENDING, lease_token=claim.token
        ).update(lease_token="", lease_expires_at=None)
        if updated:
            record_delivery_event(
                recipient=recipient, event_type="failed", transport="engine",
                description=f"Internal error, held for an admin to requeue: {exc.__class__.__name__}: {exc}",
            )  # fmt: skip
            provider = metrics.provider_label(
                recipient.domain, local=recipient.domain in claim.hosted, known=claim.providers
            )
            metrics.count_attempts([("failed", provider)])
    return bool(updated)


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
    refresh_message_statuses(r.message_id for r in requeued)
    from delivery.services.submission import dispatch_delivery

    for message_id in {r.message_id for r in requeued}:
        transaction.on_commit(lambda message_id=message_id: dispatch_delivery(message_id=message_id))
    return len(requeued)
