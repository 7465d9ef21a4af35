"""Contacts, lists and memberships of a workspace, and the consent behind them.

Every function takes the workspace (a hosted ``Domain``) and looks ids up
within it, so another workspace's id is a ``NotFound`` like one that does not
exist. Leaving a list (unsubscribe, suppression) is ``campaigns.services.unsubscribe``'s;
here a marketer only adds people and takes them off a list.
"""

import math
import re
from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from accounts.addresses import normalize_address, split_address
from campaigns.models import Contact, ContactList, ListMembership
from campaigns.services.consent import opt_in, record_opt_in
from campaigns.services.double_opt_in import send_confirmations
from webmail.errors import Conflict, NotFound, UserError

# RFC 2142's mailbox names, and the role addresses lists commonly refuse: mail to them reaches
# a team or a robot, which never gave consent itself and complains the loudest.
ROLE_LOCAL_PARTS = frozenset(
    {
        # RFC 2142
        "info", "marketing", "sales", "support", "abuse", "noc", "security", "postmaster", "hostmaster",
        "usenet", "news", "webmaster", "www", "uucp", "ftp",
        # common ones
        "admin", "administrator", "root", "noreply", "no-reply", "no_reply", "donotreply", "do-not-reply",
        "mailer-daemon", "bounce", "bounces", "list", "list-request", "majordomo", "listserv", "help",
        "contact", "office", "billing", "enquiries", "inquiries", "hello", "team", "jobs", "careers",
        "privacy", "legal", "compliance", "spam", "sysadmin", "it", "dmarc",
    }
)  # fmt: skip

ATTRIBUTE_TYPES = ("string", "number", "boolean", "date")
_ATTRIBUTE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
_LOCALE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")
_UNSAFE = frozenset([chr(c) for c in range(32)] + ["\x7f", "\x85", "\u2028", "\u2029"])
MAX_ATTRIBUTES = 100
MAX_ATTRIBUTE_LENGTH = 2000
_TRUE = {"true", "yes", "y", "1", "on", "是"}
_FALSE = {"false", "no", "n", "0", "off", "否"}


class InvalidAttribute(UserError):
    code = "invalid_attribute"


class MissingConsent(UserError):
    code = "missing_consent"


# --- values ----------------------------------------------------------------------------


def normalize_contact_address(address: str, *, field: str = "address") -> str:
    """The validated address, all lower-case: a contact is one person whatever case a file used."""
    return normalize_address(address, field=field).lower()


def is_role_address(address: str) -> bool:
    local, _domain = split_address(address.lower())
    return local.split("+", 1)[0] in ROLE_LOCAL_PARTS


def clean_name(name: str, *, field: str = "name") -> str:
    value = (name or "").strip()
    # Names go into To: headers of mail: a line break there is header injection.
    if any(ch in _UNSAFE for ch in value):
        raise UserError(_("A name cannot contain line breaks or control characters."), field=field)
    if len(value) > Contact._meta.get_field("name").max_length:
        raise UserError(_("The name is too long."), field=field)
    return value


def clean_locale(locale: str, *, field: str = "locale") -> str:
    value = (locale or "").strip().lower().replace("_", "-")
    if value and (not _LOCALE.match(value) or len(value) > Contact._meta.get_field("locale").max_length):
        raise UserError(_("%(value)s is not a language tag such as en or zh-hans.") % {"value": locale}, field=field)
    return value


def parse_typed_value(kind: str, raw: str, *, field: str = "attributes"):
    """A form's or a CSV cell's text as the JSON value of an attribute of type ``kind``.

    Dates are kept as ISO 8601 strings (JSON has no date type), validated here.
    """
    text = (raw or "").strip()
    if kind == "string":
        return text
    if kind == "number":
        try:
            number = float(text.replace(",", "")) if any(c in text for c in ".eE") else int(text.replace(",", ""))
        except ValueError:
            raise InvalidAttribute(_("%(value)s is not a number.") % {"value": text}, field=field) from None
        if isinstance(number, float) and not math.isfinite(number):
            raise InvalidAttribute(_("%(value)s is not a number.") % {"value": text}, field=field)
        return number
    if kind == "boolean":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise InvalidAttribute(_("%(value)s is not yes or no.") % {"value": text}, field=field)
    if kind == "date":
        try:
            parsed = parse_datetime(text) if "T" in text or " " in text else parse_date(text)
        except ValueError:
            parsed = None
        if parsed is None:
            raise InvalidAttribute(_("%(value)s is not a date (YYYY-MM-DD).") % {"value": text}, field=field)
        return parsed.isoformat()
    raise InvalidAttribute(_("Unknown attribute type %(kind)s.") % {"kind": kind}, field=field)


