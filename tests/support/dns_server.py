"""A real DNS server on loopback serving a test zone (dnslib), for MX/SPF/DKIM/DMARC lookups.

Records are added while the server runs. A name that has no record of the
asked type but has others answers NOERROR with no data (so MX falls back to
A, as RFC 5321 wants); an unknown name answers NXDOMAIN.
"""

import errno
import threading
from collections import defaultdict

from dnslib import QTYPE, RCODE, RR
from dnslib.server import DNSLogger, DNSServer


class ZoneResolver:
    def __init__(self):
        self._records: dict[str, list[RR]] = defaultdict(list)
        self._servfail: set[str] = set()
        self._lock = threading.Lock()
        self.queries: list[tuple[str, str]] = []

    def add(self, zone_line: str) -> None:
        """One record in zone-file form: ``example.org. 300 IN MX 10 mx.example.org.``."""
        with self._lock:
            for rr in RR.fromZone(zone_line):
                self._records[str(rr.rname).lower()].append(rr)

    def servfail(self, name: str) -> None:
        self._servfail.add(name.rstrip(".").lower() + ".")

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
        if qname in self._servfail:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        with self._lock:
            records = list(self._records.get(qname, []))
        if not records:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for rr in records:
            if QTYPE[rr.rtype] == qtype or (QTYPE[rr.rtype] == "CNAME" and qtype != "CNAME"):
                reply.add_answer(rr)
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
