"""Parsing and normalising email addresses and domain names."""

import re
from email.utils import getaddresses

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from webmail.errors import UserError

_DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class InvalidAddress(UserError):
    code = "invalid_address"


class InvalidDomain(UserError):
    code = "invalid_domain"


def normalize_domain(name: str, *, field: str = "domain") -> str:
    """Lower-case ASCII (IDNA) form of a domain name, without a trailing dot."""
    value = (name or "").strip().rstrip(".").lower()
    try:
        ascii_name = value.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidDomain(_("%(name)r is not a valid domain name.") % {"name": name}, field=field) from exc
    labels = ascii_name.split(".")
    if len(labels) < 2 or len(ascii_name) > 253 or not all(_DOMAIN_LABEL.match(x) for x in labels):
        raise InvalidDomain(_("%(name)r is not a valid domain name.") % {"name": name}, field=field)
    return ascii_name


def normalize_address(address: str, *, field: str = "address") -> str:
    """Validated ``local@domain`` with the domain in lower-case ASCII.

    The local part keeps its case (remote servers may care); hosted lookups
    compare it case-insensitively.
    """
    value = (address or "").strip()
    if "\r" in value or "\n" in value:
        raise InvalidAddress(_("An address cannot contain line breaks."), field=field)
    local, sep, domain = value.rpartition("@")
    if not sep or not local:
        raise InvalidAddress(_("%(address)r is not an email address.") % {"address": address}, field=field)
    try:
        domain = normalize_domain(domain, field=field)
    except InvalidDomain as exc:  # the user typed an address: say so, not "invalid domain"
        raise InvalidAddress(
            _("%(address)r is not a valid email address.") % {"address": address}, field=field
        ) from exc
    candidate = f"{local}@{domain}"
    try:
        validate_email(candidate)
    except ValidationError as exc:
        raise InvalidAddress(
            _("%(address)r is not a valid email address.") % {"address": address}, field=field
        ) from exc
    return candidate


def split_address(address: str) -> tuple[str, str]:
    local, _, domain = address.rpartition("@")
    return local, domain


def parse_address_list(values, *, field: str) -> list[tuple[str, str]]:
    """``(display name, address)`` pairs from strings like ``"Bob <bob@x.org>, c@y.org"``.

    Accepts one string or a list of strings; each address is validated and an
    error names the offending entry and field.
    """
    if isinstance(values, str):
        values = [values]
    result = []
    for raw in values:
        if raw is None or not str(raw).strip():
            continue
        raw = str(raw)
        if "\r" in raw or "\n" in raw:
            raise InvalidAddress(_("An address cannot contain line breaks."), field=field)
        pairs = getaddresses([raw])
        if not pairs or any(not addr for _, addr in pairs):
            raise InvalidAddress(_("%(list)r is not a valid address list.") % {"list": raw}, field=field)
        for name, addr in pairs:
            # getaddresses quietly drops whitespace inside an address
            # ("bob@exa mple.org" -> "bob@example.org"): never send to an
            # address the user did not type.
            if addr not in raw:
                raise InvalidAddress(_("%(list)r is not a valid address list.") % {"list": raw}, field=field)
            result.append((name.strip(), normalize_address(addr, field=field)))
    return result
