"""DMARC (RFC 7489, RFC 9091): policy discovery, identifier alignment and the disposition the policy asks for.

- The Author Domains are the domains of the From field. With several From addresses in different domains,
  or several From fields (RFC 7489 §6.6.1 lets the receiver reject such mail or "apply the DMARC mechanism
  to each domain and apply the most strict policy"), each domain is evaluated and the strictest outcome
  is the message's: the strictest disposition first, then fail before temperror, permerror, none and pass.
  Adding a second author never dodges a domain's policy. From fields that cannot all be read (more than
  ``MAX_FROM_FIELDS`` fields or ``MAX_AUTHOR_DOMAINS`` domains, a field over ``MAX_FROM_LENGTH``, one the
  parser gives up on) are a permerror with the disposition quarantine: evaluating them all would be a DNS
  amplifier, skipping any would let a spoofed domain hide among them. No From field, or no address with a
  usable domain, is a permerror with no disposition (nothing in it claims to be anyone).
- The record is looked up at ``_dmarc.<from-domain>``, then at the Organizational Domain's, which
  comes from the Public Suffix List shipped offline by ``publicsuffixlist`` (§3.2). ``sp=`` applies
  when the record was found above the From domain (§6.3), and RFC 9091's ``np=`` instead when the From
  domain does not exist (no A, AAAA or MX record: NXDOMAIN or no data for all three).
- Options: ``DMARC_PSD`` (RFC 9091 PSD DMARC): without a record at the From or Organizational Domain,
  the public suffix above the Organizational Domain is asked, and its record used only when it says
  ``psd=y``. ``DMARC_TREE_WALK`` (draft-ietf-dmarc-dmarcbis §4.10): the record is the first found walking
  up from the From domain (after the From domain, at most its last 4 labels, then one label fewer each step,
  down to the top-level domain), and the Organizational Domain comes from the records on the way
  (``psd=n`` marks it, ``psd=y`` marks the name one label below, otherwise the highest name with a record)
  rather than from the Public Suffix List. Both default to off.
- Parsing (§6.3, §6.4): ``v=DMARC1`` must be the first tag (the value is case-sensitive, tag names and the
  other values are not; spaces around ``=`` and ``;`` are allowed). TXT records that do not start so are
  not DMARC records. Unknown tags are ignored. A part that is not ``tag=value`` makes the record syntactically
  incorrect: permerror, no policy applied (RFC 7489 §11.2 defines dmarc=permerror so). A record without
  ``p=`` is ``p=none`` if its ``rua=`` holds a syntactically valid URI, otherwise no policy (result none);
  an invalid ``p=`` value does the same with ``rua=``, and is a permerror without (§6.6.3 step 6).
  Invalid ``sp=``, ``np=``, ``adkim=``, ``aspf=``, ``pct=`` values fall back to their defaults (§6.3: "discarded
  in favor of default values"). Several DMARC records at a name are a permerror (RFC 7489: no policy).
- Pass when SPF passed for an aligned domain or any DKIM signature passed for an aligned ``d=``;
  relaxed alignment compares Organizational Domains, strict the names themselves.
- When it would otherwise fail but an aligned identifier could not be checked for a temporary
  DNS error, the result is temperror (disposition none): the caller can ask the sender to retry
  rather than act on a policy for what might have been a pass. So is a failing message whose policy
  depends on whether its From domain exists (``np=``) when that could not be looked up.
"""

import functools
import hashlib
import re
from dataclasses import dataclass
from email.headerregistry import HeaderRegistry

from django.conf import settings
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
MAX_FROM_FIELDS = 5  # real mail has one
MAX_AUTHOR_DOMAINS = 10
TREE_WALK_MAX_LABELS = 5  # DMARCbis: a longer name jumps to its last TREE_WALK_MAX_LABELS - 1 labels

