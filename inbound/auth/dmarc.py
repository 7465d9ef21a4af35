"""DMARC (RFC 7489): policy discovery, identifier alignment and the disposition the policy asks for.

- The Author Domain is the domain of the From field. No From field, several From fields, an
  address without a domain, or addresses from more than one domain are a permerror (§6.6.1).
  Several addresses in the same domain are evaluated as that one domain.
- The record is looked up at ``_dmarc.<from-domain>``, then at the Organizational Domain's, which
  comes from the Public Suffix List shipped offline by ``publicsuffixlist`` (§3.2). ``sp=`` applies
  when the record was found at the Organizational Domain for a subdomain (§6.3).
- Several DMARC records at a name are a permerror (RFC 7489 says to apply no policy: the
  disposition is none). A record without a valid ``p=`` but with ``rua=`` counts as ``p=none``;
  without either it is a permerror. Invalid ``sp=``, ``adkim=``, ``aspf=``, ``pct=`` fall back to
  their defaults (§6.3: "discarded in favor of default values"). ``np=`` (RFC 9091) is not read.
- Pass when SPF passed for an aligned domain or any DKIM signature passed for an aligned ``d=``;
  relaxed alignment compares Organizational Domains, strict the names themselves.
- When it would otherwise fail but an aligned identifier could not be checked for a temporary
  DNS error, the result is temperror (disposition none): the caller can ask the sender to retry
  rather than act on a policy for what might have been a pass.
"""

import functools
import hashlib
import re
from email.headerregistry import HeaderRegistry

from publicsuffixlist import PublicSuffixList

from core.dns import get_resolver

from .lookups import InvalidName, Lookups, ResultCache, TempError, is_hostname
from .message import header_fields
from .results import DKIMResult, DMARCResult, SPFResult

POLICIES = ("none", "quarantine", "reject")
# The record found for a From domain, kept for the next messages from it: at most this long, and never
# past the TTL of the DNS answers it was found with (an NXDOMAIN's negative TTL is not read: the cap holds).
DISCOVERY_TTL = 60.0
DISCOVERY_CACHE_SIZE = 4096
_discoveries = ResultCache(DISCOVERY_CACHE_SIZE)
MAX_FROM_LENGTH = 2048  # far longer than real From fields; the email package is quadratic on some input


@functools.cache
def _public_suffix_list() -> PublicSuffixList:
    return PublicSuffixList()  # reads the bundled list once, on first use rather than at import


def organizational_domain(domain: str) -> str:
    """``mail.example.co.uk`` → ``example.co.uk``; a public suffix itself stays as it is."""
    domain = domain.lower().rstrip(".")
    return _public_suffix_list().privatesuffix(domain) or domain


def evaluate(*, raw: bytes, lookups: Lookups, spf: SPFResult, dkim: list[DKIMResult]) -> DMARCResult:
    from_domain, problem = author_domain(raw)
    if problem:
        return DMARCResult("permerror", from_domain, "", "none", problem)
    try:
        record, found_at = _discover_kept(lookups, from_domain)
    except TempError as exc:
        return DMARCResult("temperror", from_domain, "", "none", str(exc))
    except _PolicyError as exc:
        return DMARCResult("permerror", from_domain, "", "none", str(exc))
    if record is None:
        return DMARCResult("none", from_domain, "", "none", f"no DMARC record for {from_domain}")

    policy = record["sp"] if found_at != from_domain else record["p"]
    spf_aligned = _aligned(spf.domain, from_domain, record["aspf"])
    dkim_aligned = [result for result in dkim if _aligned(result.domain, from_domain, record["adkim"])]
    if spf.result == "pass" and spf_aligned:
        return DMARCResult("pass", from_domain, policy, "none", f"SPF passed for aligned {spf.domain}")
    if passed := [result for result in dkim_aligned if result.result == "pass"]:
        return DMARCResult("pass", from_domain, policy, "none", f"DKIM passed for aligned {passed[0].domain}")
    if (spf.result == "temperror" and spf_aligned) or any(r.result == "temperror" for r in dkim_aligned):
        return DMARCResult("temperror", from_domain, policy, "none", "an aligned identifier had a DNS error")
    disposition = _sampled(policy, record["pct"], raw)
    return DMARCResult("fail", from_domain, policy, disposition, "no aligned SPF or DKIM pass")


def author_domain(raw: bytes) -> tuple[str, str]:
    """``(domain, "")`` or ``("", why the From field gives no single Author Domain)``."""
    fields = header_fields(raw, "From")
    if not fields:
        return "", "no From header field"
    if len(fields) > 1:
        return "", "more than one From header field"
    if len(fields[0]) > MAX_FROM_LENGTH:
        return "", "From header field too long"
    try:
        domains = set(address_domains(fields[0]))
    except Exception:  # the email package's parser on hostile input: never ours to crash on
        return "", "From header field cannot be parsed"
    if not domains:
        return "", "no address in the From header field"
    if len(domains) > 1:
        return "", "From addresses in more than one domain"
    [domain] = domains
    if not is_hostname(domain):
        return "", "From address has no usable domain"
    return domain, ""