def attribute_type(value) -> str:
    """The type an attribute's JSON value shows as (an ISO date string is a date)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str) and value and (parse_date(value) or _parses_as_datetime(value)):
        return "date"
    return "string"


def _parses_as_datetime(value: str) -> bool:
    try:
        return parse_datetime(value) is not None
    except ValueError:
        return False


def clean_attributes(attributes: dict | None, *, field: str = "attributes") -> dict:
    """Typed JSON a template can read: flat names to strings, numbers, booleans or ISO dates."""
    attributes = attributes or {}
    if not isinstance(attributes, dict):
        raise InvalidAttribute(_("Attributes must be names with values."), field=field)
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidAttribute(_("A contact can have at most %(n)d attributes.") % {"n": MAX_ATTRIBUTES}, field=field)
    cleaned = {}
    for name, value in attributes.items():
        if not isinstance(name, str) or not _ATTRIBUTE_NAME.match(name):
            message = _("%(name)s is not an attribute name: use lower-case letters, digits and _.") % {"name": name}
            raise InvalidAttribute(message, field=field)
        if isinstance(value, datetime | date):
            value = value.isoformat()
        if value is None or isinstance(value, bool):
            pass
        elif isinstance(value, int | float):
            if not math.isfinite(value):
                raise InvalidAttribute(_("%(name)s is not a finite number.") % {"name": name}, field=field)
        elif isinstance(value, str):
            if len(value) > MAX_ATTRIBUTE_LENGTH or any(ch in _UNSAFE - {"\n", "\t"} for ch in value):
                message = _("The value of %(name)s is too long or not text.") % {"name": name}
                raise InvalidAttribute(message, field=field)
        else:
            message = _("%(name)s must be a string, a number, a boolean or a date.") % {"name": name}
            raise InvalidAttribute(message, field=field)
        if value is not None:
            cleaned[name] = value
    return cleaned


def attribute_name_from_header(header: str) -> str:
    """``"Favourite Colour"`` → ``favourite_colour``: a CSV header as an attribute name."""
    name = re.sub(r"[^a-z0-9]+", "_", header.strip().lower()).strip("_")[:64]
    if not name:
        return ""
    return name if not name[0].isdigit() else f"_{name}"[:64]


# --- contacts --------------------------------------------------------------------------


def get_contact(*, workspace, contact_id) -> Contact:
    contact = Contact.objects.filter(domain=workspace, pk=contact_id).first()
    if contact is None:
        raise NotFound(_("No such contact."))
    return contact


def create_contact(
    *,
    workspace,
    address: str,
    name: str = "",
    locale: str = "",
    attributes: dict | None = None,
    consent_source: str = "",
    consent_ip: str | None = None,
    consent_user_agent: str = "",
    now: datetime | None = None,
) -> Contact:
    """A new contact; with a ``consent_source`` the person opted in (how, from where)."""
    now = now or timezone.now()
    contact = Contact(
        domain=workspace,
        address=normalize_contact_address(address),
        name=clean_name(name),
        locale=clean_locale(locale),
        attributes=clean_attributes(attributes),
        created_at=now,
        updated_at=now,
    )
    if consent_source:
        opt_in(contact, source=consent_source, ip=consent_ip, user_agent=consent_user_agent, now=now)
    try:
        with transaction.atomic():
            contact.save()
    except IntegrityError:
        raise Conflict(_("%(address)s is already a contact.") % {"address": contact.address}, field="address") from None
    return contact


def update_contact(
    *,
    workspace,
    contact_id,
    name: str,
    locale: str,
    attributes: dict,
    tracking_consent: bool | None = None,
    now: datetime | None = None,
) -> Contact:
    """Change a contact's details; ``tracking_consent`` None leaves it as it is."""
    contact = get_contact(workspace=workspace, contact_id=contact_id)
    contact.name, contact.locale = clean_name(name), clean_locale(locale)
    contact.attributes = clean_attributes(attributes)
    if tracking_consent is not None:
        contact.tracking_consent = tracking_consent
    contact.updated_at = now or timezone.now()
    contact.save(update_fields=["name", "locale", "attributes", "tracking_consent", "updated_at"])
    return contact


def erase_contact(*, workspace, contact_id) -> None:
    """GDPR erasure: the contact and its memberships are gone (suppression entries stay: they protect the person)."""
    contact = get_contact(workspace=workspace, contact_id=contact_id)
    with transaction.atomic():
        ListMembership.objects.filter(contact=contact).delete()
        contact.delete()


# --- lists -----------------------------------------------------------------------------


def get_list(*, workspace, list_id) -> ContactList:
    contact_list = ContactList.objects.filter(domain=workspace, pk=list_id).first()
    if contact_list is None:
        raise NotFound(_("No such list."))
    return contact_list


