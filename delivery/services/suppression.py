"""The suppression list: addresses that some mail must not be sent to, each entry in a scope.

Which entries bind a message depends on its stream (``Message.Stream``):

- personal: none. A person writing from the webmail or the API is warned at
  compose time (hard bounces) and the mail is tried anyway;
- transactional: GLOBAL entries, and the sender's workspace's STREAM entries
  for transactional mail. A receipt or a password reset is mail the person
  asked for by acting: leaving a newsletter (a LIST entry) or all marketing
  mail (a STREAM entry for bulk) says nothing about it, so it still arrives;
- bulk (marketing): GLOBAL entries, the workspace's STREAM entries for bulk
  mail, and the LIST entry of the message's list.

GLOBAL entries (hard bounces, complaints) bind every stream: a mailbox that
does not exist does not exist for receipts either, and mail to someone who
reported us as spam harms every sender's reputation, so nothing reaches them.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.lookups import any_of
from core.simulator import is_simulator_address
from delivery.models import SUPPRESSIBLE_STREAMS, DeliveryEvent, Suppression
from webmail.errors import UserError


class InvalidSuppressionScope(UserError):
    code = "invalid_suppression_scope"


# What the mail's own outcome adds: a mailbox simulator address is spared these (see suppress_address).
_AUTOMATIC_SOURCES = frozenset({Suppression.Source.DELIVERY, Suppression.Source.REPORT, Suppression.Source.ESP})

# RFC 3463 "bad destination system address": the domain did not resolve. A DNS
# blip says the same, so it only counts once it has lasted (``host_unknown_for_long``).
HOST_UNKNOWN = "5.1.2"


def suppress_address(
    *,
    address: str,
    reason: str,
    detail: str = "",
    source: str = Suppression.Source.ADMIN,
    source_event: DeliveryEvent | None = None,
    now: datetime | None = None,
    scope: str = Suppression.Scope.GLOBAL,
    domain=None,
    stream: str = "",
    contact_list=None,
) -> Suppression | None:
    """Add ``address`` in a scope (GLOBAL unless told), or renew its entry there.

    STREAM needs the workspace ``domain`` and a ``stream`` (bulk or
    transactional); LIST needs the ``contact_list`` (its workspace is the
    list's). An active entry is kept as it is, except that a reason that never
    expires (complaint, unsubscribe, manual) replaces a bounce; an expired one
    is replaced. A bounce entry expires after ``SUPPRESSION_BOUNCE_DAYS``.

    A mailbox simulator address is never suppressed by what its mail did
    (a bounce, a complaint): it must keep answering the same way (returns None).
    """
    if source in _AUTOMATIC_SOURCES and is_simulator_address(address):
        return None
    now = now or timezone.now()
    key = {"address": address.strip().lower(), **_scope_key(scope, domain, stream, contact_list)}
    fields = {
        "reason": reason,
        "source": source,
        "detail": detail[:2000],
        "source_event": source_event,
        "created_at": now,
        "expires_at": _expiry(reason, now),
    }
    with transaction.atomic():
        entry, created = Suppression.objects.select_for_update().get_or_create(**key, defaults=fields)
        if created:
            return entry
        outlasts = entry.expires_at is not None and fields["expires_at"] is None
        if _is_active(entry, now) and not outlasts:
            return entry
        for name, value in fields.items():
            setattr(entry, name, value)
        entry.save(update_fields=list(fields))
    return entry


def _scope_key(scope: str, domain, stream: str, contact_list) -> dict:
    """The lookup naming one entry of a scope; refuses a scope without what it needs."""
    if scope == Suppression.Scope.GLOBAL:
        return {"scope": scope, "domain": None, "stream": "", "contact_list": None}
    if scope == Suppression.Scope.STREAM:
        if domain is None or stream not in SUPPRESSIBLE_STREAMS:
            raise InvalidSuppressionScope("A stream entry needs a workspace and a stream.", field="stream")
        return {"scope": scope, "domain": domain, "stream": stream, "contact_list": None}
    if scope == Suppression.Scope.LIST:
        if contact_list is None:
            raise InvalidSuppressionScope("A list entry needs a list.", field="contact_list")
        return {"scope": scope, "domain_id": contact_list.domain_id, "stream": "", "contact_list": contact_list}
    raise InvalidSuppressionScope(f"Unknown scope {scope!r}.", field="scope")


def _expiry(reason: str, now: datetime) -> datetime | None:
    if reason != Suppression.Reason.HARD_BOUNCE or not settings.SUPPRESSION_BOUNCE_DAYS:
        return None
    return now + timedelta(days=settings.SUPPRESSION_BOUNCE_DAYS)


def _is_active(entry: Suppression, now: datetime) -> bool:
    return entry.expires_at is None or entry.expires_at > now


def remove_suppression(
    *, address: str, scope: str = Suppression.Scope.GLOBAL, domain=None, stream: str = "", contact_list=None
) -> bool:
    """Remove ``address``'s entry in one scope (GLOBAL unless told); whether there was one."""
    key = _scope_key(scope, domain, stream, contact_list)
    deleted, _ = Suppression.objects.filter(address=address.strip().lower(), **key).delete()
    return bool(deleted)


def remove_suppression_entries(*, entry_ids: Iterable[int]) -> int:
    """Remove entries by id (an admin's choice, made on a page that showed them); how many were removed."""
    deleted, _ = Suppression.objects.filter(pk__in=list(entry_ids)).delete()
    return deleted


def _active(now: datetime | None) -> Q:
    return Q(expires_at__isnull=True) | Q(expires_at__gt=now or timezone.now())


def suppressed_among(addresses, *, now: datetime | None = None) -> dict[str, Suppression]:
    """``{lower-case address: GLOBAL entry}`` for those of ``addresses`` suppressed for all mail, in one query."""
    wanted = {a.lower() for a in addresses}
    if not wanted:
        return {}
    entries = Suppression.objects.filter(any_of("address", wanted), scope=Suppression.Scope.GLOBAL).filter(_active(now))
    return {s.address: s for s in entries}


@dataclass(frozen=True)
class Sending:
    """One recipient of a message, as far as suppression goes: who, which stream, for which workspace and list."""

    address: str
    stream: str
    domain_id: int | None = None
    contact_list_id: int | None = None


_REFUSAL_FIELDS = (
    "address", "scope", "domain_id", "stream", "contact_list_id", "reason", "source", "detail", "created_at",
    "expires_at",
)  # fmt: skip


def refusing_entries(sendings: Iterable[Sending], *, now: datetime | None = None) -> dict[Sending, Suppression]:
    """``{sending: the entry that refuses it}`` for those of ``sendings`` that must not be sent, in one query.

    The engine calls this once per claim (up to hundreds of recipients, of any
    messages): one SELECT for the addresses, with the scopes any of them could
    be bound by, then each sending picks its own. When several entries apply,
    the widest scope is the one reported.
    """
    bound = [s for s in sendings if s.stream in SUPPRESSIBLE_STREAMS]
    if not bound:
        return {}
    domains = {s.domain_id for s in bound if s.domain_id is not None}
    lists = {s.contact_list_id for s in bound if s.stream == "bulk" and s.contact_list_id is not None}
    in_scope = Q(scope=Suppression.Scope.GLOBAL)
    if domains:
        in_scope |= Q(scope=Suppression.Scope.STREAM) & any_of("domain_id", domains)
    if lists:
        in_scope |= Q(scope=Suppression.Scope.LIST) & any_of("contact_list_id", lists)
    entries = (
        Suppression.objects.filter(any_of("address", {s.address.lower() for s in bound}))
        .filter(in_scope)
        .filter(_active(now))
        # Only what deciding and describing a refusal reads (a domain row carries its DKIM key).
        .select_related("domain", "contact_list")
        .only(*_REFUSAL_FIELDS, "domain__name", "contact_list__name")
        .order_by()
    )
    by_key: dict[tuple, Suppression] = {}
    for entry in entries:  # a LIST entry is found by its list alone (its domain is the list's)
        domain_id = None if entry.scope == Suppression.Scope.LIST else entry.domain_id
        by_key[(entry.address, entry.scope, domain_id, entry.stream, entry.contact_list_id)] = entry
    refused = {}
    for sending in bound:
        address = sending.address.lower()
        keys = [(address, Suppression.Scope.GLOBAL, None, "", None)]
        if sending.domain_id is not None:
            keys.append((address, Suppression.Scope.STREAM, sending.domain_id, sending.stream, None))
        if sending.stream == "bulk" and sending.contact_list_id is not None:
            keys.append((address, Suppression.Scope.LIST, None, "", sending.contact_list_id))
        entry = next((by_key[k] for k in keys if k in by_key), None)
        if entry is not None:
            refused[sending] = entry
    return refused


def host_unknown_for_long(*, domain: str, now: datetime) -> bool:
    """Whether ``domain`` answered "host unknown" already ``OUTBOUND_HOST_UNKNOWN_RETRY_SECONDS`` ago.

    Before that, a host-unknown is treated as temporary (retried, nothing
    suppressed): one NXDOMAIN may be a DNS blip. Any recipient at the domain
    counts, since the failure is the domain's.
    """
    since = now - timedelta(seconds=settings.OUTBOUND_HOST_UNKNOWN_RETRY_SECONDS)
    return DeliveryEvent.objects.filter(
        recipient__domain=domain.lower(), metadata__enhanced_status=HOST_UNKNOWN, timestamp__lte=since
    ).exists()


def suppress_after_bounce(
    *, address: str, domain: str, enhanced_status: str, detail: str, source: str, source_event, now: datetime
) -> Suppression | None:
    """Suppress after a recipient's permanent address failure (5.1.x), unless it may be a DNS blip.

    A mailbox the recipient's server says does not exist (5.1.1 and kin) is
    suppressed at once; a domain that did not resolve (5.1.2) only once it has
    not resolved for a while (``host_unknown_for_long``).
    """
    if enhanced_status == HOST_UNKNOWN and not host_unknown_for_long(domain=domain, now=now):
        return None
    return suppress_address(
        address=address, reason=Suppression.Reason.HARD_BOUNCE, detail=detail, source=source,
        source_event=source_event, now=now,
    )  # fmt: skip


@dataclass(frozen=True)
class BounceWarning:
    address: str
    bounced_at: datetime
    detail: str


def bounce_warnings(addresses, *, now: datetime | None = None) -> list[BounceWarning]:
    """What a person writing to ``addresses`` is told: which of them bounced hard, when, and why.

    Only GLOBAL bounces: that someone complained about, or unsubscribed from,
    other senders' mail is theirs, not for every writer to see.
    """
    entries = suppressed_among(addresses, now=now)
    return [
        BounceWarning(address=entry.address, bounced_at=entry.created_at, detail=entry.detail)
        for entry in sorted(entries.values(), key=lambda e: e.address)
        if entry.reason == Suppression.Reason.HARD_BOUNCE
    ]


def _scope_target(entry: Suppression) -> str:
    if entry.scope == Suppression.Scope.LIST:
        return f"the list {entry.contact_list.name if entry.contact_list else '(deleted)'}"
    if entry.scope == Suppression.Scope.STREAM:
        kind = "marketing" if entry.stream == "bulk" else "transactional"
        return f"all {kind} mail from {entry.domain.name if entry.domain else '(deleted)'}"
    return "all mail"


def scope_phrase(entry: Suppression) -> str:
    """What refused the mail: "unsubscribed from the list Newsletter", "is suppressed for all mail"."""
    if entry.reason == Suppression.Reason.UNSUBSCRIBE:
        return f"unsubscribed from {_scope_target(entry)}"
    return f"is suppressed for {_scope_target(entry)}"


def scope_summary(entry: Suppression) -> str:
    """The scope and reason in a few words: "suppressed for all mail: hard bounce"."""
    if entry.reason == Suppression.Reason.UNSUBSCRIBE:
        return f"unsubscribed from {_scope_target(entry)}"
    return f"suppressed for {_scope_target(entry)}: {entry.get_reason_display().lower()}"


def describe(entry: Suppression) -> dict:
    """The entry as kept with a refused recipient's event (the entry itself may change or expire later)."""
    return {
        "reason": entry.reason,
        "reason_display": entry.get_reason_display(),
        "scope": entry.scope,
        "summary": scope_summary(entry),
        "since": entry.created_at.isoformat(),
        "source": entry.source,
        "detail": entry.detail[:300],
    }


def refusals_of(recipient_ids) -> dict[int, dict]:
    """``{recipient id: {"reason": …, "since": datetime, "detail": …}}``: why each refused recipient was refused.

    Read from the refusal's event, as the list stood then (the entry may have changed or expired since).
    """
    events = DeliveryEvent.objects.filter(any_of("recipient_id", set(recipient_ids)), event_type="rejected")
    refusals = {}
    for recipient_id, metadata in events.order_by("timestamp", "pk").values_list("recipient_id", "metadata"):
        entry = metadata.get("suppression")
        if entry:
            refusals[recipient_id] = {**entry, "since": parse_datetime(entry["since"])}
    return refusals
