"""SPF results are kept for the next messages from the same client and domains; nothing else changes."""

import time

import pytest

from core.dns import flush_dns_cache, get_resolver
from inbound.auth import authenticate, spf
from inbound.auth import dmarc as dmarc_module
from inbound.auth.lookups import Lookups

CLIENT = "192.0.2.10"
OUTSIDER = "203.0.113.66"
HELO = "mail.a.example"


@pytest.fixture
def zone(dns_server):
    def add(name: str, rdtype: str, value: str, ttl: int = 300) -> None:
        if rdtype == "TXT":
            value = f'"{value}"'
        dns_server.resolver.add(f"{name}. {ttl} IN {rdtype} {value}")

    return add


def forget_dns(dns_server):
    """The records gone and the resolver's cache flushed: only a kept SPF result can still answer."""
    dns_server.resolver.clear()
    flush_dns_cache()


def check(*, mail_from="alice@a.example", client_ip=CLIENT, helo=HELO):
    results = authenticate(
        raw=b"From: alice@a.example\r\n\r\nHi\r\n", client_ip=client_ip, helo=helo, mail_from=mail_from
    )
    return results.spf, results.helo_spf


def uncached(*, mail_from="alice@a.example", client_ip=CLIENT, helo=HELO):
    spf.clear_cache()
    try:
        return check(mail_from=mail_from, client_ip=client_ip, helo=helo)
    finally:
        spf.clear_cache()


@pytest.mark.parametrize(
    "records",
    [
        [("a.example", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")],
        [("a.example", "TXT", "v=spf1 ip4:198.51.100.0/24 ~all")],
        [("a.example", "TXT", "v=spf1 include:_spf.a.example -all"), ("_spf.a.example", "TXT", "v=spf1 a -all"),
         ("_spf.a.example", "A", "192.0.2.10")],
        [("a.example", "TXT", "v=spf1 mx -all"), ("a.example", "MX", "10 mx.a.example."),
         ("mx.a.example", "A", "192.0.2.10")],
        [("a.example", "TXT", "v=spf1 -all exp=why.a.example"), ("why.a.example", "TXT", "%{i} is not %{d}'s")],
        [("a.example", "TXT", "v=spf1 include:nothing.a.example -all")],  # permerror
        [("a.example", "TXT", "v=spf1 redirect=b.example"), ("b.example", "TXT", "v=spf1 ip4:192.0.2.10 -all")],
        [("mail.a.example", "TXT", "v=spf1 a -all"), ("mail.a.example", "A", "192.0.2.10")],
    ],
)  # fmt: skip
def test_a_kept_result_is_the_result_computed_afresh(zone, dns_server, records):
    for record in records:
        zone(*record)
    fresh = uncached()

    first = check()
    forget_dns(dns_server)
    again = check()

    assert first == again == fresh
    assert len(spf._results) == 2  # MAIL FROM and HELO


def test_another_client_address_domain_or_helo_does_not_share_a_result(zone, dns_server):
    zone("a.example", "TXT", "v=spf1 ip4:192.0.2.10 -all")
    zone("b.example", "TXT", "v=spf1 ip4:203.0.113.66 -all")
    zone("mail.a.example", "TXT", "v=spf1 ip4:192.0.2.10 -all")
    zone("mail.b.example", "TXT", "v=spf1 ip4:203.0.113.66 -all")

    def each_judged_on_its_own_inputs():
        assert check()[0].result == "pass"
        assert check(client_ip=OUTSIDER)[0].result == "fail"
        assert check(mail_from="bob@b.example")[0].result == "fail"
        assert check(mail_from="bob@b.example", client_ip=OUTSIDER)[0].result == "pass"
        assert [r.result for r in check(helo="mail.b.example")] == ["pass", "fail"]
        assert [r.result for r in check(helo="mail.b.example", client_ip=OUTSIDER)] == ["fail", "pass"]

    each_judged_on_its_own_inputs()
    assert check(client_ip="::ffff:192.0.2.10")[0].result == "pass"  # its own entry, the same answer

    forget_dns(dns_server)  # every one of them is kept, each under its own inputs

    each_judged_on_its_own_inputs()


def test_a_result_that_read_the_local_part_is_kept_per_sender(zone, dns_server):
    zone("a.example", "TXT", "v=spf1 exists:%{l}.allowed.a.example -all")
    zone("alice.allowed.a.example", "A", "127.0.0.2")

    assert check(mail_from="alice@a.example")[0].result == "pass"
    assert check(mail_from="bob@a.example")[0].result == "fail"
    assert check(mail_from="alice@a.example")[0].result == "pass"

    forget_dns(dns_server)

    assert check(mail_from="alice@a.example")[0].result == "pass"
    assert check(mail_from="bob@a.example")[0].result == "fail"
    assert check(mail_from="carol@a.example")[0].result == "none"  # not kept: asked, and no record now


def test_an_explanation_with_the_time_is_never_kept(zone, dns_server):
    zone("a.example", "TXT", "v=spf1 -all exp=why.a.example")
    zone("why.a.example", "TXT", "refused at %{t}")

    assert check()[0].explanation.startswith("refused at ")
    forget_dns(dns_server)

    assert check()[0].result == "none"


def test_temperror_is_not_kept(zone, dns_server):
    dns_server.resolver.servfail("a.example")
    assert check()[0].result == "temperror"

    dns_server.resolver.clear()
    zone("a.example", "TXT", "v=spf1 ip4:192.0.2.10 -all")

    assert check()[0].result == "pass"


def test_a_dns_failure_caught_inside_the_evaluation_is_not_kept(zone, dns_server):
    zone("a.example", "TXT", "v=spf1 -all exp=why.a.example")
    dns_server.resolver.servfail("why.a.example")  # the explanation is left out, the result is still fail
    assert check()[0].explanation == "-all of a.example matched"

    dns_server.resolver.clear()
    zone("a.example", "TXT", "v=spf1 -all exp=why.a.example")
    zone("why.a.example", "TXT", "not from here")

    assert check()[0].explanation == "not from here"


def test_a_kept_result_expires_after_result_ttl(zone, dns_server, monkeypatch):
    zone("a.example", "TXT", "v=spf1 ip4:192.0.2.10 -all", ttl=3600)
    assert check()[0].result == "pass"
    forget_dns(dns_server)
    zone("a.example", "TXT", "v=spf1 -all", ttl=3600)

    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + spf.RESULT_TTL - 1)
    assert check()[0].result == "pass"
    monkeypatch.setattr(time, "monotonic", lambda: now + spf.RESULT_TTL + 1)
    assert check()[0].result == "fail"


def test_a_kept_result_expires_with_the_shortest_ttl_it_rests_on(zone, dns_server, monkeypatch):
    zone("a.example", "TXT", "v=spf1 include:_spf.a.example -all", ttl=3600)
    zone("_spf.a.example", "TXT", "v=spf1 ip4:192.0.2.10 -all", ttl=5)
    assert check()[0].result == "pass"
    forget_dns(dns_server)
    zone("a.example", "TXT", "v=spf1 include:_spf.a.example -all", ttl=3600)
    zone("_spf.a.example", "TXT", "v=spf1 -all", ttl=5)

    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + 3)
    assert check()[0].result == "pass"
    monkeypatch.setattr(time, "monotonic", lambda: now + 6)
    assert check()[0].result == "fail"


