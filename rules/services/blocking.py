"""Blocked senders: an address or a whole domain whose new mail goes straight to Trash."""

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.addresses import InvalidAddress, InvalidDomain, normalize_address, normalize_domain, split_address
from mailboxes.selectors import get_item_for_user
from rules.exceptions import InvalidSender
from rules.models import BlockedSender
from rules.selectors import get_blocked_sender_for_user


def parse_sender(value: str) -> tuple[str, str]:
    """``(kind, value)`` of what the user typed: ``someone@example.com``, or ``example.com`` / ``@example.com``."""
    text = (value or "").strip()
    try:
        if "@" in text.lstrip("@"):
            return BlockedSender.Kind.ADDRESS, normalize_address(text, field="sender").lower()
        return BlockedSender.Kind.DOMAIN, normalize_domain(text.lstrip("@"), field="sender")
    except (InvalidAddress, InvalidDomain) as exc:
        raise InvalidSender(
            _("%(text)r is neither an address (someone@example.com) nor a domain (example.com).") % {"text": text[:80]},
            field="sender",
        ) from exc


def block_sender(*, user, sender: str) -> BlockedSender:
    """Block an address or a domain (idempotent: blocking it again returns the first block)."""
    kind, value = parse_sender(sender)
    try:
        with transaction.atomic():
            return BlockedSender.objects.create(user=user, kind=kind, value=value)
    except IntegrityError:
        return BlockedSender.objects.get(user=user, kind=kind, value=value)


def block_sender_of_item(*, user, item_id, whole_domain: bool = False) -> BlockedSender:
    """Block the From address (or its domain) of one of the user's messages; another user's item is not found."""
    item = get_item_for_user(user=user, item_id=item_id)
    address = item.message.from_address
    if not address:
        raise InvalidSender(_("This message has no sender address to block."), field="sender")
    return block_sender(user=user, sender=split_address(address)[1] if whole_domain else address)


def unblock_sender(*, user, blocked_id) -> None:
    with transaction.atomic():
        get_blocked_sender_for_user(user=user, blocked_id=blocked_id).delete()


def is_blocked(address: str, *, addresses: set[str], domains: set[str]) -> bool:
    """Whether ``address`` is blocked by one of the addresses, or by a domain (its subdomains too)."""
    address = (address or "").strip().lower()
    if not address:
        return False
    if address in addresses:
        return True
    domain = split_address(address)[1]
    parts = domain.split(".")
    return any(".".join(parts[i:]) in domains for i in range(len(parts) - 1))
