"""The suppression list: addresses that bulk mail must not be sent to.

Only bulk streams are held to it (``Message.Stream``): a person writing from
the webmail or the API is warned at compose time and the mail is tried anyway.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.lookups import any_of
from delivery.models import DeliveryEvent, Suppression

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
) -> Suppression:
    """Add ``address``, or renew its entry.

    An active entry is kept as it is, except that a reason that never expires
    (complaint, unsubscribe, admin) replaces a bounce; an expired one is
    replaced. A bounce entry expires after ``SUPPRESSION_BOUNCE_DAYS``.
    """
    now = now or timezone.now()
    normalized = address.strip().lower()
    fields = {
        "reason": reason,
        "source": source,
        "detail": detail[:2000],
        "source_event": source_event,
        "created_at": now,
        "expires_at": _expiry(reason, now),
    }
    with transaction.atomic():
        entry, created = Suppression.objects.select_for_update().get_or_create(address=normalized, defaults=fields)
        if created:
            return entry
        outlasts = entry.expires_at is not None and fields["expires_at"] is None
        if _is_active(entry, now) and not outlasts:
            return entry
        for name, value in fields.items():
            setattr(entry, name, value)
        entry.save(update_fields=list(fields))
    return entry


def _expiry(reason: str, now: datetime) -> datetime | None:
    if reason != Suppression.Reason.HARD_BOUNCE or not settings.SUPPRESSION_BOUNCE_DAYS:
        return None
    return now + timedelta(days=settings.SUPPRESSION_BOUNCE_DAYS)


def _is_active(entry: Suppression, now: datetime) -> bool:
    return entry.expires_at is None or entry.expires_at > now


def remove_suppression(*, address: str) -> bool:
    deleted, _ = Suppression.objects.filter(address=address.strip().lower()).delete()
    return bool(deleted)


def suppressed_among(addresses, *, now: datetime | None = None) -> dict[str, Suppression]:
    """``{lower-case address: entry}`` for those of ``addresses`` on the list (not expired), in one query."""
    wanted = {a.lower() for a in addresses}
    if not wanted:
        return {}
    active = Q(expires_at__isnull=True) | Q(expires_at__gt=now or timezone.now())
    return {s.address: s for s in Suppression.objects.filter(any_of("address", wanted)).filter(active)}


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

    Only bounces: that someone complained about or unsubscribed from other
    senders' mail is theirs, not for every writer to see.
    """
    entries = suppressed_among(addresses, now=now)
    return [
        BounceWarning(address=entry.address, bounced_at=entry.created_at, detail=entry.detail)
        for entry in sorted(entries.values(), key=lambda e: e.address)
        if entry.reason == Suppression.Reason.HARD_BOUNCE
    ]


def describe(entry: Suppression) -> dict:
    """The entry as kept with a refused recipient's event (the entry itself may change or expire later)."""
    return {
        "reason": entry.reason,
        "reason_display": entry.get_reason_display(),
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
