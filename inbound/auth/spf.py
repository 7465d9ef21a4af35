"""SPF (RFC 7208): ``check_host()`` for the MAIL FROM and the HELO identities, evaluated here.

Supported: the mechanisms all, include, a, mx, ptr, ip4, ip6, exists (with dual CIDR lengths), the
redirect and exp modifiers (other modifiers are ignored, as §6 wants), the qualifiers ``+ - ~ ?``,
every macro letter (s l o d i p h v, and c r t in explanations) with their transformers, the
limits of §4.6.4 (10 DNS-querying terms, 2 void lookups, 10 names per mx/ptr: permerror beyond)
and a 20-second budget per evaluation (temperror beyond). A record is checked whole before it is
evaluated, so a syntax error anywhere is a permerror even when an earlier mechanism would match:
terms are separated by spaces only (a tab or CR inside a record is an error, not a separator), and
every domain-spec, redirect= and exp= included, must end in a macro or in a top label that is not
all digits (``a:foo-bar``, ``a:example.com:8080``, ``a:192.0.2.1``, ``exists:x.example/24`` are errors).

Conformance: both official OpenSPF suites (RFC 7208 and RFC 4408) pass whole; they run in
``tests/inbound/test_spf_suites.py`` through a real DNS server. Where they are stricter than the
RFC's examples we follow them: ``%{i}`` of an IPv6 client gives its nibbles in capitals (DNS ignores
case; explanations show it).

Our choices where the RFC leaves room: an IPv4-mapped IPv6 client is checked as IPv4; a dot after a
closing macro (``%{d}.``) is accepted; a macro may expand to a name holding spaces, which is looked
up as it is (a label may hold any octet); a target that cannot be a DNS name at all (an empty label,
a control character) makes that mechanism not match, while such an include/redirect target is a
permerror.
"""

import functools
import ipaddress
import re
import time
import urllib.parse
from dataclasses import dataclass

import dns.reversename
from django.conf import settings

from core.dns import get_resolver

from .lookups import InvalidName, Lookups, ResultCache, TempError, dns_name, is_hostname, is_multi_label_domain
from .results import SPFResult

MAX_DNS_TERMS = 10
MAX_VOID_LOOKUPS = 2
MAX_NAMES_PER_MECHANISM = 10
MAX_DEPTH = 12  # nesting cannot go past the 10-term limit anyway; this only guards the Python stack
TIME_BUDGET = 20.0
MAX_DOMAIN_LENGTH = 253
# Results kept for the next messages from the same client and domains: at most this long, and never past
# the TTL of a DNS answer they were computed from (an NXDOMAIN's negative TTL is not read: RESULT_TTL caps it).
RESULT_TTL = 60.0
RESULT_CACHE_SIZE = 4096

QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_DOMAIN_LETTERS = set("slodiphv")
_EXP_LETTERS = _DOMAIN_LETTERS | set("crt")

_MODIFIER = re.compile(r"([A-Za-z][A-Za-z0-9_.-]*)=(.*)", re.S)
_DIRECTIVE = re.compile(r"([+?~-]?)([A-Za-z][A-Za-z0-9_.-]*)(.*)", re.S)
_DUAL_CIDR = re.compile(r"(?:/(0|[1-9][0-9]?))?(?://(0|[1-9][0-9]{0,2}))?$")
_CIDR = re.compile(r"0|[1-9][0-9]{0,2}")
_MACRO = re.compile(r"%(?:\{([A-Za-z])([0-9]*)([rR]?)([.+,/_=-]*)\}|([%_-]))")
_LITERAL = re.compile(r"[\x21-\x24\x26-\x7e]*")
# domain-end (§7.1): a domain-spec ends in a macro or in a top label that is not all digits (so an address or a
# host:port is not a domain); a trailing dot is allowed. Leniency: a dot after a closing macro is accepted too.
_DOMAIN_END = re.compile(
    r"(?:\.(?:[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9-]*[A-Za-z0-9])|%\{[^}]*\}|%[%_-])\.?\Z"
)
_EXP_LITERAL = re.compile(r"[\x20-\x24\x26-\x7e]*")


class PermError(Exception):
    """The published policy cannot be evaluated as it stands."""


@dataclass(frozen=True)
class Directive:
    term: str
    qualifier: str
    mechanism: str
    domain_spec: str | None = None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    cidr4: int = 32
    cidr6: int = 128


