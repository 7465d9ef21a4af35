"""Domain ownership: a DNS TXT token proves a hosted domain is ours before it may send out.

The token is published at ``_webmail-verify.<domain>`` (a name of its own, so it
neither crowds the apex's TXT records, where SPF lives, nor can be mistaken for
one of them) as ``webmail-verify=<token>``. Once it has been found the domain is
verified for good (``Domain.verified_at``); the status light turns amber if the
record disappears later, but sending goes on.

With ``DOMAIN_VERIFICATION_REQUIRED`` an unverified domain's mail is refused at
submission when any recipient is remote; mail between hosted users never needs
it (it does not leave the machine, so it cannot hurt anyone's reputation).
"""

import copy
import secrets
from dataclasses import dataclass, field
from datetime import datetime

import dns.exception
import dns.resolver
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.addresses import split_address
from accounts.models import Domain
from core.dns import get_resolver
from webmail.errors import UserError

RECORD_LABEL = "_webmail-verify"
TOKEN_PREFIX = "webmail-verify="  # noqa: S105 - the record's tag, not a secret


class DomainNotVerified(UserError):
    """The From domain has not proved it is ours, and the message would leave the machine."""

    code = "domain_not_verified"
    status = 403


def new_token() -> str:
    return secrets.token_urlsafe(24)


def ensure_verification_token(domain: Domain) -> str:
    """The domain's token, made now if it has none (domains older than verification, factories' rows)."""
    if not domain.verification_token:
        Domain.objects.filter(pk=domain.pk, verification_token="").update(verification_token=new_token())
        domain.verification_token = Domain.objects.values_list("verification_token", flat=True).get(pk=domain.pk)
    return domain.verification_token


def record_name(domain: Domain) -> str:
    return f"{RECORD_LABEL}.{domain.name}"


def expected_value(domain: Domain) -> str:
    return f"{TOKEN_PREFIX}{domain.verification_token}"


def verification_record(domain: Domain) -> str:
    """The zone-file line that proves ownership (the token must exist: ``ensure_verification_token``)."""
    return f'{record_name(domain)}.\t3600\tIN\tTXT\t"{expected_value(domain)}"'


@dataclass
class TokenLookup:
    found: bool  # the expected value is published
    values: list[str] = field(default_factory=list)  # every webmail-verify= value published there
    error: str = ""  # the lookup failed (SERVFAIL, timeout): nothing can be said


def fresh_resolver() -> dns.resolver.Resolver:
    """``core.dns``'s resolver without its answer cache: "Check now" must see a record published a minute
    ago, not the NXDOMAIN cached from the previous check."""
    resolver = copy.copy(get_resolver())  # shallow: the nameservers are shared, never changed
    resolver.cache = None
    return resolver


def txt_values(resolver: dns.resolver.Resolver, name: str) -> list[str]:
    """Each TXT record at ``name``, its strings joined (RFC 7208 §3.3); [] for no record; raises DNSException."""
    try:
        answer = resolver.resolve(name, "TXT", search=False, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return []
    rrset = answer.rrset or []
    return [b"".join(r.strings).decode("utf-8", "replace") for r in rrset]


def lookup_token(domain: Domain, *, resolver: dns.resolver.Resolver | None = None) -> TokenLookup:
    ensure_verification_token(domain)
    try:
        texts = txt_values(resolver or fresh_resolver(), record_name(domain))
    except dns.exception.DNSException as exc:
        return TokenLookup(found=False, error=f"DNS lookup failed: {exc.__class__.__name__}")
    values = [text.strip() for text in texts if text.strip().startswith(TOKEN_PREFIX)]
    return TokenLookup(found=expected_value(domain) in values, values=values)


def mark_verified(domain: Domain, *, now: datetime | None = None) -> bool:
    """Record that the token was found; True when this made the domain verified."""
    unverified = Domain.objects.filter(pk=domain.pk, verified_at__isnull=True)
    updated = unverified.update(verified_at=now or timezone.now())
    if updated:
        domain.refresh_from_db(fields=["verified_at"])
    return bool(updated)


def verify_domain(domain: Domain, *, now: datetime | None = None) -> TokenLookup:
    """Look the token up and mark the domain verified when it is published."""
    lookup = lookup_token(domain)
    if lookup.found:
        mark_verified(domain, now=now)
    return lookup


# --- enforcement --------------------------------------------------------------------


def sending_domain_unverified(domain: Domain | None) -> bool:
    return bool(settings.DOMAIN_VERIFICATION_REQUIRED and domain is not None and domain.verified_at is None)


def check_sending_domain(*, from_address: str, recipient_addresses: list[str]) -> None:
    """Refuse a submission from an unverified domain that has a remote recipient (``DomainNotVerified``)."""
    if not settings.DOMAIN_VERIFICATION_REQUIRED:
        return
    domain = Domain.objects.filter(name=split_address(from_address)[1].lower()).first()
    if not sending_domain_unverified(domain):
        return
    recipient_domains = {split_address(address)[1].lower() for address in recipient_addresses}
    hosted = set(Domain.objects.filter(name__in=recipient_domains).values_list("name", flat=True))
    remote = sorted(recipient_domains - hosted)
    if remote:
        raise DomainNotVerified(
            _(
                "%(domain)s has not been verified yet, so its mail cannot go to other domains (%(remote)s). "
                "Mail to addresses hosted here still works. An administrator publishes the domain's "
                "verification record and checks it in the admin (Domains) or with manage.py checkdomain."
            )
            % {"domain": domain.name, "remote": ", ".join(remote[:3]) + (", …" if len(remote) > 3 else "")},
            field="to",
        )


def unverified_problem(domain: Domain) -> str | None:
    """Why a campaign from ``domain`` cannot be scheduled (None: nothing to say)."""
    if not sending_domain_unverified(domain):
        return None
    return _(
        "%(domain)s has not been verified yet: publish its verification record (see the domain in the admin, "
        "or manage.py checkdomain %(domain)s) before sending a campaign from it."
    ) % {"domain": domain.name}
