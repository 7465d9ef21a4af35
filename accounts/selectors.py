"""Reads for accounts that resolve addresses to users."""

from collections.abc import Iterable

from django.utils import timezone

from accounts.addresses import split_address
from accounts.models import Address, Domain, RetiredDkimKey, User


def is_hosted_domain(domain_name: str) -> bool:
    return Domain.objects.filter(name=domain_name.lower(), is_active=True).exists()


def resolve_hosted_address(address: str) -> User | None:
    """The active user that mail to ``address`` belongs to, or None.

    Local parts match case-insensitively; ``user+tag@domain`` delivers to
    ``user@domain`` when no address ``user+tag`` exists (sub-addressing).
    """
    return resolve_hosted_addresses([address])[address]


def resolve_hosted_addresses(addresses: Iterable[str]) -> dict[str, User | None]:
    """``resolve_hosted_address`` of each address, in one query for them all."""
    candidates = {}  # address -> [(local part, domain)], the exact one first
    for address in addresses:
        local, domain_name = split_address(address.strip())
        local, domain_name = local.lower(), domain_name.lower()
        candidates[address] = [(local, domain_name)]
        if "+" in local:
            candidates[address].append((local.split("+", 1)[0], domain_name))
    wanted = {pair for pairs in candidates.values() for pair in pairs}
    rows = Address.objects.select_related("user", "domain").filter(
        domain__name__in={domain for _, domain in wanted},
        domain__is_active=True,
        local_part__in={local for local, _ in wanted},
        user__is_active=True,
    )
    users = {(row.local_part, row.domain.name): row.user for row in rows} if wanted else {}
    return {
        address: next((users[pair] for pair in pairs if pair in users), None) for address, pairs in candidates.items()
    }


def addresses_of(user: User) -> list[str]:
    """Every address that belongs to ``user``, primary first."""
    rows = Address.objects.filter(user=user).select_related("domain").order_by("local_part")
    ordered = sorted(rows, key=lambda a: a.kind != Address.Kind.PRIMARY)
    return [a.email for a in ordered]


def api_tokens_of(user: User):
    """The user's API tokens, newest first (active and revoked), for their settings page."""
    return user.api_tokens.order_by("-created_at", "-pk")


def retired_dkim_keys_to_publish(domain: Domain, *, now=None) -> list[RetiredDkimKey]:
    """The domain's keys replaced by a rotation whose record must still be published at ``now``."""
    now = now or timezone.now()
    return list(domain.retired_dkim_keys.filter(publish_until__gt=now).order_by("-retired_at", "-pk"))