@dataclass(frozen=True)
class Record:
    directives: tuple[Directive, ...]
    redirect: str | None = None
    exp: str | None = None


def check(*, lookups: Lookups, client_ip: str, helo: str, mail_from: str) -> tuple[SPFResult, SPFResult]:
    """``(spf, helo_spf)``: MAIL FROM's domain, or postmaster@HELO with ``<>`` (then both are the HELO's)."""
    helo_domain = _normalise_domain(helo)
    common = {"lookups": lookups, "client_ip": client_ip, "helo": helo_domain}
    if is_hostname(helo_domain):
        helo_spf = check_host(**common, domain=helo_domain, sender=f"postmaster@{helo_domain}", scope="helo")
    else:  # an address literal, a bare name: RFC 7208 §2.3 has nothing to check
        helo_spf = SPFResult("none", helo_domain, "helo", "HELO is not a domain name")
    address = mail_from.strip().removeprefix("<").removesuffix(">").strip()
    if not address:
        return helo_spf, helo_spf
    local, at, domain = address.rpartition("@")
    domain = _normalise_domain(domain) if at else ""
    if not domain:
        return SPFResult("none", "", "mailfrom", "MAIL FROM has no domain"), helo_spf
    if not is_hostname(domain):
        return SPFResult("none", domain, "mailfrom", "MAIL FROM's domain is not a domain name"), helo_spf
    spf = check_host(**common, domain=domain, sender=f"{local or 'postmaster'}@{domain}", scope="mailfrom")
    return spf, helo_spf


_results = ResultCache(RESULT_CACHE_SIZE)
_SENDER_DEPENDENT = object()  # stands in for the result when it depends on the sender's local part too
_SENDER_LETTERS = frozenset("sl")  # the macros that read the local part (o is the domain, in the key)
_UNCACHEABLE_LETTERS = frozenset("rt")  # our host name (a setting) and the clock, in explanations only


def clear_cache() -> None:
    """Forget the results kept (tests change their DNS records from one case to the next)."""
    _results.clear()


def check_host(*, lookups: Lookups, client_ip: str, helo: str, domain: str, sender: str, scope: str) -> SPFResult:
    """RFC 7208 check_host(): never raises; DNS trouble is temperror, a broken policy permerror.

    The same inputs give the same result until a DNS answer it rests on changes, so results are
    kept (``RESULT_TTL`` at most, and no longer than those answers' TTLs) per resolver, client
    address, scope, domain and HELO name, and per sender too when a macro read its local part.
    temperror is never kept: DNS trouble is asked about again.
    """
    key = (get_resolver(), client_ip, scope, domain, helo)
    cached = _results.get(key)
    if cached is _SENDER_DEPENDENT:
        cached = _results.get((*key, sender))
    if cached is not None:
        return cached
    with lookups.watch_expiry() as expiry:
        result, letters = _check_host_uncached(
            lookups=lookups, client_ip=client_ip, helo=helo, domain=domain, sender=sender, scope=scope
        )
    if result.result != "temperror" and not letters & _UNCACHEABLE_LETTERS:
        ttl = min(RESULT_TTL, expiry.remaining())
        if letters & _SENDER_LETTERS:
            _results.put(key, _SENDER_DEPENDENT, ttl)
            _results.put((*key, sender), result, ttl)
        else:
            _results.put(key, result, ttl)
    return result


def _check_host_uncached(
    *, lookups: Lookups, client_ip: str, helo: str, domain: str, sender: str, scope: str
) -> tuple[SPFResult, frozenset[str]]:
    """check_host() evaluated, and the macro letters its evaluation expanded."""
    try:
        ip = ipaddress.ip_address(client_ip.strip().removeprefix("[").removesuffix("]").removeprefix("IPv6:"))
    except ValueError:
        return SPFResult(
            "permerror", domain, scope, f"client address {client_ip[:60]!r} is not an IP address"
        ), frozenset()
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    local, _, sender_domain = sender.rpartition("@")
    context = _Context(ip, sender, local, sender_domain, helo, lookups, deadline=time.monotonic() + TIME_BUDGET)
    try:
        result, explanation = _check_host(context, domain, depth=0, explain=True)
    except TempError as exc:
        return SPFResult("temperror", domain, scope, str(exc)), frozenset(context.letters)
    except PermError as exc:
        return SPFResult("permerror", domain, scope, str(exc)), frozenset(context.letters)
    return SPFResult(result, domain, scope, explanation), frozenset(context.letters)