# Strictest first: how the outcomes of several From domains are ranked (§6.6.1).
_DISPOSITION_RANK = {"reject": 3, "quarantine": 2, "none": 1}
_RESULT_RANK = {"fail": 5, "temperror": 4, "permerror": 3, "none": 2, "pass": 1}

_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")  # RFC 6376 tag names, and hyphens: unknown tags seen in the wild
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s!,]+(?:![0-9]+[kmgtKMGT]?)?")
_MAILTO = re.compile(r"mailto:[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)*(?:![0-9]+[kmgtKMGT]?)?", re.IGNORECASE)


@dataclass(frozen=True)
class Record:
    """A parsed DMARC record, defaults applied. ``p`` is None when it sets no policy (see ``problem``)."""

    p: str | None
    sp: str | None
    np: str | None  # RFC 9091; None: sp applies to non-existent subdomains too
    adkim: str = "r"
    aspf: str = "r"
    pct: int = 100
    psd: str = "u"  # DMARCbis: y (a public suffix's record), n (an Organizational Domain's), u (unknown)
    rua: tuple[str, ...] = ()  # the syntactically valid aggregate report URIs
    problem: str = ""  # why the record is a permerror (a syntax error, an invalid p= without rua=)


@dataclass(frozen=True)
class Discovery:
    record: Record
    found_at: str  # the name whose _dmarc record it is
    organizational: str  # the From domain's Organizational Domain (from the PSL, or the tree walk)
    public_suffix: bool = False  # found at a public suffix (PSD DMARC, or psd=y on the tree walk)


@functools.cache
def _public_suffix_list() -> PublicSuffixList:
    return PublicSuffixList()  # reads the bundled list once, on first use rather than at import


def organizational_domain(domain: str) -> str:
    """``mail.example.co.uk`` → ``example.co.uk``; a public suffix itself stays as it is."""
    domain = domain.lower().rstrip(".")
    return _public_suffix_list().privatesuffix(domain) or domain


def public_suffix(domain: str) -> str:
    """``mail.example.co.uk`` → ``co.uk``."""
    domain = domain.lower().rstrip(".")
    return _public_suffix_list().publicsuffix(domain) or domain


def evaluate(*, raw: bytes, lookups: Lookups, spf: SPFResult, dkim: list[DKIMResult]) -> DMARCResult:
    try:
        domains, problem = author_domains(raw)
    except HostileFrom as exc:  # what a reader may be shown cannot be checked: never let it dodge a policy
        return DMARCResult("permerror", "", "", "quarantine", str(exc))
    if problem and not domains:
        return DMARCResult("permerror", "", "", "none", problem)
    outcomes = [_evaluate_domain(domain, lookups=lookups, spf=spf, dkim=dkim, raw=raw) for domain in domains]
    if problem:  # some From address had no usable domain: it counts, but never above a real domain's policy
        outcomes.append(DMARCResult("permerror", "", "", "none", problem))
    if len(outcomes) == 1:
        return outcomes[0]
    strictest = max(outcomes, key=lambda r: (_DISPOSITION_RANK.get(r.disposition, 0), _RESULT_RANK.get(r.result, 0)))
    why = f"strictest of {len(outcomes)} From domains: {strictest.explanation}"
    return DMARCResult(strictest.result, strictest.domain, strictest.policy, strictest.disposition, why)


