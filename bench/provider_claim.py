#!/usr/bin/env python
"""What knowing each destination's provider costs the engine's claim (docs/PROVIDER-SHAPING.md).

    python bench/provider_claim.py                 # SQLite (a throwaway test database)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/webmail_bench python bench/provider_claim.py

A claim of ``--recipients`` due recipients on as many distinct domains (half
with Gmail's MX, half another provider's, in a loopback DNS server) is taken
``--runs`` times, each inside a transaction rolled back afterwards, so every
run claims the same rows. Compared:

- **no provider shaping**: the claim as it was before (the per-provider part
  of ``_Throttle`` switched off), the baseline;
- **shaping, cache cold**: ``known_providers`` (name list and in-process
  cache only, no DNS) with an empty cache: every domain counts as "other";
- **shaping, cache warm**: the same once the transport has remembered each
  domain's provider (the steady state);
- **DNS in the claim, cold / warm**: the alternative rejected, resolving each
  distinct domain through ``provider_for_domain`` inside the claim's
  transaction, with the resolver's and the provider caches emptied before
  each run (cold) or kept (warm).

A benchmark, not a test: it asserts nothing about time.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webmail.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=300)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    from tests.support.dns_server import LoopbackDNS

    dns = LoopbackDNS().start()
    try:
        from core import providers
        from core.dns import flush_dns_cache
        from delivery.services import engine, send_message, shaping
        from delivery.services.engine import RunReport, claim_due_recipients
        from tests.factories import UserFactory

        settings.DNS_NAMESERVERS = [dns.nameserver]
        settings.OUTBOUND_BATCH_SIZE = args.recipients
        for setting in ("OUTBOUND_DOMAIN_RATE_PER_MINUTE", "OUTBOUND_SENDER_RATE_PER_MINUTE"):
            setattr(settings, setting, 10**9)
        dns.resolver.add("gmail-smtp-in.l.google.com. 300 IN A 127.0.0.1")
        dns.resolver.add("mx.other.test. 300 IN A 127.0.0.1")
        domains = [f"d{i}.bench.test" for i in range(args.recipients)]
        for i, domain in enumerate(domains):
            mx = "gmail-smtp-in.l.google.com." if i % 2 == 0 else "mx.other.test."
            dns.resolver.add(f"{domain}. 300 IN MX 10 {mx}")
        user = UserFactory(address="bench@example.test")
        for start in range(0, len(domains), 100):
            send_message(user=user, to=[f"user@{d}" for d in domains[start : start + 100]], text="x")
        for profile in shaping.DEFAULT_PROFILES.values():
            object.__setattr__(profile, "messages_per_minute", 10**9)

        def claim_once() -> tuple[float, int, int]:
            with transaction.atomic():
                with CaptureQueriesContext(connection) as queries:
                    started = time.perf_counter()
                    claim = claim_due_recipients(message_id=None, queue=None, limit=args.recipients, report=RunReport())
                    elapsed = time.perf_counter() - started
                transaction.set_rollback(True)
            return elapsed, len(queries), len(claim.recipients)

        original_shape = engine._Throttle._shape_by_provider
        original_known = shaping.known_providers

        def no_shaping(self, domains, workers, recent_by_domain, now):
            self.providers, self.backoffs, self.wait_until, self.provider_room = {}, {}, {}, {}
            self.taken_by_provider = engine.Counter()

        def dns_in_claim(domains):
            return {d: providers.provider_for_domain(d) for d in domains}

        def measure(name, *, shape, known, before=None):
            engine._Throttle._shape_by_provider = shape
            shaping.known_providers = known
            times, counts = [], set()
            for _ in range(args.runs):
                if before:
                    before()
                elapsed, queries, claimed = claim_once()
                times.append(elapsed * 1000)
                counts.add((queries, claimed))
            engine._Throttle._shape_by_provider, shaping.known_providers = original_shape, original_known
            [(queries, claimed)] = counts
            print(
                f"{name:28s} median {statistics.median(times):7.1f} ms   max {max(times):7.1f} ms   "
                f"{queries} queries   {claimed} claimed"
            )

        def cold():
            providers.clear_cache()
            flush_dns_cache()

        print(f"{connection.vendor}, {args.recipients} recipients on as many domains, {args.runs} runs each")
        measure("no provider shaping", shape=no_shaping, known=original_known)
        measure("shaping, cache cold", shape=original_shape, known=original_known, before=cold)
        for domain in domains:  # what the transport remembers from the MX it resolves
            providers.remember_provider(domain, providers.provider_for_domain(domain))
        measure("shaping, cache warm", shape=original_shape, known=original_known)
        measure("DNS in the claim, cold", shape=original_shape, known=dns_in_claim, before=cold)
        measure("DNS in the claim, warm", shape=original_shape, known=dns_in_claim)
    finally:
        dns.stop()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