def _normalise_domain(value: str) -> str:
    domain = value.strip().rstrip(".").lower()
    try:
        return domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError:
        return domain


class _Context:
    """One check_host() evaluation: the inputs the macros read and the limits of RFC 7208 §4.6.4."""

    def __init__(self, ip, sender: str, local: str, sender_domain: str, helo: str, lookups: Lookups, *, deadline):
        self.ip = ip
        self.sender = sender
        self.local = local
        self.sender_domain = sender_domain
        self.helo = helo
        self.lookups = lookups
        self.deadline = deadline
        self.dns_terms = 0
        self.voids = 0
        self.letters: set[str] = set()  # the macro letters expanded: what besides the DNS the result rests on

    def count_dns_term(self) -> None:
        self.dns_terms += 1
        if self.dns_terms > MAX_DNS_TERMS:
            raise PermError(f"more than {MAX_DNS_TERMS} DNS-querying mechanisms and modifiers")

    def query(self, name: str, rdtype: str, *, void_counts: bool = True) -> list:
        answer = self.lookups.query(name, rdtype, deadline=self.deadline)
        if not answer and void_counts:
            self.voids += 1
            if self.voids > MAX_VOID_LOOKUPS:
                raise PermError(f"more than {MAX_VOID_LOOKUPS} lookups found nothing")
        return answer

    def addresses(self, name: str, *, void_counts: bool = True) -> list:
        answer = self.query(name, "A" if self.ip.version == 4 else "AAAA", void_counts=void_counts)
        return [_address(r.address) for r in answer]

    def txt(self, name: str) -> list[str]:
        return [text.decode("utf-8", "replace") for text in self.lookups.txt(name, deadline=self.deadline)]


@functools.lru_cache(maxsize=8192)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def _check_host(ctx: _Context, domain: str, *, depth: int, explain: bool) -> tuple[str, str]:
    if depth > MAX_DEPTH:
        raise PermError("include/redirect nested too deeply")
    if not is_multi_label_domain(domain):
        return "none", f"{domain!r} is not a domain SPF can check"
    records = [text for text in ctx.txt(domain) if _is_spf(text)]
    if not records:
        return "none", f"no SPF record at {domain}"
    if len(records) > 1:
        raise PermError(f"{domain} publishes {len(records)} SPF records")
    record = parse_record(records[0])
    for directive in record.directives:
        if _matches(ctx, directive, domain, depth):
            result = QUALIFIERS[directive.qualifier]
            explanation = f"{directive.term} of {domain} matched"
            if result == "fail" and explain and record.exp:
                explanation = _explain(ctx, record.exp, domain) or explanation
            return result, explanation
    if record.redirect is not None:
        ctx.count_dns_term()
        target = _target(ctx, record.redirect, domain)
        if target is None:
            raise PermError(f"redirect of {domain} does not name a domain")
        result, explanation = _check_host(ctx, target, depth=depth + 1, explain=explain)
        if result == "none":
            raise PermError(f"redirect of {domain} to {target}, which has no SPF record")
        return result, explanation
    return "neutral", f"no mechanism of {domain} matched"


def _is_spf(text: str) -> bool:
    lowered = text.lower()
    return lowered == "v=spf1" or lowered.startswith("v=spf1 ")


def parse_record(text: str) -> Record:
    """The whole record, or ``PermError`` for the first syntax error (RFC 7208 §4.6)."""
    parsed = _parse_record_cached(text)
    if isinstance(parsed, PermError):
        raise PermError(*parsed.args)
    return parsed


@functools.lru_cache(maxsize=2048)  # every message from a domain brings the same records (and their includes)
def _parse_record_cached(text: str) -> Record | PermError:
    try:
        return _parse_record(text)
    except PermError as exc:
        return exc


def _parse_record(text: str) -> Record:
    directives, modifiers = [], {}
    for term in text.split(" ")[1:]:  # terms are separated by spaces only: a tab or CR is no separator (§4.6.1)
        if not term:
            continue
        if match := _MODIFIER.fullmatch(term):
            name, value = match.group(1).lower(), match.group(2)
            _tokens(value, exp=False)
            if name in ("redirect", "exp"):
                if name in modifiers:
                    raise PermError(f"{name}= appears twice")
                modifiers[name] = _domain_spec(value)
        elif match := _DIRECTIVE.fullmatch(term):
            directives.append(_parse_directive(term, *match.groups()))
        else:
            raise PermError(f"cannot read {term[:60]!r}")
    return Record(tuple(directives), modifiers.get("redirect"), modifiers.get("exp"))


