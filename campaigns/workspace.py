"""Whose templates, contacts and lists a user works with.

A workspace is a hosted domain: every marketer and service account whose
primary address is on ``shop.example`` shares the workspace of ``shop.example``.
Selectors scope every read by it, so another workspace's ids behave like ids
that do not exist.
"""

from accounts.addresses import split_address
from accounts.models import Domain
from accounts.roles import Role


def workspace_of(user) -> Domain | None:
    """The hosted domain of the user's primary address, or None (a user without one has no workspace)."""
    _, domain_name = split_address(user.primary_address)
    return Domain.objects.filter(name=domain_name.lower(), is_active=True).first()


def is_marketer(user) -> bool:
    """Marketers and admins use the marketing area; end users do not see it."""
    return user.is_authenticated and bool(user.roles & {Role.MARKETER, Role.ADMIN})
