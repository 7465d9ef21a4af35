"""Writes for accounts: domains, users, addresses, roles."""

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction

from accounts.addresses import InvalidAddress, normalize_address, normalize_domain, split_address
from accounts.models import Address, Domain, User
from accounts.roles import MARKETERS_GROUP
from webmail.errors import Conflict, NotFound, UserError


class DomainExists(Conflict):
    code = "domain_exists"


class DomainNotHosted(UserError):
    code = "domain_not_hosted"


class AddressTaken(Conflict):
    code = "address_taken"


def create_domain(*, name: str) -> Domain:
    domain_name = normalize_domain(name)
    try:
        with transaction.atomic():
            return Domain.objects.create(name=domain_name)
    except IntegrityError as exc:
        raise DomainExists(f"The domain {domain_name} is already hosted.", field="domain") from exc


def _hosted_domain_for(address: str, *, field: str) -> tuple[str, Domain]:
    local, domain_name = split_address(address)
    try:
        domain = Domain.objects.get(name=domain_name)
    except Domain.DoesNotExist as exc:
        raise DomainNotHosted(
            f"{domain_name} is not a hosted domain; create it first (manage.py createdomain {domain_name}).",
            field=field,
        ) from exc
    return local.lower(), domain


def create_mail_user(
    *,
    address: str,
    password: str | None,
    display_name: str = "",
    admin: bool = False,
    marketer: bool = False,
) -> User:
    """A user whose primary address (and login name) is ``address``.

    ``password=None`` makes an account that cannot sign in with a password
    (for services that use API tokens only).
    """
    email = normalize_address(address)
    local, domain = _hosted_domain_for(email, field="address")
    if "+" in local:
        raise InvalidAddress(
            "A mailbox address cannot contain '+': it is reserved for sub-addressing.", field="address"
        )
    email = f"{local}@{domain.name}"
    try:
        with transaction.atomic():
            user = User(
                username=email, email=email, display_name=display_name.strip(), is_staff=admin, is_superuser=admin
            )
            user.set_password(password) if password else user.set_unusable_password()
            user.save()
            Address.objects.create(user=user, domain=domain, local_part=local, kind=Address.Kind.PRIMARY)
            if marketer:
                group, _ = Group.objects.get_or_create(name=MARKETERS_GROUP)
                user.groups.add(group)
    except IntegrityError as exc:
        raise AddressTaken(f"The address {email} is already in use.", field="address") from exc
    return user


def add_alias(*, user: User, address: str) -> Address:
    email = normalize_address(address)
    local, domain = _hosted_domain_for(email, field="address")
    try:
        with transaction.atomic():
            return Address.objects.create(user=user, domain=domain, local_part=local, kind=Address.Kind.ALIAS)
    except IntegrityError as exc:
        raise AddressTaken(f"The address {local}@{domain.name} is already in use.", field="address") from exc


def remove_alias(*, user: User, address_id: int) -> None:
    deleted, _ = Address.objects.filter(user=user, pk=address_id, kind=Address.Kind.ALIAS).delete()
    if not deleted:
        raise NotFound("No such alias.")
