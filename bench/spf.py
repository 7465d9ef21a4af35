"""SPF checks per second: the product's evaluator (with and without its result cache) against pyspf.

    .venv/bin/python bench/spf.py                 # 3,000 checks each way
    .venv/bin/python bench/spf.py --checks 500 --rounds 1    # a quick run

Everything resolves through a loopback DNS server (``tests/support/dns_server.py``) publishing a few
real-looking policies: a sender with includes two levels deep, mx and a; a provider with netblocks;
an ``exists:`` macro policy; a redirect. The inputs (client address, MAIL FROM, HELO) cycle through 60
clients and 4 sender domains, so a receiving MX sees the same pairs again, as it does in production.

Both sides use the same dnspython resolver (``core.dns.get_resolver()``, with its answer cache), warmed by
one pass first, so what is timed is the evaluation, not the loopback round trips. Printed: checks/s for

- **pyspf** 2.0.14 (``spf.check2``), which keeps nothing between checks;
- **ours, no result cache**: ``inbound.auth.spf.check_host`` with its result cache cleared before every check;
- **ours, result cache**: as the inbound pipeline calls it.

and how many checks the two evaluators judged differently (should be 0). pyspf is a bench-only dependency
(requirements-dev.txt). This is a benchmark: it asserts nothing about time.
"""

import argparse
import os
import sys
import time
from pathlib import Path

# The project root instead of bench/, where this file would shadow pyspf's module ``spf``.
sys.path[0] = str(Path(__file__).resolve().parent.parent)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webmail.settings")

import django  # noqa: E402

django.setup()

import dns.resolver  # noqa: E402
import spf as pyspf  # noqa: E402
from django.conf import settings  # noqa: E402

from core.dns import flush_dns_cache, get_resolver  # noqa: E402
from inbound.auth import spf as ours  # noqa: E402
from inbound.auth.lookups import Lookups  # noqa: E402
from tests.support.dns_server import LoopbackDNS  # noqa: E402

ZONE = [
    'bench.example. 300 IN TXT "v=spf1 include:_spf.bench.example include:mail.provider.example mx a:out.bench.example '
    'ip4:198.51.100.0/25 -all"',
    '_spf.bench.example. 300 IN TXT "v=spf1 ip4:203.0.113.0/26 ip6:2001:db8:10::/48 ~all"',
    "bench.example. 300 IN MX 10 mx1.bench.example.",
    "bench.example. 300 IN MX 20 mx2.bench.example.",
    "mx1.bench.example. 300 IN A 192.0.2.10",
    "mx2.bench.example. 300 IN A 192.0.2.11",
    "out.bench.example. 300 IN A 192.0.2.20",
    'mail.provider.example. 300 IN TXT "v=spf1 include:_nb1.provider.example include:_nb2.provider.example ~all"',
    '_nb1.provider.example. 300 IN TXT "v=spf1 ip4:192.0.2.128/27 ip4:192.0.2.160/27 ip4:192.0.2.192/27 '
    'ip6:2001:db8:20::/48 ~all"',
    '_nb2.provider.example. 300 IN TXT "v=spf1 ip4:198.51.100.128/26 ip4:203.0.113.128/26 ~all"',
    'macro.example. 300 IN TXT "v=spf1 exists:%{i}._allow.%{d} -all"',
    "192.0.2.11._allow.macro.example. 300 IN A 127.0.0.2",
    "192.0.2.130._allow.macro.example. 300 IN A 127.0.0.2",
    'redirected.example. 300 IN TXT "v=spf1 redirect=bench.example"',
    'helo.bench.example. 300 IN TXT "v=spf1 a -all"',
    "helo.bench.example. 300 IN A 192.0.2.10",
]
SENDERS = ["alice@bench.example", "bob@macro.example", "carol@redirected.example", "dave@mail.provider.example"]
CLIENTS = [f"192.0.2.{n}" for n in (10, 11, 20, 21, 130, 170, 200, 250)] + [
    f"{net}.{n}" for net in ("198.51.100", "203.0.113") for n in range(1, 230, 9)
]


def inputs(count: int) -> list[tuple[str, str]]:
    pairs = [(client, sender) for client in CLIENTS[:60] for sender in SENDERS]
    return [pairs[i % len(pairs)] for i in range(count)]


def run_pyspf(cases) -> list[str]:
    return [pyspf.check2(i=client, s=sender, h="helo.bench.example")[0] for client, sender in cases]


def run_ours(cases, *, result_cache: bool) -> list[str]:
    results = []
    for client, sender in cases:
        if not result_cache:
            ours.clear_cache()
        result = ours.check_host(
            lookups=Lookups(),
            client_ip=client,
            helo="helo.bench.example",
            domain=sender.rpartition("@")[2],
            sender=sender,
            scope="mailfrom",
        )
        results.append(result.result)
    return results


def timed(run, cases) -> tuple[float, list[str]]:
    started = time.perf_counter()
    results = run(cases)
    return len(cases) / (time.perf_counter() - started), results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    server = LoopbackDNS().start()
    try:
        for line in ZONE:
            server.resolver.add(line)
        settings.DNS_NAMESERVERS = [server.nameserver]
        flush_dns_cache()
        dns.resolver.default_resolver = get_resolver()  # pyspf asks dnspython's default resolver: the same one
        cases = inputs(args.checks)
        warm = inputs(len(CLIENTS) * len(SENDERS))
        run_pyspf(warm), run_ours(warm, result_cache=False)  # every answer in the resolver's cache
        evaluators = {
            "pyspf 2.0.14": run_pyspf,
            "ours, no result cache": lambda c: run_ours(c, result_cache=False),
            "ours, result cache": lambda c: (ours.clear_cache(), run_ours(c, result_cache=True))[1],
        }
        best = dict.fromkeys(evaluators, 0.0)
        judged = {}
        for _ in range(args.rounds):  # taken in turns, best of the rounds: other load on the machine hits all alike
            for name, run in evaluators.items():
                rate, judged[name] = timed(run, cases)
                best[name] = max(best[name], rate)
        reference = judged["pyspf 2.0.14"]
        print(f"{len(cases)} checks, {len(set(cases))} distinct (client, sender) pairs, DNS answers cached")
        print(f"best of {args.rounds} rounds taken in turns")
        print(f"{'evaluator':24} {'checks/s':>10} {'differ from pyspf':>18}")
        for name in evaluators:
            differ = sum(a != b for a, b in zip(judged[name], reference, strict=True))
            print(f"{name:24} {best[name]:10,.0f} {differ:18}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