def _parse_directive(term: str, qualifier: str, name: str, rest: str) -> Directive:
    qualifier, name = qualifier or "+", name.lower()
    if name == "all" and not rest:
        return Directive(term, qualifier, name)
    if name in ("include", "exists") and rest.startswith(":"):
        return Directive(term, qualifier, name, _domain_spec(rest[1:]))
    if name in ("a", "mx"):
        cidr = _DUAL_CIDR.search(rest)
        cidr4, cidr6 = int(cidr.group(1) or 32), int(cidr.group(2) or 128)
        head = rest[: cidr.start()]
        if cidr4 <= 32 and cidr6 <= 128 and (not head or head.startswith(":")):
            spec = _domain_spec(head[1:]) if head else None
            return Directive(term, qualifier, name, spec, cidr4=cidr4, cidr6=cidr6)
    if name == "ptr" and (not rest or rest.startswith(":")):
        return Directive(term, qualifier, name, _domain_spec(rest[1:]) if rest else None)
    if name in ("ip4", "ip6") and rest.startswith(":"):
        return Directive(term, qualifier, name, network=_network(name, rest[1:]))
    raise PermError(f"cannot read {term[:60]!r}")


def _domain_spec(spec: str) -> str:
    if not spec:
        raise PermError("empty domain-spec")
    _tokens(spec, exp=False)
    if not _DOMAIN_END.search(spec):
        raise PermError(f"{spec[:60]!r} does not end in a top-level domain or a macro")
    return spec


