"""Writes for accounts: domains, users, addresses, roles."""

import hashlib
import secrets
import unicodedata
import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.addresses import InvalidAddress, normalize_address, normalize_domain, split_address
from accounts.dkim import (
    ed25519_public_key_base64,
    generate_ed25519_private_key,
    generate_private_key_pem,
    public_key_base64,
)
from accounts.domain_verification import new_token
from accounts.models import Address, ApiToken, Domain, Preferences, RetiredDkimKey, User
from accounts.roles import MARKETERS_GROUP
from core.simulator import is_simulator_domain
from webmail.errors import Conflict, NotFound, UserError


class DomainExists(Conflict):
    code = "domain_exists"


class DomainNotHosted(UserError):
    code = "domain_not_hosted"


class AddressTaken(Conflict):
    code = "address_taken"


def ensure_dkim_key(*, domain_name: str, ed25519: bool = False) -> tuple[Domain, bool]:
    """The hosted domain, with a DKIM key made for it unless it has one; and whether a key was made.

    With ``ed25519`` the domain also gets an Ed25519 key (RFC 8463) beside its RSA one, under a selector
    of its own: its mail is then signed with both, since many receivers still verify RSA only.
    """
    name = normalize_domain(domain_name)
    with transaction.atomic():
        domain = Domain.objects.select_for_update().filter(name=name).first()
        if domain is None:
            raise DomainNotHosted(f"{name} is not a hosted domain.", field="domain")
        now = timezone.now()
        changed = []
        if not domain.dkim_private_key:
            domain.dkim_private_key = generate_private_key_pem()
            domain.dkim_selector = f"mail{now:%Y%m}"
            domain.dkim_created_at = now
            changed += ["dkim_private_key", "dkim_selector", "dkim_created_at"]
        if ed25519 and not domain.dkim_ed25519_private_key:
            domain.dkim_ed25519_private_key = generate_ed25519_private_key()
            domain.dkim_ed25519_selector = f"ed{now:%Y%m}"
            domain.dkim_ed25519_created_at = now
            changed += ["dkim_ed25519_private_key", "dkim_ed25519_selector", "dkim_ed25519_created_at"]
        if changed:
            domain.save(update_fields=changed)
    return domain, bool(changed)


def _free_selector(domain: Domain, base: str) -> str:
    """``base``, or ``base-2``, ``base-3`` … when a current or retired key of the domain has it already."""
    taken = {domain.dkim_selector, domain.dkim_ed25519_selector}
    taken |= set(domain.retired_dkim_keys.values_list("selector", flat=True))
    selector, n = base, 1
    while selector in taken:
        n += 1
        selector = f"{base}-{n}"
    return selector


def rotate_dkim_key(*, domain_name: str, ed25519: bool = False, now=None) -> tuple[Domain, list[RetiredDkimKey]]:
    """New DKIM key(s) under new selectors sign the domain's mail from now on; the replaced ones are kept
    (public half only) to be published until ``DKIM_RETIRED_KEY_PUBLISH_SECONDS`` from now.

    Signing happens at each delivery attempt (``delivery.dkim.sign`` in the engine), so nothing still in
    our queue carries the old signature after this; what does is mail already handed to other servers,
    which may hold it in their queues (relays, forwarders) and verify it later. Each key the domain has is
    rotated (the Ed25519 one too); ``ed25519`` adds one if it has none. A domain without a key gets one.
    """
    name = normalize_domain(domain_name)
    now = now or timezone.now()
    publish_until = now + timedelta(seconds=settings.DKIM_RETIRED_KEY_PUBLISH_SECONDS)
    retired = []
    with transaction.atomic():
        domain = Domain.objects.select_for_update().filter(name=name).first()
        if domain is None:
            raise DomainNotHosted(f"{name} is not a hosted domain.", field="domain")
        if domain.dkim_private_key:
            retired.append(
                RetiredDkimKey.objects.create(
                    domain=domain, algorithm=RetiredDkimKey.Algorithm.RSA, selector=domain.dkim_selector,
                    public_key=public_key_base64(domain.dkim_private_key), created_at=domain.dkim_created_at,
                    retired_at=now, publish_until=publish_until,
                )
            )  # fmt: skip
        if domain.dkim_ed25519_private_key:
            retired.append(
                RetiredDkimKey.objects.create(
                    domain=domain, algorithm=RetiredDkimKey.Algorithm.ED25519, selector=domain.dkim_ed25519_selector,
                    public_key=ed25519_public_key_base64(domain.dkim_ed25519_private_key),
                    created_at=domain.dkim_ed25519_created_at, retired_at=now, publish_until=publish_until,
                )
            )  # fmt: skip
        domain.dkim_private_key = generate_private_key_pem()
        domain.dkim_selector = _free_selector(domain, f"mail{now:%Y%m%d}")
        domain.dkim_created_at = now
        changed = ["dkim_private_key", "dkim_selector", "dkim_created_at"]
        if ed25519 or domain.dkim_ed25519_private_key:
            domain.dkim_ed25519_private_key = generate_ed25519_private_key()
            domain.dkim_ed25519_selector = _free_selector(domain, f"ed{now:%Y%m%d}")
            domain.dkim_ed25519_created_at = now
            changed += ["dkim_ed25519_private_key", "dkim_ed25519_selector", "dkim_ed25519_created_at"]
        domain.save(update_fields=changed)
    return domain, retired


class DomainReserved(UserError):
    code = "domain_reserved"


