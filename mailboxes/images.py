"""Whether a message's remote images load without asking: "always show images from this sender".

A user's trust in a From address only counts for mail that really comes from it, because
anyone can write any From: a forger must not get a tracking pixel loaded by borrowing it.
So trusted images load for a received message only when

- it is not in Spam, and
- its From is authenticated: it was sent here by one of our own users (``Message.sender``),
  or it came in through the MX and passed DMARC (SPF or DKIM aligned with the From domain).

Otherwise the reader still gets "Show images" for that one message. See docs/HTML-MAIL.md.
"""

from dataclasses import dataclass

from inbound.models import InboundMessage
from mailboxes.models import Folder, MailboxItem, TrustedImageSender


@dataclass(frozen=True)
class ImagePolicy:
    address: str  # the From address, lower-case ("" without one)
    can_trust: bool  # "Always show images from …" may be offered: the From is authenticated
    trusted: bool  # the user trusts it, and it counts for this message: images load straight away


def authenticated_senders(message_ids) -> set[int]:
    """Of these received messages, those whose From passed DMARC when they came in through the MX."""
    rows = InboundMessage.objects.filter(message_id__in=list(message_ids)).values_list("message_id", "auth")
    return {mid for mid, auth in rows if isinstance(auth, dict) and (auth.get("dmarc") or {}).get("result") == "pass"}


def image_policies(*, user, items: list[MailboxItem]) -> dict[int, ImagePolicy]:
    """item id -> its ``ImagePolicy``, for items of ``user``'s (two queries for them all)."""
    received = [i for i in items if i.origin == MailboxItem.Origin.RECEIVED and i.message.from_address]
    if not received:
        return {}
    local = {i.message_id for i in received if i.message.sender_id is not None}
    passed = authenticated_senders(i.message_id for i in received if i.message_id not in local)
    addresses = {i.message.from_address.lower() for i in received}
    trusted = set(TrustedImageSender.objects.filter(user=user, address__in=addresses).values_list("address", flat=True))
    policies = {}
    for item in received:
        address = item.message.from_address.lower()
        can_trust = item.folder != Folder.SPAM and (item.message_id in local or item.message_id in passed)
        policies[item.pk] = ImagePolicy(address=address, can_trust=can_trust, trusted=can_trust and address in trusted)
    return policies


def image_policy(*, user, item: MailboxItem) -> ImagePolicy:
    return image_policies(user=user, items=[item]).get(item.pk) or ImagePolicy("", False, False)
