"""SPF, DKIM and DMARC of inbound mail, against a real DNS server on loopback (tests/support/dns_server.py).

The sender's world in these tests: ``a.example`` sends from 192.0.2.0/24 and signs with selector
``s1``; the MX evaluating them is ``mx.example.org``.
"""

import json
import re

import dkim
import pytest

from accounts.dkim import generate_private_key_pem, public_key_base64
from inbound.auth import AuthenticationResults, DKIMResult, DMARCResult, SPFResult, authenticate
from inbound.auth.dmarc import organizational_domain

CLIENT = "192.0.2.10"
OUTSIDER = "203.0.113.66"
HELO = "mail.a.example"


@pytest.fixture(scope="module")
def key_pem():
    return generate_private_key_pem()


@pytest.fixture(scope="module")
def other_key_pem():
    return generate_private_key_pem()


@pytest.fixture
def zone(dns_server):
    """``zone("name", "TXT", "value")`` publishes one record; TXT values are quoted and split as needed."""

    def add(name: str, rdtype: str, value: str) -> None:
        if rdtype == "TXT":
            value = " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))
        dns_server.resolver.add(f"{name}. 300 IN {rdtype} {value}")

    return add


def message(from_: str = "Alice <alice@a.example>", body: str = "See you at noon.\r\n", headers: str = "") -> bytes:
    return (
        f"From: {from_}\r\nTo: bob@example.org\r\nSubject: Lunch\r\n"
        f"Message-ID: <lunch-1@a.example>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n{headers}\r\n{body}"
    ).encode()


def signed(raw: bytes, pem: str, *, domain: str = "a.example", selector: str = "s1") -> bytes:
    signature = dkim.sign(
        raw, selector.encode(), domain.encode(), pem.encode(), include_headers=[b"from", b"to", b"subject"]
    )
    return signature + raw


def publish_key(zone, pem: str, *, domain: str = "a.example", selector: str = "s1") -> None:
    zone(f"{selector}._domainkey.{domain}", "TXT", f"v=DKIM1; k=rsa; p={public_key_base64(pem)}")


def check(raw: bytes = b"", *, mail_from: str = "alice@a.example", client_ip: str = CLIENT, helo: str = HELO):
    return authenticate(raw=raw or message(), client_ip=client_ip, helo=helo, mail_from=mail_from)


# --- SPF -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ("v=spf1 ip4:192.0.2.0/24 -all", "pass"),
        ("v=spf1 ip4:198.51.100.0/24 -all", "fail"),
        ("v=spf1 ip4:198.51.100.0/24 ~all", "softfail"),
        ("v=spf1 ip4:198.51.100.0/24 ?all", "neutral"),
        ("v=spf1 ip4:198.51.100.0/24", "neutral"),
        ("v=spf1 -ip4:192.0.2.10 +all", "fail"),
        ("V=SPF1 IP4:192.0.2.0/24 -ALL", "pass"),
    ],
)
def test_spf_result_is_the_qualifier_of_the_first_matching_mechanism(zone, record, expected):
    zone("a.example", "TXT", record)

    spf = check().spf

    assert (spf.result, spf.domain, spf.scope) == (expected, "a.example", "mailfrom")


def test_spf_is_none_when_the_domain_publishes_no_spf_record(zone):
    zone("a.example", "TXT", "google-site-verification=abc")

    assert check().spf.result == "none"
    assert check(mail_from="alice@nowhere.example").spf.result == "none"