# One address in the plainest forms, which the email package reads the same way, only slower:
# ``local@domain``, ``<local@domain>`` or ``Display Name <local@domain>``, the display name made of
# atoms (without ``=`` and ``?``) and quoted strings (printable ASCII, no backslash), the local part a dot-atom,
# the domain letters, digits and hyphens, and no ``=?`` anywhere (the email package decodes encoded-words, even in
# a local part). Anything else goes to the email package.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_LDH_DOMAIN = r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_WORD = r"(?:[A-Za-z0-9!#$%&'*+/^_`{|}~-]+|\"[\x20\x21\x23-\x5b\x5d-\x7e]*\")"
_PLAIN_FROM = re.compile(
    rf"[ \t]*(?:{_DOT_ATOM}@(?P<bare>{_LDH_DOMAIN})"
    rf"|(?:{_WORD}(?:[ \t]+{_WORD})*[ \t]*)?<{_DOT_ATOM}@(?P<angle>{_LDH_DOMAIN})>)[ \t]*"
)


def address_domains(value: str) -> list[str]:
    """The (ASCII, lower-case) domain of each address in a From field's value; may raise on hostile input."""
    if "=?" not in value and (match := _PLAIN_FROM.fullmatch(value)):  # encoded-words are the parser's
        return [_ascii_domain(match.group("bare") or match.group("angle"))]
    return strict_address_domains(value)


def strict_address_domains(value: str) -> list[str]:
    """``address_domains`` by the email package's parser alone."""
    return [_ascii_domain(address.domain) for address in HeaderRegistry()("From", value).addresses]


def _ascii_domain(domain: str) -> str:
    domain = domain.strip().rstrip(".").lower()
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return ""


class _PolicyError(Exception):
    pass


def clear_cache() -> None:
    """Forget the records kept (tests change their DNS records from one case to the next)."""
    _discoveries.clear()


def _discover_kept(lookups: Lookups, from_domain: str) -> tuple[dict | None, str]:
    """``_discover``, kept per resolver and From domain (``DISCOVERY_TTL`` at most, and never past the DNS TTLs);
    DNS trouble and broken policies are raised, never kept."""
    key = (get_resolver(), from_domain)
    kept = _discoveries.get(key)
    if kept is not None:
        record, found_at = kept
        return (dict(record) if record is not None else None), found_at
    with lookups.watch_expiry() as expiry:
        record, found_at = _discover(lookups, from_domain)
    _discoveries.put(
        key, (dict(record) if record is not None else None, found_at), min(DISCOVERY_TTL, expiry.remaining())
    )
    return record, found_at


def _discover(lookups: Lookups, from_domain: str) -> tuple[dict | None, str]:
    """The record that governs ``from_domain`` and where it was found (§6.6.3)."""
    record = _fetch(lookups, from_domain)
    if record is not None:
        return record, from_domain
    organizational = organizational_domain(from_domain)
    if organizational != from_domain:
        return _fetch(lookups, organizational), organizational
    return None, from_domain


def _fetch(lookups: Lookups, domain: str) -> dict | None:
    try:
        texts = lookups.txt(f"_dmarc.{domain}")
    except InvalidName:
        return None
    records = [parsed for text in texts if (parsed := parse_record(text.decode("utf-8", "replace"))) is not None]
    if len(records) > 1:
        raise _PolicyError(f"_dmarc.{domain} publishes {len(records)} DMARC records")
    if records and records[0]["p"] is None:
        raise _PolicyError(f"the DMARC record of {domain} has no valid p=")
    return records[0] if records else None


def parse_record(text: str) -> dict | None:
    """``{"p", "sp", "adkim", "aspf", "pct"}`` with defaults applied, or None when it is not DMARC1.

    ``p`` is None when the record holds no valid policy and no ``rua`` to fall back to ``p=none``.
    Every message from a domain brings the same record: each text is parsed once (a copy is returned).
    """
    parsed = _parse_record(text)
    return dict(parsed) if parsed is not None else None


@functools.lru_cache(maxsize=1024)
def _parse_record(text: str) -> tuple | None:
    parsed = _parse_record_uncached(text)
    return tuple(parsed.items()) if parsed is not None else None


def _parse_record_uncached(text: str) -> dict | None:
    tags: dict[str, str] = {}
    for index, part in enumerate(text.split(";")):
        name, equals, value = part.partition("=")
        name, value = name.strip().lower(), value.strip()
        if index == 0 and (name != "v" or value != "DMARC1"):
            return None
        if equals and name:
            tags.setdefault(name, value)
    policy = tags.get("p", "").lower()
    if policy not in POLICIES:
        policy = "none" if "rua" in tags else None
    subdomain_policy = tags.get("sp", "").lower()
    pct = tags.get("pct", "")
    return {
        "p": policy,
        "sp": subdomain_policy if subdomain_policy in POLICIES else policy,
        "adkim": "s" if tags.get("adkim", "").lower() == "s" else "r",
        "aspf": "s" if tags.get("aspf", "").lower() == "s" else "r",
        "pct": int(pct) if re.fullmatch(r"[0-9]{1,3}", pct) and int(pct) <= 100 else 100,
    }


def _aligned(domain: str, from_domain: str, mode: str) -> bool:
    domain = domain.lower().rstrip(".")
    if not domain:
        return False
    if mode == "s":
        return domain == from_domain
    return organizational_domain(domain) == organizational_domain(from_domain)


def _sampled(policy: str, pct: int, raw: bytes) -> str:
    """The policy for the ``pct`` percent of failing mail it covers (§6.6.4), the next milder one otherwise.

    Which messages are covered is decided by a hash of the message rather than at random, so the same
    message always gets the same disposition (a retried delivery cannot dodge the policy by luck).
    """
    if pct >= 100:
        return policy
    bucket = int.from_bytes(hashlib.sha256(raw).digest()[:4], "big") % 100
    if bucket < pct:
        return policy
    return {"reject": "quarantine", "quarantine": "none"}.get(policy, "none")