def _evaluate_domain(
    from_domain: str, *, lookups: Lookups, spf: SPFResult, dkim: list[DKIMResult], raw: bytes
) -> DMARCResult:
    try:
        discovery = _discover_kept(lookups, from_domain)
    except TempError as exc:
        return DMARCResult("temperror", from_domain, "", "none", str(exc))
    except _PolicyError as exc:
        return DMARCResult("permerror", from_domain, "", "none", str(exc))
    if discovery is None:
        return DMARCResult("none", from_domain, "", "none", f"no DMARC record for {from_domain}")
    record = discovery.record
    if record.problem:
        return DMARCResult("permerror", from_domain, "", "none", record.problem)
    if record.p is None:
        return DMARCResult("none", from_domain, "", "none", f"the DMARC record of {discovery.found_at} sets no p=")

    subdomain = discovery.found_at != from_domain
    policy = record.sp if subdomain else record.p
    try:
        spf_aligned = _aligned(lookups, spf.domain, from_domain, discovery, record.aspf)
        dkim_aligned = [
            result for result in dkim if _aligned(lookups, result.domain, from_domain, discovery, record.adkim)
        ]
    except TempError as exc:
        return DMARCResult("temperror", from_domain, policy, "none", str(exc))
    if spf.result == "pass" and spf_aligned:
        return DMARCResult("pass", from_domain, policy, "none", f"SPF passed for aligned {spf.domain}")
    if passed := [result for result in dkim_aligned if result.result == "pass"]:
        return DMARCResult("pass", from_domain, policy, "none", f"DKIM passed for aligned {passed[0].domain}")
    if (spf.result == "temperror" and spf_aligned) or any(r.result == "temperror" for r in dkim_aligned):
        return DMARCResult("temperror", from_domain, policy, "none", "an aligned identifier had a DNS error")
    why = "no aligned SPF or DKIM pass"
    if subdomain and record.np is not None and record.np != record.sp:
        try:
            exists = domain_exists(lookups, from_domain)
        except TempError as exc:
            return DMARCResult("temperror", from_domain, policy, "none", f"whether {from_domain} exists: {exc}")
        if not exists:
            policy, why = record.np, f"{why}; {from_domain} does not exist (np=)"
    disposition = _sampled(policy, record.pct, raw)
    return DMARCResult("fail", from_domain, policy, disposition, why)


def domain_exists(lookups: Lookups, domain: str) -> bool:
    """RFC 9091 §2.1: a domain exists if it has an A, AAAA or MX record (NXDOMAIN or no data for all: it does not)."""
    try:
        return any(lookups.query(domain, rdtype) for rdtype in ("A", "AAAA", "MX"))
    except InvalidName:
        return False


class HostileFrom(Exception):
    """From fields no real mail has (too many, too long, unparseable, too many domains): nothing to evaluate."""


def author_domains(raw: bytes) -> tuple[list[str], str]:
    """The distinct Author Domains of the From fields, in order, and why some address gave none ("" if all did).

    Raises ``HostileFrom`` when the fields cannot all be read: evaluating only some of them would let a
    spoofed domain hide behind the others.
    """
    fields = header_fields(raw, "From")
    if not fields:
        return [], "no From header field"
    if len(fields) > MAX_FROM_FIELDS:
        raise HostileFrom(f"{len(fields)} From header fields (more than {MAX_FROM_FIELDS})")
    domains: list[str] = []
    problems: list[str] = []
    for field in fields:
        found, problem = _field_domains(field)
        domains += [domain for domain in found if domain not in domains]
        if problem:
            problems.append(problem)
    if len(domains) > MAX_AUTHOR_DOMAINS:
        raise HostileFrom(f"From fields name {len(domains)} domains (more than {MAX_AUTHOR_DOMAINS})")
    return domains, "; ".join(dict.fromkeys(problems))


def author_domain(raw: bytes) -> tuple[str, str]:
    """``(domain, "")`` when the From field names exactly one domain, else ``("", why)``."""
    try:
        domains, problem = author_domains(raw)
    except HostileFrom as exc:
        return "", str(exc)
    if problem:
        return "", problem
    if len(domains) > 1:
        return "", "From addresses in more than one domain"
    return domains[0], ""


def _field_domains(field: str) -> tuple[list[str], str]:
    if len(field) > MAX_FROM_LENGTH:
        raise HostileFrom("From header field too long")
    try:
        found = address_domains(field)
    except Exception as exc:  # the email package's parser on hostile input: never ours to crash on
        raise HostileFrom("From header field cannot be parsed") from exc
    if not found:
        return [], "no address in the From header field"
    usable = list(dict.fromkeys(domain for domain in found if is_hostname(domain)))
    return usable, "" if len(usable) == len(set(found)) else "From address has no usable domain"


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


