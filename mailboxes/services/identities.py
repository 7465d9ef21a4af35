"""Send-as identities: the user's own addresses, each with a display name and a signature."""

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.addresses import split_address
from accounts.models import Address
from mailboxes.models import Identity
from mailboxes.selectors import parse_pk
from webmail.errors import NotFound, UserError

MAX_NAME = 200
MAX_SIGNATURE = 2000
SIGNATURE_SEPARATOR = "-- \n"  # RFC 3676 §4.3: mail clients recognise (and may trim) what follows


class IdentityNotFound(NotFound):
    code = "identity_not_found"


class InvalidIdentity(UserError):
    code = "invalid_identity"


def identities_of(*, user) -> list[Identity]:
    """The user's identities, primary address first then aliases A→Z; rows are created the first time.

    Two queries when every address has its row (the usual case), three more the first time.
    """
    addresses = list(Address.objects.filter(user=user).select_related("domain"))
    rows = {i.address_id: i for i in Identity.objects.filter(user=user).select_related("address__domain")}
    missing = [a for a in addresses if a.pk not in rows]
    if missing:
        with transaction.atomic():
            Identity.objects.bulk_create([Identity(user=user, address=a) for a in missing], ignore_conflicts=True)
            rows = {i.address_id: i for i in Identity.objects.filter(user=user).select_related("address__domain")}
    identities = sorted(
        (rows[a.pk] for a in addresses if a.pk in rows),
        key=lambda i: (i.address.kind != Address.Kind.PRIMARY, i.address.domain.name, i.address.local_part),
    )
    return identities


def default_identity(identities: list[Identity]) -> Identity | None:
    """The one marked default, else the primary address's."""
    return next((i for i in identities if i.is_default), identities[0] if identities else None)


def identity_for_address(*, user, address: str) -> Identity | None:
    """The user's identity for ``address`` (case-insensitive), or None when it is not theirs."""
    local, domain = split_address((address or "").strip().lower())
    return (
        Identity.objects.select_related("address__domain")
        .filter(user=user, address__local_part=local, address__domain__name=domain)
        .first()
    )


def signature_block(signature: str) -> str:
    """The plain-text signature as compose inserts it: the ``-- `` separator line, then the signature."""
    signature = (signature or "").strip("\n")
    return f"{SIGNATURE_SEPARATOR}{signature}" if signature.strip() else ""


def update_identity(*, user, identity_id, display_name: str, signature: str, make_default: bool = False) -> Identity:
    """Change one of the user's identities; someone else's id is not found."""
    display_name = (display_name or "").strip()
    signature = (signature or "").replace("\r\n", "\n").rstrip()
    if len(display_name) > MAX_NAME:
        raise InvalidIdentity(_("A name can be at most %(max)d characters.") % {"max": MAX_NAME}, field="display_name")
    if any(ch in display_name for ch in "\r\n\x00"):
        raise InvalidIdentity(_("A name cannot contain line breaks."), field="display_name")
    if len(signature) > MAX_SIGNATURE:
        raise InvalidIdentity(
            _("A signature can be at most %(max)d characters.") % {"max": MAX_SIGNATURE}, field="signature"
        )
    identities_of(user=user)  # rows for addresses added since
    with transaction.atomic():
        identity = Identity.objects.select_for_update().filter(user=user, pk=parse_pk(identity_id)).first()
        if identity is None:
            raise IdentityNotFound(_("No such address."))
        identity.display_name, identity.signature = display_name, signature
        identity.save(update_fields=["display_name", "signature", "updated_at"])
        if make_default and not identity.is_default:
            set_default_identity(user=user, identity_id=identity.pk)
            identity.is_default = True
    return identity


def set_default_identity(*, user, identity_id) -> Identity:
    """Make one identity the default From of new messages (one default per user: a constraint)."""
    with transaction.atomic():
        identity = Identity.objects.select_for_update().filter(user=user, pk=parse_pk(identity_id)).first()
        if identity is None:
            raise IdentityNotFound(_("No such address."))
        Identity.objects.filter(user=user, is_default=True).exclude(pk=identity.pk).update(is_default=False)
        Identity.objects.filter(pk=identity.pk).update(is_default=True)
        identity.is_default = True
    return identity


def update_identities(*, user, changes: dict, default_id=None) -> list[Identity]:
    """Save the settings page: ``changes`` maps identity id → ``(display_name, signature)``; all or nothing."""
    with transaction.atomic():
        for identity_id, (display_name, signature) in changes.items():
            update_identity(user=user, identity_id=identity_id, display_name=display_name, signature=signature)
        if default_id:
            set_default_identity(user=user, identity_id=default_id)
    return identities_of(user=user)