def _clean_list_name(name: str) -> str:
    value = clean_name(name, field="name")
    if not value:
        raise UserError(_("Give the list a name."), field="name")
    return value[: ContactList._meta.get_field("name").max_length]


def create_list(*, workspace, name: str, description: str = "", double_opt_in: bool = False) -> ContactList:
    contact_list = ContactList(
        domain=workspace, name=_clean_list_name(name), description=description.strip(), double_opt_in=double_opt_in
    )
    try:
        with transaction.atomic():
            contact_list.save()
    except IntegrityError:
        raise Conflict(_("A list with this name exists already."), field="name") from None
    return contact_list


def update_list(*, workspace, list_id, name: str, description: str, double_opt_in: bool) -> ContactList:
    contact_list = get_list(workspace=workspace, list_id=list_id)
    contact_list.name, contact_list.description = _clean_list_name(name), description.strip()
    contact_list.double_opt_in = double_opt_in
    try:
        with transaction.atomic():
            contact_list.save(update_fields=["name", "description", "double_opt_in"])
    except IntegrityError:
        raise Conflict(_("A list with this name exists already."), field="name") from None
    return contact_list


def delete_list(*, workspace, list_id) -> None:
    """The list and its memberships; the contacts stay."""
    get_list(workspace=workspace, list_id=list_id).delete()


def add_to_list(
    *,
    workspace,
    list_id,
    contact_id,
    added_by,
    source: str = "added by a marketer",
    consent_given: bool = False,
    now: datetime | None = None,
) -> ListMembership:
    """Put a contact on a list.

    On a double opt-in list the member starts pending and gets a confirmation
    mail (after commit). On another list the person must have agreed: either
    the contact opted in before, or ``consent_given`` records it now (source:
    the marketer's word). Someone who unsubscribed from the list or opted out
    is not put back by a marketer: only the person can resubscribe.
    """
    now = now or timezone.now()
    with transaction.atomic():
        contact_list = get_list(workspace=workspace, list_id=list_id)
        contact = Contact.objects.select_for_update().filter(domain=workspace, pk=contact_id).first()
        if contact is None:
            raise NotFound(_("No such contact."))
        membership = ListMembership.objects.filter(contact_list=contact_list, contact=contact).first()
        if membership is not None and membership.status != ListMembership.Status.UNSUBSCRIBED:
            return membership
        if (membership is not None and membership.status == ListMembership.Status.UNSUBSCRIBED) or (
            contact.consent == Contact.Consent.OPTED_OUT
        ):
            raise Conflict(_("%(address)s unsubscribed: only they can subscribe again.") % {"address": contact.address})
        if contact_list.double_opt_in:
            membership = ListMembership.objects.create(
                contact_list=contact_list, contact=contact, status=ListMembership.Status.PENDING, source=source,
                created_at=now, updated_at=now,
            )  # fmt: skip
            transaction.on_commit(lambda: send_confirmations(membership_ids=[membership.pk], added_by_id=added_by.pk))
            return membership
        if contact.consent != Contact.Consent.OPTED_IN:
            if not consent_given:
                raise MissingConsent(
                    _("%(address)s has not opted in: confirm that they agreed, or use a double opt-in list.")
                    % {"address": contact.address},
                    field="consent",
                )
            record_opt_in(contact=contact, source=source, now=now)
        return ListMembership.objects.create(
            contact_list=contact_list, contact=contact, status=ListMembership.Status.SUBSCRIBED, source=source,
            subscribed_at=now, created_at=now, updated_at=now,
        )  # fmt: skip


def add_address_to_list(
    *, workspace, list_id, address: str, name: str = "", added_by, consent_given: bool = False
) -> ListMembership:
    """``add_to_list`` by address: the contact is made first if the workspace has none with it."""
    normalized = normalize_contact_address(address)
    get_list(workspace=workspace, list_id=list_id)  # a foreign list is a 404 before anything is created
    contact = Contact.objects.filter(domain=workspace, address=normalized).first()
    if contact is None:
        try:
            contact = create_contact(workspace=workspace, address=normalized, name=name)
        except Conflict:  # created meanwhile by someone else
            contact = Contact.objects.get(domain=workspace, address=normalized)
    return add_to_list(
        workspace=workspace, list_id=list_id, contact_id=contact.pk, added_by=added_by, consent_given=consent_given
    )


def remove_from_list(*, workspace, list_id, contact_id) -> None:
    """A marketer takes someone off a list (not an unsubscribe: nothing is suppressed)."""
    contact_list = get_list(workspace=workspace, list_id=list_id)
    deleted, _count = ListMembership.objects.filter(contact_list=contact_list, contact_id=contact_id).delete()
    if not deleted:
        raise NotFound(_("This contact is not on the list."))
