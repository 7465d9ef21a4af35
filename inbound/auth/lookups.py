"""DNS for sender authentication: one resolver (``core.dns``), one cache per message, typed failures.

Every answer is a list: empty when the name does not exist (NXDOMAIN) or has no
record of that type, which SPF counts as a "void lookup". A lookup that could
not be completed (timeout, SERVFAIL, refused, time budget spent) raises
``TempError``; a name that cannot be put on the wire raises ``InvalidName``.
"""

import contextlib
import functools
import math
import re
import threading
import time
from collections import OrderedDict

import dns.exception
import dns.name
import dns.resolver

from core.dns import get_resolver
from core.simulator import is_simulator_domain

_LDH_LABEL = re.compile(r"[A-Za-z0-9_-]+")


class TempError(Exception):
    """The DNS could not answer now; asking again later may work."""


class InvalidName(Exception):
    """Not something that can be looked up: empty label, label over 63 octets, control characters…"""


# A space is a valid octet in a DNS label (an SPF macro can expand to one); control characters and other
# white space are not.
_UNUSABLE_IN_NAME = re.compile(r"[\x00-\x1f\x7f]|(?! )\s")


@functools.lru_cache(maxsize=8192)  # the same few names are asked for every message; Name is immutable
def dns_name(name: str) -> dns.name.Name:
    """``name`` as an absolute DNS name (IDNA-encoded when it is not ASCII), or ``InvalidName``."""
    if not name or _UNUSABLE_IN_NAME.search(name):
        raise InvalidName(f"{name!r} is not a domain name")
    try:
        parsed = dns.name.from_text(name)
    except (dns.exception.DNSException, UnicodeError, ValueError) as exc:
        raise InvalidName(f"{name!r} is not a domain name: {exc}") from exc
    if parsed == dns.name.root:
        raise InvalidName("the root is not a domain name")
    return parsed


@functools.lru_cache(maxsize=4096)  # asked for every message's HELO and domains; a pure function of the text
def is_multi_label_domain(name: str) -> bool:
    try:
        return len(dns_name(name.rstrip(".")).labels) >= 3  # two labels and the root
    except InvalidName:
        return False


@functools.lru_cache(maxsize=4096)
def is_hostname(name: str) -> bool:
    """A multi-label name of letters, digits, hyphens and underscores: what a mail domain can be."""
    return is_multi_label_domain(name) and all(_LDH_LABEL.fullmatch(label) for label in name.rstrip(".").split("."))


class Expiry:
    """The earliest moment (``time.time()``) at which an answer looked up while watching goes stale."""

    def __init__(self):
        self.at = math.inf

    def remaining(self) -> float:
        return self.at - time.time()


class Lookups:
    """Answers for one message. Failures are cached too, so a name that timed out is not waited on twice."""

    def __init__(self):
        self._cache: dict[tuple[str, str], list | TempError] = {}
        self._expiry: dict[tuple[str, str], float] = {}  # when each answer's TTL runs out (inf: unknown)
        self._watchers: list[Expiry] = []

    @contextlib.contextmanager
    def watch_expiry(self):
        """``with lookups.watch_expiry() as expiry:`` ``expiry.at`` is when the first answer used in the block
        goes stale (its DNS TTL; answered from this object's cache too). NXDOMAIN answers leave it unbounded:
        whoever keeps what it computed must cap the time itself. A lookup that failed, even one whose
        TempError was caught, makes it -inf: nothing computed from it is to be kept."""
        expiry = Expiry()
        self._watchers.append(expiry)
        try:
            yield expiry
        finally:
            self._watchers.pop()

    def query(self, name: str, rdtype: str, *, deadline: float | None = None) -> list:
        qname = dns_name(name)
        key = (qname.to_text().lower(), rdtype)
        if key not in self._cache:
            lifetime = get_resolver().lifetime
            if deadline is not None:
                lifetime = min(lifetime, deadline - time.monotonic())
                if lifetime <= 0:  # not cached: it says nothing about the name, only about this caller
                    for watcher in self._watchers:  # nor is what is computed from its absence
                        watcher.at = -math.inf
                    raise TempError(f"time budget spent before looking up {qname} {rdtype}")
            self._cache[key], self._expiry[key] = self._ask(qname, rdtype, lifetime)
        answer = self._cache[key]
        for watcher in self._watchers:
            watcher.at = min(watcher.at, self._expiry[key])
        if isinstance(answer, TempError):
            raise TempError(str(answer))
        return answer

    def txt(self, name: str, *, deadline: float | None = None) -> list[bytes]:
        """Each TXT record with its character-strings joined, as RFC 7208 §3.3 and RFC 6376 §3.6.2.2 say."""
        return [b"".join(r.strings) for r in self.query(name, "TXT", deadline=deadline)]

    @staticmethod
    def _ask(qname: dns.name.Name, rdtype: str, lifetime: float) -> tuple[list | TempError, float]:
        """The answer (or the failure) and when it goes stale."""
        if is_simulator_domain(qname.to_text()):  # the mailbox simulator's names exist nowhere: never asked
            return [], math.inf
        try:
            answer = get_resolver().resolve(qname, rdtype, search=False, raise_on_no_answer=False, lifetime=lifetime)
        except dns.resolver.NXDOMAIN:
            return [], math.inf
        except dns.exception.DNSException as exc:  # SERVFAIL/REFUSED (NoNameservers), timeouts, bad replies
            return TempError(f"DNS lookup of {qname} {rdtype} failed: {exc.__class__.__name__}"), -math.inf
        records = list(answer.rrset) if answer.rrset is not None else []
        return records, float(getattr(answer, "expiration", math.inf))


class ResultCache:
    """A bounded LRU of results that expire; thread-safe (the MX and threaded workers share it)."""

    def __init__(self, max_size: int):
        self.max_size = max_size
        self._entries: OrderedDict[tuple, tuple[object, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple):
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[1] <= time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: tuple, value, ttl: float) -> None:
        if ttl <= 0:
            return
        with self._lock:
            self._entries[key] = (value, time.monotonic() + ttl)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