def test_the_cache_is_bounded_and_forgets_the_least_recently_used(zone, monkeypatch):
    monkeypatch.setattr(spf._results, "max_size", 3)
    zone("a.example", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")
    lookups = Lookups()

    def at(ip):
        return spf.check_host(
            lookups=lookups, client_ip=ip, helo=HELO, domain="a.example", sender="a@a.example", scope="mailfrom"
        )

    for n in range(1, 4):
        at(f"192.0.2.{n}")
    at("192.0.2.1")  # used again: the oldest is now .2
    at("192.0.2.4")

    assert len(spf._results) == 3
    assert spf._results.get((get_resolver(), "192.0.2.2", "mailfrom", "a.example", HELO)) is None
    assert spf._results.get((get_resolver(), "192.0.2.1", "mailfrom", "a.example", HELO)).result == "pass"


# --- DMARC ---------------------------------------------------------------------------------------


def dmarc(from_domain="a.example"):
    raw = f"From: Alice <alice@{from_domain}>\r\nSubject: x\r\n\r\nHi\r\n".encode()
    return authenticate(raw=raw, client_ip=CLIENT, helo=HELO, mail_from=f"alice@{from_domain}").dmarc


def test_a_kept_dmarc_record_gives_the_result_found_afresh(zone, dns_server):
    zone("_dmarc.a.example", "TXT", "v=DMARC1; p=reject; sp=quarantine")
    fresh_a, fresh_sub = dmarc(), dmarc("sub.a.example")
    spf.clear_cache()
    dmarc_module.clear_cache()

    first_a, first_sub = dmarc(), dmarc("sub.a.example")
    forget_dns(dns_server)

    assert dmarc() == first_a == fresh_a
    assert dmarc("sub.a.example") == first_sub == fresh_sub
    assert (fresh_a.result, fresh_a.disposition, fresh_sub.disposition) == ("fail", "reject", "quarantine")


def test_another_from_domain_does_not_share_a_dmarc_record(zone, dns_server):
    zone("_dmarc.a.example", "TXT", "v=DMARC1; p=reject")
    zone("_dmarc.b.example", "TXT", "v=DMARC1; p=none")
    assert (dmarc().policy, dmarc("b.example").policy, dmarc("c.example").result) == ("reject", "none", "none")

    forget_dns(dns_server)

    assert (dmarc().policy, dmarc("b.example").policy, dmarc("c.example").result) == ("reject", "none", "none")


def test_a_dmarc_lookup_that_failed_is_not_kept(zone, dns_server):
    dns_server.resolver.servfail("_dmarc.a.example")
    assert dmarc().result == "temperror"

    dns_server.resolver.clear()
    zone("_dmarc.a.example", "TXT", "v=DMARC1; p=reject")

    assert dmarc().disposition == "reject"


def test_a_kept_dmarc_record_expires(zone, dns_server, monkeypatch):
    zone("_dmarc.a.example", "TXT", "v=DMARC1; p=reject", ttl=3600)
    assert dmarc().policy == "reject"
    forget_dns(dns_server)
    zone("_dmarc.a.example", "TXT", "v=DMARC1; p=none", ttl=3600)

    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + dmarc_module.DISCOVERY_TTL - 1)
    assert dmarc().policy == "reject"
    monkeypatch.setattr(time, "monotonic", lambda: now + dmarc_module.DISCOVERY_TTL + 1)
    assert dmarc().policy == "none"