def discover(lookups: Lookups, domain: str) -> Discovery | None:
    """The record that governs ``domain`` (None without one, or with a broken one); raises ``TempError``."""
    try:
        return _discover_kept(lookups, domain)
    except _PolicyError:
        return None


def _options() -> tuple[bool, bool]:
    return bool(getattr(settings, "DMARC_TREE_WALK", False)), bool(getattr(settings, "DMARC_PSD", False))


def _discover_kept(lookups: Lookups, from_domain: str) -> Discovery | None:
    """``_discover``, kept per resolver, options and From domain (``DISCOVERY_TTL`` at most, and never past the
    DNS TTLs); DNS trouble and broken policies are raised, never kept."""
    tree_walk, psd = _options()
    key = (get_resolver(), tree_walk, psd, from_domain)
    kept = _discoveries.get(key)
    if kept is not None:
        return kept[0]
    with lookups.watch_expiry() as expiry:
        discovery = _walk(lookups, from_domain) if tree_walk else _discover(lookups, from_domain, psd=psd)
    _discoveries.put(key, (discovery,), min(DISCOVERY_TTL, expiry.remaining()))
    return discovery


def _discover(lookups: Lookups, from_domain: str, *, psd: bool) -> Discovery | None:
    """The record that governs ``from_domain`` and where it was found (RFC 7489 §6.6.3, RFC 9091 §3)."""
    organizational = organizational_domain(from_domain)
    record = _fetch(lookups, from_domain)
    if record is not None:
        return Discovery(record, from_domain, organizational)
    if organizational != from_domain:
        record = _fetch(lookups, organizational)
        if record is not None:
            return Discovery(record, organizational, organizational)
    suffix = public_suffix(organizational)
    if psd and suffix not in (organizational, from_domain):
        record = _fetch(lookups, suffix)
        if record is not None and record.psd == "y":
            return Discovery(record, suffix, organizational, public_suffix=True)
    return None


def tree_walk_names(domain: str) -> list[str]:
    """DMARCbis §4.10: the names to ask, from ``domain`` up to its top-level domain, skipping to its last
    ``TREE_WALK_MAX_LABELS - 1`` labels when it has more than ``TREE_WALK_MAX_LABELS``."""
    labels = domain.split(".")
    names = [domain]
    start = len(labels) - (TREE_WALK_MAX_LABELS - 1) if len(labels) > TREE_WALK_MAX_LABELS else 1
    names += [".".join(labels[index:]) for index in range(start, len(labels))]
    return names


def _walk(lookups: Lookups, from_domain: str) -> Discovery | None:
    """DMARCbis tree walk: the first record up from the From domain governs it; the Organizational Domain is
    the name a ``psd=n`` record sits at, or the name just below a ``psd=y`` one, or else the highest name with
    a record (the From domain itself without any)."""
    found = [(name, record) for name in tree_walk_names(from_domain) if (record := _fetch(lookups, name))]
    if not found:
        return None
    name, record = found[0]
    return Discovery(record, name, _walk_organizational(from_domain, found), public_suffix=record.psd == "y")


def _walk_organizational(domain: str, found: list[tuple[str, Record]]) -> str:
    for name, record in found:
        if record.psd == "n":
            return name
        if record.psd == "y":
            if name == domain:
                return domain
            labels = domain.split(".")
            return ".".join(labels[len(labels) - len(name.split(".")) - 1 :])
    return found[-1][0] if found else domain


def _organizational_of(lookups: Lookups, domain: str, discovery: Discovery) -> str:
    """The Organizational Domain of an SPF or DKIM domain, the same way the From domain's was found."""
    if not _options()[0]:
        return organizational_domain(domain)
    found = [(name, record) for name in tree_walk_names(domain) if (record := _fetch_quietly(lookups, name))]
    return _walk_organizational(domain, found)


