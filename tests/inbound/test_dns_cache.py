"""The resolver caches answers (the same SPF/DMARC queries repeat for every message from a sender)."""

import dns.resolver
import pytest

from core.dns import flush_dns_cache, get_resolver


def test_an_answer_is_served_from_the_cache_after_the_server_forgot_it(dns_server):
    dns_server.resolver.add('cached.example. 300 IN TXT "v=spf1 -all"')
    assert get_resolver().resolve("cached.example.", "TXT")[0].strings == (b"v=spf1 -all",)

    dns_server.resolver.clear()

    assert get_resolver().resolve("cached.example.", "TXT")[0].strings == (b"v=spf1 -all",)
    flush_dns_cache()
    with pytest.raises(dns.resolver.NXDOMAIN):
        get_resolver().resolve("cached.example.", "TXT")


def test_each_test_starts_with_an_empty_cache_part_one(dns_server):
    dns_server.resolver.add('stale.example. 300 IN TXT "first test"')
    assert get_resolver().resolve("stale.example.", "TXT")[0].strings == (b"first test",)


def test_each_test_starts_with_an_empty_cache_part_two(dns_server):
    # Part one cached stale.example; the _loopback_network fixture flushed it before this test.
    dns_server.resolver.add('stale.example. 300 IN TXT "second test"')
    assert get_resolver().resolve("stale.example.", "TXT")[0].strings == (b"second test",)