def check_hostable(domain_name: str, *, field: str = "domain") -> None:
    """Refuse a domain that may not be hosted: the mailbox simulator's (its mail must reach the simulator)."""
    if is_simulator_domain(domain_name):
        raise DomainReserved(f"{domain_name} is reserved for the mailbox simulator and cannot be hosted.", field=field)


def create_domain(*, name: str) -> Domain:
    domain_name = normalize_domain(name)
    check_hostable(domain_name)
    try:
        with transaction.atomic():
            return Domain.objects.create(name=domain_name, verification_token=new_token())
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
    _refuse_subaddress(local)
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
                group, _created = Group.objects.get_or_create(name=MARKETERS_GROUP)
                user.groups.add(group)
    except IntegrityError as exc:
        raise AddressTaken(
            _("The address %(address)s is already in use.") % {"address": email}, field="address"
        ) from exc
    return user


def _refuse_subaddress(local: str) -> None:
    if "+" in local:
        raise InvalidAddress(
            _("A mailbox address cannot contain '+': it is reserved for sub-addressing."), field="address"
        )


def add_alias(*, user: User, address: str) -> Address:
    email = normalize_address(address)
    local, domain = _hosted_domain_for(email, field="address")
    # "bob+bank@" belongs to bob by sub-addressing; an alias must not take it over.
    _refuse_subaddress(local)
    try:
        with transaction.atomic():
            return Address.objects.create(user=user, domain=domain, local_part=local, kind=Address.Kind.ALIAS)
    except IntegrityError as exc:
        raise AddressTaken(
            _("The address %(address)s is already in use.") % {"address": f"{local}@{domain.name}"}, field="address"
        ) from exc


def _parse_pk(value) -> int | None:
    """An id from user input, or None: never ``int(1.5)``-style guesses, never a crash."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        return None
    return value


def remove_alias(*, user: User, address_id: int) -> None:
    pk = _parse_pk(address_id)
    if pk is None:
        raise NotFound(_("No such alias."))
    deleted, _count = Address.objects.filter(user=user, pk=pk, kind=Address.Kind.ALIAS).delete()
    if not deleted:
        raise NotFound(_("No such alias."))


# --- API tokens ---------------------------------------------------------------

API_TOKEN_PREFIX = "wm_"  # noqa: S105 - a marker, not a secret
# last_used_at is a hint for the user, not an audit log: write it at most this often.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_api_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_api_token(*, user: User, name: str = "") -> tuple[ApiToken, str]:
    """A new token for ``user``: the row, and the token itself, which is never stored or shown again."""
    name = " ".join((name or "").split())
    if len(name) > 100:
        raise UserError(_("A token name has at most 100 characters."), field="name")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in name):  # PostgreSQL refuses NUL, and nobody types them
        raise UserError(_("A token name cannot contain control characters."), field="name")
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken.objects.create(user=user, name=name, prefix=token[:10], key_hash=hash_api_token(token))
    return record, token


def revoke_api_token(*, user: User, token_id) -> ApiToken:
    """Revoke one of the user's tokens; someone else's token is not found. Revoking twice is harmless."""
    pk = _parse_pk(token_id)
    record = ApiToken.objects.filter(user=user, pk=pk).first() if pk else None
    if record is None:
        raise NotFound(_("No such API token."))
    if record.revoked_at is None:
        ApiToken.objects.filter(pk=record.pk, revoked_at=None).update(revoked_at=timezone.now())
        record.refresh_from_db(fields=["revoked_at"])
    return record


def authenticate_api_token(token: str) -> ApiToken | None:
    """The active token (with its active user) that ``token`` is, or None; notes when it was used."""
    if not token.startswith(API_TOKEN_PREFIX) or len(token) > 200:
        return None
    record = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=hash_api_token(token), revoked_at=None, user__is_active=True)
        .first()
    )
    if record is None:
        return None
    now = timezone.now()
    if record.last_used_at is None or now - record.last_used_at > _LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=record.pk).update(last_used_at=now)
        record.last_used_at = now
    return record


# --- preferences (the General settings) ------------------------------------------------------------


class InvalidPreference(UserError):
    code = "invalid_preference"


def update_preferences(*, user: User, **values) -> Preferences:
    """Set some of the user's preferences (time_zone, language, density, reading_pane); an empty
    time zone or language means "the server's" / "the browser's"."""
    allowed = {
        "time_zone": None,
        "language": {"", *(code for code, _name in settings.LANGUAGES)},
        "density": set(Preferences.Density.values),
        "reading_pane": set(Preferences.ReadingPane.values),
    }
    unknown = set(values) - set(allowed)
    if unknown:
        raise InvalidPreference(
            _("No such preference: %(names)s.") % {"names": ", ".join(sorted(unknown))}, field=sorted(unknown)[0]
        )
    for field, value in values.items():
        if field == "time_zone":
            if value and value not in zoneinfo.available_timezones():
                raise InvalidPreference(_("Choose a time zone from the list."), field=field)
        elif value not in allowed[field]:
            raise InvalidPreference(_("Choose one of the options."), field=field)
    with transaction.atomic():
        preferences, _created = Preferences.objects.select_for_update().get_or_create(user=user)
        for field, value in values.items():
            setattr(preferences, field, value)
        preferences.save(update_fields=[*values, "updated_at"])
    # The request's user keeps its cached row: the middleware of this request already read it.
    user.preferences = preferences
    return preferences