def test_spf_is_permerror_when_two_spf_records_are_published(zone):
    zone("a.example", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")
    zone("a.example", "TXT", "v=spf1 -all")

    spf = check().spf

    assert spf.result == "permerror"
    assert "2 SPF records" in spf.explanation


def test_spf_is_permerror_past_ten_dns_lookups(zone):
    zone("a.example", "TXT", "v=spf1 " + " ".join(f"include:i{n}.a.example" for n in range(11)) + " -all")
    for n in range(11):
        zone(f"i{n}.a.example", "TXT", "v=spf1 ip4:198.51.100.1 -all")

    spf = check().spf

    assert spf.result == "permerror"
    assert "more than 10" in spf.explanation


def test_spf_ten_dns_lookups_are_still_allowed(zone):
    zone("a.example", "TXT", "v=spf1 " + " ".join(f"include:i{n}.a.example" for n in range(10)) + " -all")
    for n in range(9):
        zone(f"i{n}.a.example", "TXT", f"v=spf1 ip4:198.51.100.{n} -all")
    zone("i9.a.example", "TXT", "v=spf1 ip4:192.0.2.10 -all")

    assert check().spf.result == "pass"


def test_spf_is_permerror_past_two_void_lookups(zone):
    zone("a.example", "TXT", "v=spf1 a:n1.a.example a:n2.a.example a:n3.a.example ip4:192.0.2.0/24 -all")

    spf = check().spf

    assert spf.result == "permerror"
    assert "found nothing" in spf.explanation


def test_spf_is_temperror_when_the_record_lookup_fails(dns_server):
    dns_server.resolver.servfail("a.example")

    assert check().spf.result == "temperror"


def test_spf_is_temperror_when_an_include_lookup_fails(zone, dns_server):
    zone("a.example", "TXT", "v=spf1 include:_spf.a.example -all")
    dns_server.resolver.servfail("_spf.a.example")

    assert check().spf.result == "temperror"


def test_spf_is_temperror_and_authenticate_returns_when_no_dns_server_answers(settings):
    settings.DNS_NAMESERVERS = ["127.0.0.1:9"]  # discard port: nothing answers
    settings.DNS_TIMEOUT = 0.5

    results = check()

    assert results.spf.result == "temperror"
    assert results.dmarc.result == "temperror"


def test_spf_include_matches_when_the_included_record_passes(zone):
    zone("a.example", "TXT", "v=spf1 include:_spf.esp.example -all")
    zone("_spf.esp.example", "TXT", "v=spf1 ip4:192.0.2.0/25 -all")

    assert check().spf.result == "pass"
    assert check(client_ip=OUTSIDER).spf.result == "fail"  # the include's -all only means "no match"


def test_spf_include_of_a_domain_without_spf_is_permerror(zone):
    zone("a.example", "TXT", "v=spf1 include:nothing.example -all")

    assert check().spf.result == "permerror"


def test_spf_include_loop_is_permerror_not_a_crash(zone):
    zone("a.example", "TXT", "v=spf1 include:b.example -all")
    zone("b.example", "TXT", "v=spf1 include:a.example -all")

    assert check().spf.result == "permerror"


def test_spf_redirect_evaluates_the_target_domain_record(zone):
    zone("a.example", "TXT", "v=spf1 redirect=_spf.a.example")
    zone("_spf.a.example", "TXT", "v=spf1 ip4:192.0.2.0/24 ~all")

    assert check().spf.result == "pass"
    assert check(client_ip=OUTSIDER).spf.result == "softfail"


def test_spf_redirect_is_ignored_when_a_mechanism_matches(zone):
    zone("a.example", "TXT", "v=spf1 -all redirect=_spf.a.example")
    zone("_spf.a.example", "TXT", "v=spf1 +all")

    assert check().spf.result == "fail"


def test_spf_redirect_to_a_domain_without_spf_is_permerror(zone):
    zone("a.example", "TXT", "v=spf1 redirect=nothing.example")

    assert check().spf.result == "permerror"


@pytest.mark.parametrize(
    ("client_ip", "expected"),
    [("2001:db8:1::25", "pass"), ("2001:db8:1:ffff::1", "pass"), ("2001:db8:2::25", "fail")],
)
def test_spf_ip6_mechanism_matches_within_its_prefix(zone, client_ip, expected):
    zone("a.example", "TXT", "v=spf1 ip6:2001:db8:1::/48 -all")

    assert check(client_ip=client_ip).spf.result == expected


def test_spf_ip4_mapped_ipv6_client_is_checked_as_ipv4(zone):
    zone("a.example", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")

    assert check(client_ip="::ffff:192.0.2.10").spf.result == "pass"


def test_spf_mx_mechanism_matches_the_addresses_of_the_mx_hosts(zone):
    zone("a.example", "TXT", "v=spf1 mx -all")
    zone("a.example", "MX", "10 mx1.a.example.")
    zone("a.example", "MX", "20 mx2.a.example.")
    zone("mx1.a.example", "A", "198.51.100.1")
    zone("mx2.a.example", "A", "192.0.2.10")

    assert check().spf.result == "pass"
    assert check(client_ip=OUTSIDER).spf.result == "fail"


def test_spf_mx_mechanism_with_a_cidr_covers_the_mx_hosts_network(zone):
    zone("a.example", "TXT", "v=spf1 mx:mail.example/24 -all")
    zone("mail.example", "MX", "10 mx.mail.example.")
    zone("mx.mail.example", "A", "192.0.2.200")

    assert check().spf.result == "pass"


def test_spf_a_mechanism_matches_the_domain_addresses_with_dual_cidr(zone):
    zone("a.example", "TXT", "v=spf1 a/24//64 -all")
    zone("a.example", "A", "192.0.2.1")
    zone("a.example", "AAAA", "2001:db8:5::1")

    assert check().spf.result == "pass"
    assert check(client_ip="2001:db8:5::99").spf.result == "pass"
    assert check(client_ip="2001:db8:6::1").spf.result == "fail"
    assert check(client_ip=OUTSIDER).spf.result == "fail"


def test_spf_a_mechanism_with_a_domain_checks_that_name(zone):
    zone("a.example", "TXT", "v=spf1 a:relay.esp.example -all")
    zone("relay.esp.example", "A", "192.0.2.10")

    assert check().spf.result == "pass"


def test_spf_exists_mechanism_expands_macros(zone):
    zone("a.example", "TXT", "v=spf1 exists:%{l}.%{o}.%{ir}.%{h}._spf.%{d} -all")
    zone("alice.a.example.10.2.0.192.mail.a.example._spf.a.example", "A", "127.0.0.2")

    assert check().spf.result == "pass"
    assert check(mail_from="bob@a.example").spf.result == "fail"


def test_spf_macro_transformers_keep_and_reverse_labels(zone):
    # %{d2} keeps the two rightmost labels; %{s} is the whole sender; %{ir} the reversed address
    zone("sub.a.example", "TXT", "v=spf1 exists:%{d2}.%{ir}.%{v}.x.test -all")
    zone("a.example.10.2.0.192.in-addr.x.test", "A", "127.0.0.2")

    assert check(mail_from="alice@sub.a.example").spf.result == "pass"


def test_spf_macro_for_ipv6_client_uses_nibbles(zone):
    zone("a.example", "TXT", "v=spf1 exists:%{ir}.%{v}._spf.a.example -all")
    nibbles = ".".join(reversed("20010db8000000000000000000000001"))
    zone(f"{nibbles}.ip6._spf.a.example", "A", "127.0.0.2")

    assert check(client_ip="2001:db8::1").spf.result == "pass"


@pytest.mark.parametrize(
    "record",
    [
        "v=spf1 ip4:192.0.2.0/24 bogus:x -all",
        "v=spf1 ip4:999.0.2.0/24 -all",
        "v=spf1 ip4:192.0.2.0/33 -all",
        "v=spf1 ip6:192.0.2.0 -all",
        "v=spf1 a/24/ -all",
        "v=spf1 exists:%{z}.a.example -all",
        "v=spf1 exists:%{d0}.a.example -all",
        "v=spf1 include: -all",
        "v=spf1 -all redirect=a.example redirect=b.example",
        "v=spf1 -all ip4:192.0.2.0/24 unknown:mechanism",
    ],
)
def test_spf_syntax_error_anywhere_in_the_record_is_permerror(zone, record):
    zone("a.example", "TXT", record)

    assert check().spf.result == "permerror"


def test_spf_unknown_modifiers_are_ignored(zone):
    zone("a.example", "TXT", "v=spf1 ip4:192.0.2.0/24 moo=%{d}.cow -all")

    assert check().spf.result == "pass"


def test_spf_fail_carries_the_published_explanation(zone):
    zone("a.example", "TXT", "v=spf1 -all exp=why.a.example")
    zone("why.a.example", "TXT", "%{i} is not one of %{d}'s servers")

    spf = check().spf

    assert spf.result == "fail"
    assert spf.explanation == "192.0.2.10 is not one of a.example's servers"


def test_spf_ptr_mechanism_matches_a_validated_reverse_name(zone):
    zone("a.example", "TXT", "v=spf1 ptr -all")
    zone("10.2.0.192.in-addr.arpa", "PTR", "out1.a.example.")
    zone("out1.a.example", "A", "192.0.2.10")
    zone("66.113.0.203.in-addr.arpa", "PTR", "liar.a.example.")  # does not resolve back
    zone("liar.a.example", "A", "198.51.100.1")

    assert check().spf.result == "pass"
    assert check(client_ip=OUTSIDER).spf.result == "fail"


def test_spf_with_empty_mail_from_checks_postmaster_at_helo(zone):
    zone(HELO, "TXT", "v=spf1 exists:%{l}.%{o}.check.a.example -all")
    zone(f"postmaster.{HELO}.check.a.example", "A", "127.0.0.2")

    results = check(mail_from="<>")

    assert results.spf == SPFResult("pass", HELO, "helo", results.spf.explanation)
    assert results.helo_spf == results.spf


def test_helo_is_checked_separately_from_mail_from(zone):
    zone("a.example", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")
    zone(HELO, "TXT", "v=spf1 -all")

    results = check()

    assert (results.spf.result, results.spf.scope) == ("pass", "mailfrom")
    assert (results.helo_spf.result, results.helo_spf.domain, results.helo_spf.scope) == ("fail", HELO, "helo")


def test_helo_that_is_an_address_literal_or_single_label_is_none():
    assert check(helo="[192.0.2.10]").helo_spf.result == "none"
    assert check(helo="localhost").helo_spf.result == "none"


def test_mail_from_without_local_part_or_domain_is_handled(zone):
    zone("a.example", "TXT", "v=spf1 exists:%{l}.x.a.example -all")
    zone("postmaster.x.a.example", "A", "127.0.0.2")

    assert check(mail_from="<@a.example>").spf.result == "pass"
    assert check(mail_from="nodomain").spf == SPFResult("none", "", "mailfrom", "MAIL FROM has no domain")


# --- DKIM ------------------------------------------------------------------------------------


def test_dkim_signature_verifies_against_the_published_key(zone, key_pem):
    publish_key(zone, key_pem)

    [result] = check(signed(message(), key_pem)).dkim

    assert result == DKIMResult("pass", "a.example", "s1")


def test_dkim_fails_when_the_body_was_changed(zone, key_pem):
    publish_key(zone, key_pem)
    raw = signed(message(), key_pem).replace(b"See you at noon.", b"See you at one.")

    [result] = check(raw).dkim

    assert (result.result, result.domain, result.selector) == ("fail", "a.example", "s1")
    assert "body hash" in result.explanation


def test_dkim_fails_when_a_signed_header_was_changed(zone, key_pem):
    publish_key(zone, key_pem)
    raw = signed(message(), key_pem).replace(b"Subject: Lunch", b"Subject: Dinner")

    assert check(raw).dkim[0].result == "fail"


def test_dkim_without_a_published_key_is_permerror(zone, key_pem):
    [result] = check(signed(message(), key_pem)).dkim

    assert result.result == "permerror"
    assert "no key" in result.explanation


def test_dkim_key_lookup_failure_is_temperror(dns_server, key_pem):
    dns_server.resolver.servfail("s1._domainkey.a.example")

    assert check(signed(message(), key_pem)).dkim[0].result == "temperror"


def test_dkim_revoked_or_garbled_key_is_permerror(zone, key_pem):
    zone("s1._domainkey.a.example", "TXT", "v=DKIM1; k=rsa; p=")
    zone("s2._domainkey.a.example", "TXT", "v=DKIM1; k=rsa; p=bm90IGEga2V5")
    raw = signed(signed(message(), key_pem, selector="s2"), key_pem, selector="s1")

    assert [r.result for r in check(raw).dkim] == ["permerror", "permerror"]


def test_dkim_reports_every_signature_one_good_one_bad(zone, key_pem, other_key_pem):
    publish_key(zone, key_pem)
    publish_key(zone, key_pem, domain="esp.example", selector="k1")
    raw = signed(message(), other_key_pem, domain="esp.example", selector="k1")  # signed with the wrong key
    raw = signed(raw, key_pem)

    results = check(raw).dkim

    assert [(r.result, r.domain, r.selector) for r in results] == [
        ("pass", "a.example", "s1"),
        ("fail", "esp.example", "k1"),
    ]


def test_dkim_is_none_without_signatures():
    assert check().dkim == [DKIMResult("none", "", "")]


@pytest.mark.parametrize(
    "signature",
    [
        "v=1; a=rsa-sha256; d=a.example; s=s1",  # no b=, bh=, h=
        "garbage without tags",
        "v=1; a=rsa-sha256; d=a.example; i=a.example; s=s1; h=from; bh=AAAA; b=AAAA",  # dkimpy IndexError
        "v=1; a=hmac-md5; d=a.example; s=s1; h=from; bh=AAAA; b=AAAA",
        "v=1; a=rsa-sha1; d=a.example; s=s1; h=from; bh=AAAA; b=AAAA",
        "v=1; a=rsa-sha256; d=a..example; s=s1; h=from; bh=AAAA; b=AAAA",
        'v=1; a=rsa-sha256; d=a"\x01example; s=s\\1; h=from; bh=AAAA; b=AAAA',
        "v=1; a=rsa-sha256; d=a.example; s=s1; x=1; h=from; bh=AAAA; b=AAAA",  # expired in 1970
    ],
)
def test_dkim_malformed_signature_is_permerror_and_never_raises(zone, key_pem, signature):
    publish_key(zone, key_pem)

    results = check(message(headers=f"DKIM-Signature: {signature}\r\n"))

    assert [r.result for r in results.dkim] == ["permerror"]
    assert "\r" not in results.header_value("mx.example.org")


def test_dkim_verifies_at_most_ten_signatures(zone, key_pem):
    publish_key(zone, key_pem)
    raw = message()
    for _ in range(12):
        raw = signed(raw, key_pem)

    results = check(raw).dkim

    assert len(results) == 10


# --- DMARC -----------------------------------------------------------------------------------


@pytest.fixture
def a_example(zone, key_pem):
    """a.example: SPF for 192.0.2.0/24, DKIM key s1, DMARC p=reject."""
    zone("a.example", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")
    publish_key(zone, key_pem)
    zone("_dmarc.a.example", "TXT", "v=DMARC1; p=reject; rua=mailto:dmarc@a.example")


def test_dmarc_passes_with_aligned_spf(a_example):
    dmarc = check().dmarc

    assert dmarc == DMARCResult("pass", "a.example", "reject", "none", dmarc.explanation)
    assert "SPF" in dmarc.explanation


def test_dmarc_passes_with_aligned_dkim_when_spf_fails(a_example, key_pem):
    results = check(signed(message(), key_pem), client_ip=OUTSIDER)

    assert results.spf.result == "fail"
    assert (results.dmarc.result, results.dmarc.disposition) == ("pass", "none")
    assert "DKIM" in results.dmarc.explanation


def test_dmarc_fail_with_p_reject_asks_for_reject(a_example):
    dmarc = check(client_ip=OUTSIDER).dmarc

    assert (dmarc.result, dmarc.policy, dmarc.disposition) == ("fail", "reject", "reject")


def test_dmarc_fail_with_p_quarantine_asks_for_quarantine(zone):
    zone("_dmarc.a.example", "TXT", "v=DMARC1; p=quarantine")

    dmarc = check(client_ip=OUTSIDER).dmarc

    assert (dmarc.result, dmarc.policy, dmarc.disposition) == ("fail", "quarantine", "quarantine")


def test_dmarc_spf_pass_for_an_unaligned_domain_does_not_count(a_example, zone):
    zone("bulk.example", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")

    results = check(mail_from="bounce@bulk.example")

    assert results.spf.result == "pass"
    assert (results.dmarc.result, results.dmarc.disposition) == ("fail", "reject")


def test_dmarc_dkim_pass_for_an_unaligned_domain_does_not_count(a_example, zone, key_pem):
    publish_key(zone, key_pem, domain="esp.example")

    results = check(signed(message(), key_pem, domain="esp.example"), client_ip=OUTSIDER)

    assert results.dkim[0].result == "pass"
    assert results.dmarc.result == "fail"


def test_dmarc_subdomain_of_the_organizational_domain_uses_sp(zone):
    zone("_dmarc.a.example", "TXT", "v=DMARC1; p=reject; sp=quarantine")

    dmarc = check(message(from_="news@news.a.example"), client_ip=OUTSIDER).dmarc

    assert (dmarc.domain, dmarc.policy, dmarc.disposition) == ("news.a.example", "quarantine", "quarantine")


def test_dmarc_falls_back_to_the_organizational_domain_record(zone):
    zone("_dmarc.a.example", "TXT", "v=DMARC1; p=reject")

    dmarc = check(message(from_="news@deep.news.a.example"), client_ip=OUTSIDER).dmarc

    assert (dmarc.result, dmarc.policy, dmarc.disposition) == ("fail", "reject", "reject")


def test_dmarc_record_at_the_from_domain_itself_uses_p_not_sp(zone):
    zone("_dmarc.a.example", "TXT", "v=DMARC1; p=reject; sp=none")
    zone("_dmarc.news.a.example", "TXT", "v=DMARC1; p=quarantine; sp=none")

    dmarc = check(message(from_="news@news.a.example"), client_ip=OUTSIDER).dmarc

    assert (dmarc.policy, dmarc.disposition) == ("quarantine", "quarantine")


def test_dmarc_organizational_domain_comes_from_the_public_suffix_list():
    assert organizational_domain("mail.example.co.uk") == "example.co.uk"
    assert organizational_domain("a.b.example.com") == "example.com"
    assert organizational_domain("news.a.example") == "a.example"
    assert organizational_domain("co.uk") == "co.uk"


def test_dmarc_relaxed_spf_alignment_accepts_a_subdomain_of_the_from_domain(a_example, zone):
    zone("bounces.a.example", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")

    assert check(mail_from="b@bounces.a.example").dmarc.result == "pass"


def test_dmarc_strict_spf_alignment_needs_the_exact_domain(zone):
    zone("bounces.a.example", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")
    zone("a.example", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")
    zone("_dmarc.a.example", "TXT", "v=DMARC1; p=reject; aspf=s")

    assert check(mail_from="b@bounces.a.example").dmarc.result == "fail"
    assert check(mail_from="b@a.example").dmarc.result == "pass"


def test_dmarc_relaxed_dkim_alignment_accepts_a_parent_domain_and_strict_does_not(zone, key_pem):
    publish_key(zone, key_pem)
    raw = signed(message(from_="news@news.a.example"), key_pem)
    zone("_dmarc.a.example", "TXT", "v=DMARC1; p=reject; adkim=r")

    assert check(raw, client_ip=OUTSIDER).dmarc.result == "pass"


def test_dmarc_strict_dkim_alignment_needs_the_exact_domain(zone, key_pem):
    publish_key(zone, key_pem)
    raw = signed(message(from_="news@news.a.example"), key_pem)
    zone("_dmarc.a.example", "TXT", "v=DMARC1; p=reject; adkim=s")

    dmarc = check(raw, client_ip=OUTSIDER).dmarc

    assert (dmarc.result, dmarc.disposition) == ("fail", "reject")


def test_dmarc_alignment_does_not_cross_a_public_suffix(zone, key_pem):
    publish_key(zone, key_pem, domain="evil.co.uk")
    zone("_dmarc.bank.co.uk", "TXT", "v=DMARC1; p=reject")

    dmarc = check(signed(message(from_="ceo@bank.co.uk"), key_pem, domain="evil.co.uk"), client_ip=OUTSIDER).dmarc

    assert (dmarc.result, dmarc.disposition) == ("fail", "reject")


def test_dmarc_is_none_without_a_record(zone):
    zone("a.example", "TXT", "v=spf1 -all")

    dmarc = check().dmarc

    assert dmarc == DMARCResult("none", "a.example", "", "none", dmarc.explanation)


def test_dmarc_is_temperror_when_the_record_lookup_fails(dns_server):
    dns_server.resolver.servfail("_dmarc.a.example")

    assert check().dmarc.result == "temperror"


def test_dmarc_is_temperror_not_fail_when_the_aligned_dkim_key_lookup_failed(a_example, key_pem, dns_server):
    dns_server.resolver.servfail("s1._domainkey.a.example")

    dmarc = check(signed(message(), key_pem), client_ip=OUTSIDER).dmarc

    assert (dmarc.result, dmarc.disposition) == ("temperror", "none")


def test_dmarc_pct_below_100_applies_the_next_milder_policy_to_the_rest(zone):
    zone("_dmarc.a.example", "TXT", "v=DMARC1; p=reject; pct=0")

    dmarc = check(client_ip=OUTSIDER).dmarc

    assert (dmarc.result, dmarc.policy, dmarc.disposition) == ("fail", "reject", "quarantine")


def test_dmarc_record_without_p_falls_back_to_none_when_it_has_rua(zone):
    zone("_dmarc.a.example", "TXT", "v=DMARC1; rua=mailto:d@a.example")
    zone("_dmarc.b.example", "TXT", "v=DMARC1; p=bogus")

    assert check(client_ip=OUTSIDER).dmarc.disposition == "none"
    assert check(message(from_="x@b.example"), client_ip=OUTSIDER).dmarc.result == "permerror"


def test_dmarc_ignores_txt_records_that_are_not_dmarc1(zone):
    zone("_dmarc.a.example", "TXT", "v=spf1 -all")
    zone("_dmarc.a.example", "TXT", "v=dmarc1; p=reject")  # the version is case-sensitive

    assert check(client_ip=OUTSIDER).dmarc.result == "none"


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        (b"To: bob@example.org\r\n", "no From"),
        (b"From: Undisclosed\r\n", "no usable domain"),
        (b"From: a@[192.0.2.1]\r\n", "no usable domain"),
    ],
)
def test_dmarc_is_permerror_without_an_author_domain(zone, headers, why):
    # Several From fields or domains are evaluated each (tests/inbound/test_dmarc_policy.py).
    dmarc = check(headers + b"Subject: x\r\n\r\nbody\r\n").dmarc

    assert (dmarc.result, dmarc.disposition) == ("permerror", "none")
    assert why in dmarc.explanation


def test_dmarc_two_from_addresses_in_one_domain_are_that_domain(a_example):
    dmarc = check(message(from_="alice@a.example, Carol <carol@A.example>")).dmarc

    assert (dmarc.result, dmarc.domain) == ("pass", "a.example")


# --- Authentication-Results ------------------------------------------------------------------

RESINFO = re.compile(r'(spf|dkim|dmarc)=([a-z]+)( \([^)]*\))?( reason="(?:[^"\\]|\\.)*")?((?: [a-z]+\.[a-z]+=\S+)*)')


def test_header_value_lists_every_method_in_rfc_8601_form(a_example, key_pem):
    results = check(signed(message(), key_pem))

    value = results.header_value("mx.example.org")

    assert value == (
        "mx.example.org; spf=pass smtp.mailfrom=a.example; spf=none smtp.helo=mail.a.example; "
        "dkim=pass header.d=a.example header.s=s1; dmarc=pass (p=reject dis=none) header.from=a.example"
    )
    authserv_id, *resinfos = value.split("; ")
    assert authserv_id == "mx.example.org"
    assert all(RESINFO.fullmatch(resinfo) for resinfo in resinfos)


def test_header_value_with_empty_mail_from_names_the_helo(zone):
    zone(HELO, "TXT", "v=spf1 ip4:192.0.2.0/24 -all")

    value = check(mail_from="").header_value("mx.example.org")

    assert value.startswith("mx.example.org; spf=pass smtp.helo=mail.a.example; dkim=none; dmarc=")


def test_header_value_round_trips_through_the_authres_parser(a_example, key_pem, other_key_pem):
    authres = pytest.importorskip("authres")
    raw = signed(signed(message(), other_key_pem, selector="s1"), key_pem, domain="a.example", selector="s1")
    results = check(raw, client_ip=OUTSIDER)

    parsed = authres.AuthenticationResultsHeader.parse(
        "Authentication-Results: " + results.header_value("mx.example.org")
    )

    assert parsed.authserv_id == "mx.example.org"
    summary = [(r.method, r.result, {f"{p.type}.{p.name}": p.value for p in r.properties}) for r in parsed.results]
    assert summary == [
        ("spf", "fail", {"smtp.mailfrom": "a.example"}),
        ("spf", "none", {"smtp.helo": "mail.a.example"}),
        ("dkim", "pass", {"header.d": "a.example", "header.s": "s1"}),
        ("dkim", "fail", {"header.d": "a.example", "header.s": "s1"}),
        ("dmarc", "pass", {"header.from": "a.example"}),
    ]
    assert parsed.results[3].reason == "signature did not verify"


def test_header_value_neutralises_hostile_text_from_dns_and_signatures(zone):
    zone("a.example", "TXT", "v=spf1 -all exp=why.a.example")
    zone("why.a.example", "TXT", 'go \\"away\\"; dkim=pass \\\\')
    signature = 'DKIM-Signature: v=1; d=evil"\x01\x7f\xc3\xa9; s=x\r\n'

    value = check(message(headers=signature)).header_value("mx.example.org")

    assert value.isascii() and value.isprintable()
    assert 'spf=fail reason="go \\"away\\"; dkim=pass \\\\" smtp.mailfrom=a.example' in value
    assert 'dkim=permerror reason="malformed signature: ' in value
    assert 'header.d="evil\\"" header.s=x' in value


def test_as_dict_is_json_safe_and_reads_back(a_example, key_pem):
    results = check(signed(message(), key_pem))

    data = json.loads(json.dumps(results.as_dict()))

    assert data["dmarc"]["result"] == "pass"
    assert data["dkim"] == [{"result": "pass", "domain": "a.example", "selector": "s1", "explanation": ""}]
    assert AuthenticationResults.from_dict(data) == results


# --- hostile input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe\r\n\r\n\x80",
        bytes(range(256)) * 40,
        b"no colon here\r\nFrom: a@a.example\r\n\r\nbody",
        b"From: " + b"a" * 2_000_000 + b"@a.example\r\n\r\nbody",
        b"X-Long: x\r\n" * 100_000 + b"From: a@a.example\r\n\r\n",
        b"From: =?utf-8?q?=E2=80=AE?= <\xe2\x80\xae@a.example>\r\nDKIM-Signature: \xff\xfe\r\n\r\n",
        b'From: <<<@@@>>>, "unterminated\r\n\r\n',
    ],
)
def test_authenticate_never_raises_on_garbage_messages(a_example, raw):
    results = check(raw)

    assert results.dmarc.result in ("pass", "fail", "none", "permerror", "temperror")
    assert "\n" not in results.header_value("mx.example.org")


@pytest.mark.parametrize(
    ("client_ip", "helo", "mail_from"),
    [
        ("not an ip", "mail.a.example", "alice@a.example"),
        (CLIENT, "", ""),
        (CLIENT, "x" * 300, "y" * 300 + "@" + "z." * 200 + "example"),
        (CLIENT, "mail..a.example", "alice@a..example"),
        (CLIENT, "bad\x00helo", "al\r\nice@a.example"),
    ],
)
def test_authenticate_never_raises_on_garbage_envelopes(a_example, client_ip, helo, mail_from):
    results = authenticate(raw=message(), client_ip=client_ip, helo=helo, mail_from=mail_from)

    assert results.spf.result in ("pass", "none", "permerror")
    assert "\n" not in results.header_value("mx.example.org")


def test_an_internal_error_is_logged_and_reported_as_temperror_not_raised(a_example, monkeypatch, caplog):
    def crash(**kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr("inbound.auth.spf.check", crash)
    monkeypatch.setattr("inbound.auth.dmarc.evaluate", crash)

    results = check()

    assert (results.spf.result, results.helo_spf.result, results.dmarc.result) == ("temperror",) * 3
    assert results.dmarc.disposition == "none"
    assert "SPF evaluation crashed" in caplog.text
