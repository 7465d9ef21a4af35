"""DNS status lights of a hosted domain: ownership token, MX, SPF, DKIM and DMARC, asked of the real resolver.

Each check says green (all is well), amber (works, but something is missing or
could not be asked) or red (receivers will reject or distrust the mail), what
DNS answered and the exact record to publish (the same lines as
``manage.py dkimkey``). ``run_checks`` stores the result on the domain
(``dns_status``, ``dns_checked_at``) so the admin's list shows the lights
without a DNS query; it also marks the domain verified when its token is found.
"""

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

import dns.exception
import dns.resolver
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone
from dkim.util import InvalidTagValueList, parse_tag_value

from accounts.dkim import dkim_keys, dkim_record, dmarc_record, mx_record, spf_record
from accounts.domain_verification import (
    ensure_verification_token,
    fresh_resolver,
    lookup_token,
    mark_verified,
    txt_values,
    verification_record,
)
from accounts.models import Domain, RetiredDkimKey
from inbound.auth import dmarc as dmarc_policy
from inbound.auth import spf
from inbound.auth.lookups import Lookups

# How many retired DKIM keys the panel lists (the most recent): older ones are long removable.
RETIRED_KEYS_SHOWN = 4


class Light(StrEnum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"


_RANK = {Light.GREEN: 0, Light.AMBER: 1, Light.RED: 2}
KINDS = ("ownership", "mx", "spf", "dkim", "dmarc")


@dataclass
class Check:
    kind: str  # one of KINDS
    label: str
    light: Light
    found: str  # what DNS answered, in short
    note: str  # what it means, what to do
    publish: list[str] = field(default_factory=list)  # zone-file lines to publish


@dataclass
class DomainStatus:
    checked_at: datetime
    checks: list[Check]

    def light(self, kind: str) -> Light | None:
        """The worst light among the checks of ``kind`` (None: not checked)."""
        lights = [check.light for check in self.checks if check.kind == kind]
        return max(lights, key=_RANK.__getitem__) if lights else None

    def to_json(self) -> dict:
        return {"checks": [{**asdict(check), "light": str(check.light)} for check in self.checks]}

    @classmethod
    def from_domain(cls, domain: Domain) -> "DomainStatus | None":
        """The last stored result (None: never checked)."""
        if domain.dns_checked_at is None or not domain.dns_status:
            return None
        checks = [Check(**{**item, "light": Light(item["light"])}) for item in domain.dns_status.get("checks", [])]
        return cls(checked_at=domain.dns_checked_at, checks=checks)


def run_checks(domain: Domain, *, now: datetime | None = None) -> DomainStatus:
    """Ask DNS about everything, keep the result on the domain, and mark it verified if its token is there."""
    now = now or timezone.now()
    status = DomainStatus(checked_at=now, checks=check_domain(domain, now=now))
    Domain.objects.filter(pk=domain.pk).update(dns_status=status.to_json(), dns_checked_at=now)
    domain.dns_status, domain.dns_checked_at = status.to_json(), now
    return status


def domains_due_for_check(*, now: datetime):
    """Active domains whose stored status is missing or stale: unverified ones every
    ``DOMAIN_PENDING_CHECK_SECONDS`` (so a published token verifies the domain on its own), the others
    every ``DOMAIN_STATUS_MAX_AGE_SECONDS`` (so the list's lights do not grow old); the oldest first."""
    pending_before = now - timedelta(seconds=settings.DOMAIN_PENDING_CHECK_SECONDS)
    stale_before = now - timedelta(seconds=settings.DOMAIN_STATUS_MAX_AGE_SECONDS)
    due = (
        Q(dns_checked_at__isnull=True)
        | Q(verified_at__isnull=True, dns_checked_at__lte=pending_before)
        | Q(dns_checked_at__lte=stale_before)
    )
    return Domain.objects.filter(due, is_active=True).order_by(F("dns_checked_at").asc(nulls_first=True), "pk")


def recheck_domains(*, now: datetime | None = None, limit: int = 20) -> int:
    """Check the domains that are due, at most ``limit`` per run (the next run takes the rest): a domain whose
    DNS times out costs about six lookups × DNS_TIMEOUT, and the run must end within the task time limit."""
    now = now or timezone.now()
    domains = list(domains_due_for_check(now=now)[:limit])
    for domain in domains:
        run_checks(domain, now=now)
    return len(domains)


def check_domain(domain: Domain, *, now: datetime) -> list[Check]:
    resolver = fresh_resolver()
    return [
        check_ownership(domain, resolver=resolver, now=now),
        check_mx(domain, resolver=resolver),
        check_spf(domain, resolver=resolver),
        *check_dkim(domain, resolver=resolver, now=now),
        check_dmarc(domain, resolver=resolver),
    ]


def _failed(exc: Exception) -> str:
    return f"DNS lookup failed ({exc.__class__.__name__}); try again later"


# --- ownership -----------------------------------------------------------------------


def check_ownership(domain: Domain, *, resolver, now: datetime) -> Check:
    ensure_verification_token(domain)
    publish = [verification_record(domain)]
    lookup = lookup_token(domain, resolver=resolver)
    label = "Ownership"
    if lookup.found:
        mark_verified(domain, now=now)
        note = "The domain is verified: it may send out."
        return Check("ownership", label, Light.GREEN, "token found", note, publish)
    verified = f"verified {domain.verified_at:%Y-%m-%d %H:%M} UTC" if domain.verified_at else "not verified"
    if lookup.error:
        return Check("ownership", label, Light.AMBER, lookup.error, f"The domain is {verified}.", publish)
    found = "; ".join(lookup.values) if lookup.values else "no verification record"
    if domain.verified_at:
        note = f"The domain is {verified} (before this record was asked for, or earlier); publish it to keep the proof."
        return Check("ownership", label, Light.AMBER, found, note, publish)
    note = "Not verified: its mail reaches hosted addresses only. Publish the record, then check again."
    if lookup.values:
        note = "A verification record is there but holds another token. " + note
    return Check("ownership", label, Light.RED, found, note, publish)


# --- MX --------------------------------------------------------------------------------


def _host(name) -> str:
    return str(name).rstrip(".").lower()


def check_mx(domain: Domain, *, resolver) -> Check:
    ours = _host(settings.MAIL_HOSTNAME)
    publish = [mx_record(domain)]
    try:
        answer = resolver.resolve(domain.name, "MX", search=False, raise_on_no_answer=False)
        records = sorted(answer.rrset or [], key=lambda r: r.preference)
    except dns.resolver.NXDOMAIN:
        return Check("mx", "MX", Light.RED, "the domain does not exist in DNS", "Publish the MX record.", publish)
    except dns.exception.DNSException as exc:
        return Check("mx", "MX", Light.AMBER, _failed(exc), "", publish)
    hosts = [_host(r.exchange) for r in records]
    found = ", ".join(f"{r.preference} {_host(r.exchange) or '.'}" for r in records) or "no MX record"
    if not records:
        return Check("mx", "MX", Light.RED, found, f"Mail to the domain does not reach {ours}.", publish)
    if hosts == [""]:
        return Check("mx", "MX", Light.RED, found, "A null MX (RFC 7505): the domain accepts no mail.", publish)
    if all(host == ours for host in hosts):
        return Check("mx", "MX", Light.GREEN, found, f"Mail to the domain comes to {ours}.", publish)
    if ours in hosts:
        others = ", ".join(sorted(set(hosts) - {ours}))
        note = f"Also points at {others}: mail (and bounces) delivered there do not reach this system."
        return Check("mx", "MX", Light.AMBER, found, note, publish)
    note = f"Does not point at {ours}: mail to the domain, bounces and complaints included, goes elsewhere."
    return Check("mx", "MX", Light.RED, found, note, publish)


# --- SPF -------------------------------------------------------------------------------


def outbound_ips(resolver) -> list[str]:
    """The addresses our mail leaves from: ``OUTBOUND_IPS``, or the mail host's A/AAAA."""
    if settings.OUTBOUND_IPS:
        return list(settings.OUTBOUND_IPS)
    ips = []
    for rdtype in ("A", "AAAA"):
        try:
            answer = resolver.resolve(_host(settings.MAIL_HOSTNAME), rdtype, search=False, raise_on_no_answer=False)
        except dns.exception.DNSException:
            continue
        ips += [r.address for r in answer.rrset or []]
    return ips


def _is_spf(text: str) -> bool:
    return text.lower() == "v=spf1" or text.lower().startswith("v=spf1 ")


def check_spf(domain: Domain, *, resolver) -> Check:
    publish = [spf_record(domain)]
    try:
        records = [text for text in txt_values(resolver, domain.name) if _is_spf(text)]
    except dns.exception.DNSException as exc:
        return Check("spf", "SPF", Light.AMBER, _failed(exc), "", publish)
    if not records:
        note = "Receivers cannot tell our mail from forgeries."
        return Check("spf", "SPF", Light.RED, "no SPF record", note, publish)
    if len(records) > 1:
        note = "Several SPF records make SPF fail (permerror, RFC 7208 §4.5): keep one."
        return Check("spf", "SPF", Light.RED, " | ".join(records), note, publish)
    ips = outbound_ips(resolver)
    if not ips:
        note = f"Cannot tell which addresses we send from: {settings.MAIL_HOSTNAME} has no address; set OUTBOUND_IPS."
        return Check("spf", "SPF", Light.AMBER, records[0], note, publish)
    lookups = Lookups()
    results = {
        ip: spf.check_host(
            lookups=lookups, client_ip=ip, helo=_host(settings.MAIL_HOSTNAME), domain=domain.name,
            sender=f"postmaster@{domain.name}", scope="mailfrom",
        ).result
        for ip in ips
    }  # fmt: skip
    outcome = ", ".join(f"{ip}: {result}" for ip, result in results.items())
    found = f"{records[0]} ({outcome})"
    if all(result == "pass" for result in results.values()):
        return Check("spf", "SPF", Light.GREEN, found, "Authorises every address we send from.", publish)
    if any(result in ("fail", "permerror") for result in results.values()):
        note = "Does not authorise our outbound addresses: receivers treat our mail as forged."
        return Check("spf", "SPF", Light.RED, found, note, publish)
    note = "Does not clearly authorise our outbound addresses (softfail, neutral or a DNS error)."
    return Check("spf", "SPF", Light.AMBER, found, note, publish)


# --- DKIM ------------------------------------------------------------------------------


def _published_key(resolver, domain: Domain, selector: str) -> tuple[str, str, str]:
    """``(k, p, text)`` of the key record at the selector; ``("", "", "")`` for none. Raises DNSException."""
    for text in txt_values(resolver, f"{selector}._domainkey.{domain.name}"):
        try:
            tags = parse_tag_value(text.encode("utf-8"))
        except InvalidTagValueList:
            continue
        if tags.get(b"v", b"DKIM1") != b"DKIM1" or b"p" not in tags:
            continue
        key = b"".join(tags[b"p"].split()).decode("ascii", "replace")  # folded across strings or lines
        return tags.get(b"k", b"rsa").decode("ascii", "replace").lower(), key, text
    return "", "", ""


def _key_check(resolver, domain, *, algorithm, selector, key, label, retired: RetiredDkimKey | None, now) -> Check:
    publish = [dkim_record(domain, selector, algorithm, key)]
    removable = retired is not None and retired.publish_until <= now
    keep = f" Keep it published until {retired.publish_until:%Y-%m-%d %H:%M} UTC." if retired and not removable else ""
    if removable:
        label += f", may be removed (since {retired.publish_until:%Y-%m-%d %H:%M} UTC)"
    elif retired:
        label += f", keep until {retired.publish_until:%Y-%m-%d %H:%M} UTC"
    try:
        published_algorithm, published_key, text = _published_key(resolver, domain, selector)
    except dns.exception.DNSException as exc:
        return Check("dkim", label, Light.GREEN if removable else Light.AMBER, _failed(exc), keep.strip(), publish)
    if removable:
        note = "Retired: nothing signed with it is still on its way, the record may be removed."
        return Check("dkim", label, Light.GREEN, "published" if text else "not published", note, [])
    if not text:
        if retired:
            note = "Retired key not published: mail signed with it before the rotation may fail DKIM." + keep
            return Check("dkim", label, Light.AMBER, "no key record", note, publish)
        return Check("dkim", label, Light.RED, "no key record", "Mail signed with this key fails DKIM.", publish)
    if published_key != key or published_algorithm != algorithm:
        note = "The published key is not the one that signs: mail fails DKIM. Publish this record instead."
        if retired:
            note = "The published key is not the retired one." + keep
        light = Light.AMBER if retired else Light.RED
        return Check("dkim", label, light, f"k={published_algorithm}, another key", note, publish)
    note = ("Retired key still published." + keep) if retired else "Matches the key that signs."
    return Check("dkim", label, Light.GREEN, "matching key published", note, publish)


def check_dkim(domain: Domain, *, resolver, now: datetime) -> list[Check]:
    names = {"rsa": "RSA", "ed25519": "Ed25519"}
    current = dkim_keys(domain)
    if not current:
        note = f"Mail from the domain is not signed: make a key (manage.py dkimkey {domain.name}) and publish it."
        return [Check("dkim", "DKIM", Light.RED, "no DKIM key", note)]
    checks = [
        _key_check(resolver, domain, algorithm=algorithm, selector=selector, key=key, retired=None, now=now,
                   label=f"DKIM {names[algorithm]} ({selector})")
        for algorithm, selector, key in current
    ]  # fmt: skip
    for old in domain.retired_dkim_keys.order_by("-retired_at", "-pk")[:RETIRED_KEYS_SHOWN]:
        label = f"DKIM {names.get(old.algorithm, old.algorithm)} retired ({old.selector})"
        checks.append(
            _key_check(resolver, domain, algorithm=old.algorithm, selector=old.selector, key=old.public_key,
                       retired=old, now=now, label=label)
        )  # fmt: skip
    return checks


# --- DMARC -----------------------------------------------------------------------------


def check_dmarc(domain: Domain, *, resolver) -> Check:
    publish = [dmarc_record(domain)]
    names = [domain.name]
    organizational = dmarc_policy.organizational_domain(domain.name)
    if organizational != domain.name:
        names.append(organizational)  # RFC 7489 §6.6.3: the Organizational Domain's record governs too
    for name in names:
        try:
            texts = txt_values(resolver, f"_dmarc.{name}")
        except dns.exception.DNSException as exc:
            return Check("dmarc", "DMARC", Light.AMBER, _failed(exc), "", publish)
        records = [(text, record) for text in texts if (record := dmarc_policy.parse_record(text)) is not None]
        if not records:
            continue
        if len(records) > 1:
            note = "Several DMARC records: receivers ignore them all. Keep one."
            return Check("dmarc", "DMARC", Light.RED, " | ".join(t for t, _ in records), note, publish)
        text, record = records[0]
        found = text if name == domain.name else f"{text} (at _dmarc.{name})"
        policy = record.p if name == domain.name else record.sp
        if record.problem or policy is None:
            return Check("dmarc", "DMARC", Light.RED, found, record.problem or "The record sets no policy.", publish)
        if policy == "none":
            note = "p=none only monitors: Gmail and Yahoo accept it, but quarantine or reject protects the domain."
            return Check("dmarc", "DMARC", Light.AMBER, found, note, publish)
        return Check("dmarc", "DMARC", Light.GREEN, found, f"Policy {policy}.", publish)
    note = "Gmail and Yahoo require a DMARC record from bulk senders (2024)."
    return Check("dmarc", "DMARC", Light.RED, "no DMARC record", note, publish)