def _fetch_quietly(lookups: Lookups, domain: str) -> Record | None:
    """``_fetch`` for another domain's walk: its broken records count as none (its DNS errors still raise)."""
    try:
        return _fetch(lookups, domain)
    except _PolicyError:
        return None


def _fetch(lookups: Lookups, domain: str) -> Record | None:
    try:
        texts = lookups.txt(f"_dmarc.{domain}")
    except InvalidName:
        return None
    records = [parsed for text in texts if (parsed := parse_record(text.decode("utf-8", "replace"))) is not None]
    if len(records) > 1:
        raise _PolicyError(f"_dmarc.{domain} publishes {len(records)} DMARC records")
    return records[0] if records else None


def parse_record(text: str) -> Record | None:
    """The record, or None when the text is not a DMARC record (it does not start with ``v=DMARC1``).

    Every message from a domain brings the same record: each text is parsed once.
    """
    return _parse_record(text)


@functools.lru_cache(maxsize=1024)
def _parse_record(text: str) -> Record | None:
    tags: dict[str, str] = {}
    syntax_errors: list[str] = []
    for index, part in enumerate(text.split(";")):
        name, equals, value = part.partition("=")
        name, value = name.strip(" \t").lower(), value.strip(" \t")
        if index == 0:
            if name != "v" or value != "DMARC1":
                return None
            continue
        if not part.strip(" \t"):
            continue  # empty parts: "p=none;" and "p=none;;" are fine
        if not equals or not _TAG_NAME.fullmatch(name):
            syntax_errors.append(part.strip())
            continue
        tags.setdefault(name, value)
    rua = tuple(uri for uri in (u.strip(" \t") for u in tags.get("rua", "").split(",")) if _valid_uri(uri))
    policy = tags.get("p", "").lower()
    problem = ""
    if syntax_errors:
        problem = f"DMARC record syntax error at {syntax_errors[0][:40]!r}"
    elif policy not in POLICIES:
        if rua:
            policy = "none"  # §6.6.3 step 6: a record with a valid rua= but no valid p= is read as p=none
        else:
            if "p" in tags:
                problem = f"DMARC record has an invalid p={tags['p'][:20]!r} and no valid rua="
            policy = None
    subdomain_policy = tags.get("sp", "").lower()
    subdomain_policy = subdomain_policy if subdomain_policy in POLICIES else policy
    nonexistent_policy = tags.get("np", "").lower()
    pct = tags.get("pct", "")
    return Record(
        p=policy,
        sp=subdomain_policy,
        np=nonexistent_policy if nonexistent_policy in POLICIES and policy is not None else None,
        adkim="s" if tags.get("adkim", "").lower() == "s" else "r",
        aspf="s" if tags.get("aspf", "").lower() == "s" else "r",
        pct=int(pct) if re.fullmatch(r"[0-9]{1,3}", pct) and int(pct) <= 100 else 100,
        psd=tags.get("psd", "u").lower() if tags.get("psd", "").lower() in ("y", "n") else "u",
        rua=rua,
        problem=problem,
    )


def _valid_uri(uri: str) -> bool:
    """A DMARC URI (§6.4): an absolute URI with an optional ``!size``; a mailto: one needs an address."""
    if uri.lower().startswith("mailto:"):
        return bool(_MAILTO.fullmatch(uri))
    return bool(_URI.fullmatch(uri))


def _aligned(lookups: Lookups, domain: str, from_domain: str, discovery: Discovery, mode: str) -> bool:
    domain = domain.lower().rstrip(".")
    if not domain:
        return False
    if mode == "s" or domain == from_domain:
        return domain == from_domain
    return _organizational_of(lookups, domain, discovery) == discovery.organizational


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