def _network(name: str, value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    address, slash, length = value.partition("/")
    version, longest = (4, 32) if name == "ip4" else (6, 128)
    try:
        if "%" in address or (slash and not _CIDR.fullmatch(length)):
            raise ValueError(value)
        parsed = ipaddress.ip_address(address)
        prefix = int(length) if slash else longest
        if parsed.version != version or prefix > longest:
            raise ValueError(value)
        return ipaddress.ip_network((parsed, prefix), strict=False)
    except ValueError:
        raise PermError(f"{name}:{value[:60]} is not a network") from None


def _matches(ctx: _Context, directive: Directive, domain: str, depth: int) -> bool:
    mechanism = directive.mechanism
    if mechanism == "all":
        return True
    if mechanism in ("ip4", "ip6"):
        return ctx.ip in directive.network
    ctx.count_dns_term()
    if mechanism == "include":
        target = _target(ctx, directive.domain_spec, domain)
        if target is None:
            raise PermError(f"{directive.term} does not name a domain")
        result, _ = _check_host(ctx, target, depth=depth + 1, explain=False)
        if result == "none":
            raise PermError(f"include:{target} has no SPF record")
        return result == "pass"  # temperror and permerror came out as exceptions
    target = _target(ctx, directive.domain_spec, domain) if directive.domain_spec else domain
    if target is None:
        return False
    if mechanism == "a":
        return _in_any(ctx.ip, ctx.addresses(target), directive)
    if mechanism == "mx":
        return _matches_mx(ctx, target, directive)
    if mechanism == "ptr":
        return any(_is_within(name, target) for name in _validated_names(ctx, void_counts=True))
    return bool(ctx.query(target, "A"))  # exists: always an A query, whatever the client's IP version


def _matches_mx(ctx: _Context, target: str, directive: Directive) -> bool:
    hosts = [r.exchange.to_text(omit_final_dot=True) for r in ctx.query(target, "MX")]
    hosts = [host for host in hosts if host not in ("", ".")]
    if len(hosts) > MAX_NAMES_PER_MECHANISM:
        raise PermError(f"{target} has more than {MAX_NAMES_PER_MECHANISM} MX records")
    for host in hosts:
        try:
            if _in_any(ctx.ip, ctx.addresses(host, void_counts=False), directive):
                return True
        except InvalidName:
            continue
    return False


def _in_any(ip, addresses: list, directive: Directive) -> bool:
    """Whether ``ip`` shares its first cidr4 (or cidr6) bits with one of ``addresses`` (of its version)."""
    shift = ip.max_prefixlen - (directive.cidr4 if ip.version == 4 else directive.cidr6)
    network = int(ip) >> shift
    return any(address.version == ip.version and int(address) >> shift == network for address in addresses)


def _validated_names(ctx: _Context, *, void_counts: bool = False) -> list[str]:
    """Names of the client's PTR records that resolve back to it (§5.5); DNS errors just skip a name."""
    try:
        answer = ctx.query(dns.reversename.from_address(str(ctx.ip)).to_text(), "PTR", void_counts=void_counts)
    except TempError:
        return []
    validated = []
    for record in answer[:MAX_NAMES_PER_MECHANISM]:
        name = record.target.to_text(omit_final_dot=True).lower()
        try:
            if ctx.ip in ctx.addresses(name, void_counts=False):
                validated.append(name)
        except (TempError, InvalidName):
            continue
    return validated


def _is_within(name: str, domain: str) -> bool:
    name, domain = name.lower().rstrip("."), domain.lower().rstrip(".")
    return name == domain or name.endswith("." + domain)


def _target(ctx: _Context, spec: str, domain: str) -> str | None:
    """A domain-spec expanded into a name to look up (§7.3: long names lose labels on the left)."""
    name = _expand(ctx, spec, domain, exp=False).rstrip(".")
    while len(name) > MAX_DOMAIN_LENGTH and "." in name:
        name = name.split(".", 1)[1]
    try:
        dns_name(name)
    except InvalidName:
        return None
    return name


def _explain(ctx: _Context, spec: str, domain: str) -> str:
    """The published explanation (exp=), or "" when there is none usable; never an error (§6.2)."""
    try:
        target = _target(ctx, spec, domain)
        texts = ctx.txt(target) if target else []
        return _expand(ctx, texts[0], domain, exp=True) if len(texts) == 1 else ""
    except (PermError, TempError, InvalidName):
        return ""


def _tokens(text: str, *, exp: bool) -> list[str | re.Match]:
    """Literals and macro matches of a macro-string, or ``PermError``."""
    letters, literal = (_EXP_LETTERS, _EXP_LITERAL) if exp else (_DOMAIN_LETTERS, _LITERAL)
    tokens, position = [], 0
    while position < len(text):
        percent = text.find("%", position)
        chunk = text[position : len(text) if percent < 0 else percent]
        if not literal.fullmatch(chunk):
            raise PermError(f"{text[:60]!r} holds characters a macro-string cannot")
        tokens.append(chunk)
        if percent < 0:
            break
        match = _MACRO.match(text, percent)
        if not match or (match.group(1) and match.group(1).lower() not in letters):
            raise PermError(f"bad macro in {text[:60]!r}")
        if match.group(2) and int(match.group(2)) == 0:
            raise PermError(f"a macro keeps zero labels in {text[:60]!r}")
        tokens.append(match)
        position = match.end()
    return tokens


def _expand(ctx: _Context, text: str, domain: str, *, exp: bool) -> str:
    out = []
    for token in _tokens(text, exp=exp):
        if isinstance(token, str):
            out.append(token)
        elif token.group(5):
            out.append({"%": "%", "_": " ", "-": "%20"}[token.group(5)])
        else:
            letter, digits, reverse, delimiters = token.groups()[:4]
            value = _macro_value(ctx, letter.lower(), domain)
            parts = re.split("[" + re.escape(delimiters or ".") + "]", value)
            if reverse:
                parts.reverse()
            if digits:
                parts = parts[-int(digits) :]
            value = ".".join(parts)
            out.append(urllib.parse.quote(value, safe="-._~") if letter.isupper() else value)
    return "".join(out)


def _macro_value(ctx: _Context, letter: str, domain: str) -> str:
    ctx.letters.add(letter)
    ip = ctx.ip
    match letter:
        case "s":
            return ctx.sender
        case "l":
            return ctx.local
        case "o":
            return ctx.sender_domain
        case "d":
            return domain
        case "i" if ip.version == 4:
            return str(ip)
        case "i":  # nibbles in capitals, as the OpenSPF suites expect them in explanations (DNS ignores case)
            return ".".join(ip.exploded.replace(":", "").upper())
        case "c":
            return str(ip)
        case "v":
            return "in-addr" if ip.version == 4 else "ip6"
        case "h":
            return ctx.helo
        case "p":
            names = _validated_names(ctx)
            within = [name for name in names if _is_within(name, domain)]
            return (within or names or ["unknown"])[0]
        case "r":
            return settings.MAIL_HOSTNAME
        case "t":
            return str(int(time.time()))
    raise PermError(f"unknown macro letter {letter}")  # unreachable: _tokens checks the letters
