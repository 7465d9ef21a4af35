"""A real DNS server on loopback serving a test zone (dnslib), for MX/SPF/DKIM/DMARC lookups.

Records are added while the server runs. A name that has no record of the
asked type but has others answers NOERROR with no data (so MX falls back to
A, as RFC 5321 wants); an unknown name answers NXDOMAIN. A CNAME is followed
within the zone, as a recursive server would, so the answer holds the target's
records too. ``servfail()`` makes a name (or only some of its types) fail, as
a broken or timing-out authoritative server looks to a stub resolver.
"""

import errno
import threading
from collections import defaultdict

from dnslib import AAAA, CNAME, MX, PTR, QTYPE, RCODE, RR, TXT, A
from dnslib.server import DNSLogger, DNSServer


class ZoneResolver:
    def __init__(self):
        self._records: dict[str, list[RR]] = defaultdict(list)
        self._servfail: dict[str, frozenset[str]] = {}  # name → the types still answered
        self._lock = threading.Lock()
        self.queries: list[tuple[str, str]] = []

    def add(self, zone_line: str) -> None:
        """One record in zone-file form: ``example.org. 300 IN MX 10 mx.example.org.``."""
        with self._lock:
            for rr in RR.fromZone(zone_line):
                self._records[str(rr.rname).lower()].append(rr)

    def add_record(self, name: str, rtype: str, value, ttl: int = 300) -> None:
        """One record from Python values, for data that zone-file syntax cannot carry (raw TXT bytes, odd names).

        ``value``: an address for A/AAAA, a name for CNAME/PTR, ``(preference, name)`` for MX, and for TXT and
        SPF (type 99, the same wire format) one ``bytes`` string or a list of them (several character-strings).
        """
        match rtype:
            case "A":
                rdata = A(value)
            case "AAAA":
                rdata = AAAA(value)
            case "CNAME":
                rdata = CNAME(value)
            case "PTR":
                rdata = PTR(value)
            case "MX":
                preference, exchange = value
                rdata = MX(exchange, preference)
            case "TXT" | "SPF":
                rdata = TXT([value] if isinstance(value, bytes) else list(value))
            case _:
                raise ValueError(f"add_record does not know {rtype}")
        rr = RR(name, getattr(QTYPE, rtype), rdata=rdata, ttl=ttl)
        with self._lock:
            self._records[str(rr.rname).lower()].append(rr)

    def servfail(self, name: str, *, except_types: tuple[str, ...] = ()) -> None:
        """Answer SERVFAIL for ``name``, except for the record types listed (those are answered as usual)."""
        with self._lock:
            self._servfail[name.rstrip(".").lower() + "."] = frozenset(except_types)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._servfail.clear()
            self.queries.clear()

    def resolve(self, request, handler):
        reply = request.reply()
        qname = str(request.q.qname).lower()
        qtype = QTYPE[request.q.qtype]
        self.queries.append((qname, qtype))
        with self._lock:
            answered = self._servfail.get(qname)
            if answered is not None and qtype not in answered:
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            records = list(self._records.get(qname, []))
            if not records:
                reply.header.rcode = RCODE.NXDOMAIN
                return reply
            seen = {qname}
            while records:
                cname = None
                for rr in records:
                    if QTYPE[rr.rtype] == qtype or (QTYPE[rr.rtype] == "CNAME" and qtype != "CNAME"):
                        reply.add_answer(rr)
                        if QTYPE[rr.rtype] == "CNAME" and qtype != "CNAME":
                            cname = str(rr.rdata.label).lower()
                if cname is None or cname in seen:
                    break
                if cname in self._servfail and qtype not in self._servfail[cname]:
                    reply.header.rcode = RCODE.SERVFAIL
                    break
                seen.add(cname)
                records = list(self._records.get(cname, []))
        return reply


class LoopbackDNS:
    """UDP and TCP DNS on 127.0.0.1 at a free port; ``nameserver`` is the ``DNS_NAMESERVERS`` value."""

    def __init__(self):
        self.resolver = ZoneResolver()
        logger = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
        # The UDP port is free for UDP only: its TCP twin may be some client's
        # ephemeral port (benchmarks open thousands), so try a few.
        for attempt in range(20):
            self.udp = DNSServer(self.resolver, address="127.0.0.1", port=0, logger=logger)
            port = self.udp.server.server_address[1]
            try:
                self.tcp = DNSServer(self.resolver, address="127.0.0.1", port=port, tcp=True, logger=logger)
            except OSError as error:
                self.udp.server.server_close()
                if error.errno != errno.EADDRINUSE or attempt == 19:
                    raise
                continue
            break
        self.port = port

    @property
    def nameserver(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "LoopbackDNS":
        self.udp.start_thread()
        self.tcp.start_thread()
        return self

    def stop(self) -> None:
        self.udp.stop()
        self.tcp.stop()
        self.udp.server.server_close()
        self.tcp.server.server_close()
