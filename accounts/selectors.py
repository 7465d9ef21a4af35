"""Reads for accounts that resolve addresses to users."""

from accounts.addresses import split_address
from accounts.models import Address, Domain, User


def is_hosted_domain(domain_name: str) -> bool:
    return Domain.objects.filter(name=domain_name.lower(), is_active=True).exists()


def resolve_hosted_address(address: str) -> User | None:
    """The active user that mail to ``address`` belongs to, or None.

    Local parts match case-insensitively; ``user+tag@domain`` delivers to
    ``user@domain`` when no address ``user+tag`` exists (sub-addressing).
    """
    local, domain_name = split_address(address.strip())
    local = local.lower()
    candidates = [local]
    if "+" in local:
        candidates.append(local.split("+", 1)[0])
    rows = {
        row.local_part: row
        for row in Address.objects.select_related("user").filter(
            domain__name=domain_name.lower(),
            domain__is_active=True,
            local_part__in=candidates,
            user__is_active=True,
        )
    }
    for candidate in candidates:
        if candidate in rows:
            return rows[candidate].user
    return None


def addresses_of(user: User) -> list[str]:
    """Every address that belongs to ``user``, primary first."""
    rows = Address.objects.filter(user=user).select_related("domain").order_by("local_part")
    ordered = sorted(rows, key=lambda a: a.kind != Address.Kind.PRIMARY)
    return [a.email for a in ordered]


def api_tokens_of(user: User):
    """The user's API tokens, newest first (active and revoked), for their settings page."""
    return user.api_tokens.order_by("-created_at", "-pk")
