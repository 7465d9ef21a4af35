"""'Always show images from this sender', and taking it back."""

from django.utils.translation import gettext as _

from mailboxes.exceptions import UnverifiedSender
from mailboxes.images import image_policy
from mailboxes.models import MailboxItem, TrustedImageSender


def trust_image_sender(*, user, item: MailboxItem) -> TrustedImageSender:
    """Trust the From address of ``item`` (one of ``user``'s). Idempotent.

    Refused when the message's From is not authenticated or it is in Spam (``mailboxes.images``):
    the button is only offered where trust would count.
    """
    policy = image_policy(user=user, item=item)
    if not policy.can_trust:
        raise UnverifiedSender(
            _("Images can only be always shown for senders whose address is verified, and never for spam.")
        )
    found, _created = TrustedImageSender.objects.get_or_create(user=user, address=policy.address)
    return found


def untrust_image_sender(*, user, address: str) -> bool:
    """Stop always showing images from ``address``; True if it was trusted."""
    deleted, _count = TrustedImageSender.objects.filter(user=user, address=address.strip().lower()).delete()
    return bool(deleted)
