"""The users a maintenance command works on: those named by address, or every user."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from accounts.selectors import resolve_hosted_address


def users_named(addresses):
    """The users of ``addresses`` (all must exist), or every user in id order when none are given."""
    if not addresses:
        return get_user_model().objects.order_by("pk").iterator()
    users = [resolve_hosted_address(address) for address in addresses]
    unknown = [address for address, user in zip(addresses, users, strict=True) if user is None]
    if unknown:
        raise CommandError(f"No such user: {', '.join(unknown)}")
    return users
