"""The suppression list: addresses that must not be sent to."""

from django.db import IntegrityError, transaction

from delivery.models import DeliveryEvent, Suppression
from webmail.lookups import any_of


def suppress_address(
    *, address: str, reason: str, detail: str = "", source_event: DeliveryEvent | None = None
) -> Suppression:
    """Add ``address`` (idempotent: an existing entry is kept as it is)."""
    normalized = address.strip().lower()
    try:
        with transaction.atomic():
            return Suppression.objects.create(
                address=normalized, reason=reason, detail=detail[:2000], source_event=source_event
            )
    except IntegrityError:
        return Suppression.objects.get(address=normalized)


def remove_suppression(*, address: str) -> bool:
    deleted, _ = Suppression.objects.filter(address=address.strip().lower()).delete()
    return bool(deleted)


def suppressed_among(addresses) -> dict[str, Suppression]:
    """``{lower-case address: entry}`` for those of ``addresses`` on the list, in one query."""
    wanted = {a.lower() for a in addresses}
    return {s.address: s for s in Suppression.objects.filter(any_of("address", wanted))}
