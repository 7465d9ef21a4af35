"""DMARC policy discovery and evaluation (RFC 7489, RFC 9091, the DMARCbis tree walk), against the loopback DNS server.

The cases of a reference implementation's suite (authheaders: the From domain's record, the Organizational
Domain's for a subdomain, np= for a subdomain that exists or not, a record without p=, a broken record, no
From, several From domains in either order, a display name with a comma) come first, then the parsing rules
of §6.3 one by one, then the options.
"""

import pytest

from accounts.dkim import generate_private_key_pem
from inbound.auth import authenticate
from inbound.auth.dmarc import parse_record, tree_walk_names
from tests.inbound.test_auth import publish_key, signed, zone  # noqa: F401 (zone is a fixture)

SENDER_IP = "192.0.2.10"
OUTSIDER = "203.0.113.66"


@pytest.fixture(scope="module")
def key_pem():
    return generate_private_key_pem()


def message(from_: str = "Test User <test@example.com>", *, headers: str = "") -> bytes:
    return (
        f"From: {from_}\r\n{headers}To: somebody@example.org\r\nSubject: Quarterly figures\r\n"
        "Message-ID: <figures-7@example.com>\r\nDate: Tue, 3 Mar 2026 09:12:00 +0000\r\n\r\nAttached.\r\n"
    ).encode()


def judge(raw: bytes, *, mail_from: str = "bounce@unrelated.example", client_ip: str = OUTSIDER):
    return authenticate(raw=raw, client_ip=client_ip, helo="mx.unrelated.example", mail_from=mail_from).dmarc


@pytest.fixture
def world(zone):  # noqa: F811
    """The records of the reference suite's world, and SPF for the senders that pass."""
    zone("_dmarc.example.com", "TXT", "v=DMARC1; p=reject; rua=mailto:dmarc-reports@example.com")
    zone("_dmarc.example.org", "TXT", "v=DMARC1; p=none")
    zone("_dmarc.example.net", "TXT", "v=DMARC1; p=none; sp=reject")
    zone("_dmarc.sub.example.net", "TXT", "not a DMARC record")
    zone("_dmarc.example.biz", "TXT", "v=DMARC1; p=none; sp=quarantine; np=reject")
    zone("_dmarc.nop.example.org", "TXT", "v=DMARC1; sp=quarantine; np=reject")
    zone("_dmarc.bad.example.com", "TXT", "v=DMARC1; p=none; reject")
    zone("sub2.example.biz", "A", "192.0.2.80")
    zone("example.org", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")
    zone("example.com", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")
    return zone


# --- the reference suite's cases ------------------------------------------------------------------


def test_aligned_pass_at_the_from_domain_record(world):
    dmarc = judge(message(), mail_from="test@example.com", client_ip=SENDER_IP)

    assert (dmarc.result, dmarc.domain, dmarc.policy, dmarc.disposition) == ("pass", "example.com", "reject", "none")


def test_aligned_dkim_pass_at_the_from_domain_record(world, key_pem):
    publish_key(world, key_pem, domain="example.com", selector="test")

    dmarc = judge(signed(message(), key_pem, domain="example.com", selector="test"))

    assert (dmarc.result, dmarc.policy) == ("pass", "reject")


def test_a_record_with_a_bare_word_is_a_syntax_error(world):
    dmarc = judge(message("Test User <test@bad.example.com>"))

    assert (dmarc.result, dmarc.domain, dmarc.disposition) == ("permerror", "bad.example.com", "none")
    assert "syntax error at 'reject'" in dmarc.explanation


def test_no_from_field_is_a_permerror(world):
    raw = b"To: somebody@example.org\r\nSubject: x\r\n\r\nbody\r\n"

    assert (judge(raw).result, judge(raw).disposition) == ("permerror", "none")


def test_a_from_field_without_an_address_is_a_permerror(world):
    dmarc = judge(message("Test User"))

    assert (dmarc.result, dmarc.disposition) == ("permerror", "none")


@pytest.mark.parametrize(
    "from_",
    [
        "Bad User <spoof@example.org>,Test User <test@example.com>",
        "Test User <test@example.com>,Bad User <spoof@example.org>",
    ],
)
def test_several_from_domains_take_the_strictest_outcome(world, from_):
    """example.org passes (SPF) with p=none; example.com fails with p=reject: the message is rejected."""
    dmarc = judge(message(from_), mail_from="spoof@example.org", client_ip=SENDER_IP)

    assert (dmarc.result, dmarc.domain, dmarc.policy, dmarc.disposition) == ("fail", "example.com", "reject", "reject")
    assert "strictest of 2 From domains" in dmarc.explanation


def test_a_subdomain_takes_sp_from_the_organizational_domain(world):
    dmarc = judge(message("Test User <test@sub.example.net>"))

    assert (dmarc.result, dmarc.domain, dmarc.policy, dmarc.disposition) == (
        "fail",
        "sub.example.net",
        "reject",
        "reject",
    )


def test_a_subdomain_that_does_not_exist_takes_np(world):
    dmarc = judge(message("Test User <test@sub.example.biz>"))

    assert (dmarc.result, dmarc.policy, dmarc.disposition) == ("fail", "reject", "reject")
    assert "does not exist" in dmarc.explanation


def test_a_subdomain_that_exists_takes_sp_not_np(world):
    dmarc = judge(message("Test User <test@sub2.example.biz>"))

    assert (dmarc.result, dmarc.policy, dmarc.disposition) == ("fail", "quarantine", "quarantine")


def test_a_record_without_p_or_rua_sets_no_policy(world):
    dmarc = judge(message("Test User <test@nop.example.org>"))

    assert (dmarc.result, dmarc.policy, dmarc.disposition) == ("none", "", "none")


def test_a_display_name_with_a_comma_is_one_address(world):
    dmarc = judge(message('"Test, User" <test@example.com>'), mail_from="test@example.com", client_ip=SENDER_IP)

    assert (dmarc.result, dmarc.domain) == ("pass", "example.com")


# --- parsing (§6.3, §6.4) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "policy"),
    [
        ("v=DMARC1; p=reject", "reject"),
        ("v=DMARC1;p=quarantine", "quarantine"),
        ("v = DMARC1 ;  P = Reject ; ", "reject"),
        ("V=DMARC1; p=REJECT; SP=none", "reject"),
        ("v=DMARC1; p=reject; fo=1; ri=86400; t=y; future=anything at all", "reject"),  # unknown tags ignored
        ("v=DMARC1; p=reject; p=none", "reject"),  # the first of a repeated tag
        ("v=DMARC1; p=reject;;", "reject"),
        ("v=DMARC1; rua=mailto:agg@a.example", "none"),  # no p=, a valid rua=: p=none
        ("v=DMARC1; p=bogus; rua=mailto:agg@a.example!10m, mailto:other@b.example", "none"),
        ("v=DMARC1; p=; rua=https://reports.a.example/dmarc", "none"),
    ],
)
def test_record_parsing_gives_the_policy(record, policy):
    assert parse_record(record).p == policy
    assert parse_record(record).problem == ""


@pytest.mark.parametrize(
    "record",
    [
        "p=reject; v=DMARC1",  # v= must come first
        "v=DMARC2; p=reject",
        "v=dmarc1; p=reject",  # the version's value is case-sensitive
        "v=DMARC1 p=reject",  # no separator: the version is not DMARC1
        "v=spf1 -all",
        "",
        "google-site-verification=abc",
    ],
)
def test_texts_that_are_not_dmarc_records(record):
    assert parse_record(record) is None


@pytest.mark.parametrize(
    ("record", "why"),
    [
        ("v=DMARC1; p=none; reject", "syntax error"),
        ("v=DMARC1; p=reject; =x", "syntax error"),
        ("v=DMARC1; p=reject; bad tag=x", "syntax error"),
        ("v=DMARC1; p=bogus", "invalid p="),
        ("v=DMARC1; p=bogus; rua=not a uri", "invalid p="),
        ("v=DMARC1; p=bogus; rua=mailto:nobody", "invalid p="),
    ],
)
def test_broken_records_are_permerrors(record, why):
    assert why in parse_record(record).problem


def test_a_record_without_p_and_without_a_valid_rua_sets_no_policy_without_being_an_error():
    record = parse_record("v=DMARC1; sp=reject; rua=mailto:")

    assert (record.p, record.problem, record.rua) == (None, "", ())


def test_invalid_values_of_other_tags_fall_back_to_their_defaults():
    record = parse_record("v=DMARC1; p=quarantine; sp=maybe; np=never; adkim=x; aspf=relaxed; pct=150; psd=perhaps")

    assert (record.p, record.sp, record.np, record.adkim, record.aspf, record.pct, record.psd) == (
        "quarantine", "quarantine", None, "r", "r", 100, "u",
    )  # fmt: skip


def test_valid_values_of_other_tags_are_read():
    record = parse_record("v=DMARC1; p=none; sp=Quarantine; np=REJECT; adkim=S; aspf=s; pct=25; psd=Y")

    assert (record.p, record.sp, record.np, record.adkim, record.aspf, record.pct, record.psd) == (
        "none", "quarantine", "reject", "s", "s", 25, "y",
    )  # fmt: skip


def test_an_end_to_end_record_with_unknown_tags_and_odd_spacing_is_enforced(zone):  # noqa: F811
    zone("_dmarc.example.com", "TXT", "v=DMARC1 ;p = quarantine;  x-vendor = 42 ; pct=100")

    dmarc = judge(message())

    assert (dmarc.result, dmarc.policy, dmarc.disposition) == ("fail", "quarantine", "quarantine")


def test_a_valid_rua_without_p_is_p_none_end_to_end(zone):  # noqa: F811
    zone("_dmarc.example.com", "TXT", "v=DMARC1; rua=mailto:dmarc@example.com")

    dmarc = judge(message())

    assert (dmarc.result, dmarc.policy, dmarc.disposition) == ("fail", "none", "none")


def test_an_invalid_sp_falls_back_to_p_for_subdomains(zone):  # noqa: F811
    zone("_dmarc.example.com", "TXT", "v=DMARC1; p=reject; sp=strict")

    dmarc = judge(message("x@news.example.com"))

    assert (dmarc.result, dmarc.policy, dmarc.disposition) == ("fail", "reject", "reject")


def test_several_dmarc_records_at_one_name_are_a_permerror(zone):  # noqa: F811
    zone("_dmarc.example.com", "TXT", "v=DMARC1; p=reject")
    zone("_dmarc.example.com", "TXT", "v=DMARC1; p=none")

    dmarc = judge(message())

    assert (dmarc.result, dmarc.disposition) == ("permerror", "none")


# --- several From domains (§6.6.1) -------------------------------------------------------------------


def test_several_from_fields_are_each_evaluated(world):
    raw = message("friend@example.org", headers="From: ceo@example.com\r\n")

    dmarc = judge(raw, mail_from="friend@example.org", client_ip=SENDER_IP)

    assert (dmarc.result, dmarc.domain, dmarc.disposition) == ("fail", "example.com", "reject")


def test_several_from_domains_that_all_pass_pass(world):
    dmarc = judge(message("a@example.com, b@news.example.com"), mail_from="a@example.com", client_ip=SENDER_IP)

    assert (dmarc.result, dmarc.disposition) == ("pass", "none")


def test_an_address_without_a_domain_does_not_hide_a_failing_one(world):
    dmarc = judge(message("Undisclosed:;, ceo@example.com"))

    assert (dmarc.result, dmarc.domain, dmarc.disposition) == ("fail", "example.com", "reject")


def test_a_from_domain_without_a_record_does_not_hide_a_failing_one(world):
    dmarc = judge(message("a@unlisted.example, ceo@example.com"))

    assert (dmarc.result, dmarc.domain, dmarc.disposition) == ("fail", "example.com", "reject")


def test_too_many_from_domains_are_a_permerror_held_for_quarantine(world, dns_server):
    addresses = ", ".join(f"u@d{n}.example" for n in range(11))

    dmarc = judge(message(addresses))

    assert (dmarc.result, dmarc.disposition) == ("permerror", "quarantine")
    assert not [name for name, _ in dns_server.resolver.queries if name.startswith("_dmarc.d")]


def test_too_many_from_fields_are_a_permerror_held_for_quarantine(world):
    extra = "".join(f"From: friend{n}@example.org\r\n" for n in range(5))

    dmarc = judge(message("ceo@example.com", headers=extra))

    assert (dmarc.result, dmarc.disposition) == ("permerror", "quarantine")
    assert "6 From header fields" in dmarc.explanation


def test_a_from_field_too_long_to_read_is_held_for_quarantine(world):
    dmarc = judge(message('"' + "Accounts " * 300 + '" <ceo@example.com>'))

    assert (dmarc.result, dmarc.disposition) == ("permerror", "quarantine")


def test_the_authentication_results_header_names_the_strictest_domain(world):
    raw = message("Bad User <spoof@example.org>, Test User <test@example.com>")
    results = authenticate(raw=raw, client_ip=SENDER_IP, helo="mx.example.org", mail_from="spoof@example.org")

    value = results.header_value("mx.example.test")

    assert "dmarc=fail (p=reject dis=reject) reason=" in value
    assert value.endswith("header.from=example.com")


# --- np= (RFC 9091) ------------------------------------------------------------------------------------


@pytest.fixture
def np_world(zone):  # noqa: F811
    zone("_dmarc.example.biz", "TXT", "v=DMARC1; p=reject; sp=none; np=quarantine")
    return zone


def test_np_applies_to_a_subdomain_with_only_other_records(np_world):
    np_world("txt-only.example.biz", "TXT", "hello")  # NOERROR without A, AAAA or MX: it does not exist either

    assert judge(message("x@txt-only.example.biz")).disposition == "quarantine"


@pytest.mark.parametrize("rdtype, value", [("MX", "10 mx.example.biz."), ("AAAA", "2001:db8::25"), ("A", "192.0.2.9")])
def test_np_does_not_apply_to_a_subdomain_with_an_a_aaaa_or_mx_record(np_world, rdtype, value):
    np_world("shop.example.biz", rdtype, value)

    assert judge(message("x@shop.example.biz")).disposition == "none"


def test_np_does_not_apply_to_the_organizational_domain_itself(np_world):
    dmarc = judge(message("x@example.biz"))

    assert (dmarc.policy, dmarc.disposition) == ("reject", "reject")


def test_np_lookup_failure_is_a_temperror(np_world, dns_server):
    dns_server.resolver.servfail("gone.example.biz")

    dmarc = judge(message("x@gone.example.biz"))

    assert (dmarc.result, dmarc.disposition) == ("temperror", "none")


def test_without_np_a_missing_subdomain_takes_sp(zone):  # noqa: F811
    zone("_dmarc.example.biz", "TXT", "v=DMARC1; p=none; sp=quarantine")

    assert judge(message("x@gone.example.biz")).disposition == "quarantine"


def test_np_is_not_looked_up_when_the_message_passes(np_world, dns_server):
    np_world("example.biz", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")

    dmarc = judge(message("x@gone.example.biz"), mail_from="b@example.biz", client_ip=SENDER_IP)

    assert dmarc.result == "pass"
    assert ("gone.example.biz.", "MX") not in dns_server.resolver.queries


# --- PSD DMARC (RFC 9091, option DMARC_PSD) -------------------------------------------------------------


def test_psd_record_is_not_used_by_default(zone):  # noqa: F811
    zone("_dmarc.bank", "TXT", "v=DMARC1; p=reject; psd=y")

    assert judge(message("x@branch.bank")).result == "none"


def test_psd_record_applies_when_enabled(zone, settings):  # noqa: F811
    settings.DMARC_PSD = True
    zone("_dmarc.bank", "TXT", "v=DMARC1; p=reject; sp=quarantine; psd=y")

    dmarc = judge(message("x@branch.bank"))

    assert (dmarc.result, dmarc.policy, dmarc.disposition) == ("fail", "quarantine", "quarantine")


def test_psd_record_without_psd_y_is_not_used(zone, settings):  # noqa: F811
    settings.DMARC_PSD = True
    zone("_dmarc.bank", "TXT", "v=DMARC1; p=reject")

    assert judge(message("x@branch.bank")).result == "none"


def test_psd_np_applies_to_a_domain_that_does_not_exist(zone, settings):  # noqa: F811
    settings.DMARC_PSD = True
    zone("_dmarc.bank", "TXT", "v=DMARC1; p=none; sp=none; np=reject; psd=y")
    zone("real.bank", "MX", "10 mx.real.bank.")

    assert judge(message("x@invented.bank")).disposition == "reject"
    assert judge(message("x@real.bank")).disposition == "none"


def test_the_organizational_domain_record_wins_over_the_psd(zone, settings):  # noqa: F811
    settings.DMARC_PSD = True
    zone("_dmarc.bank", "TXT", "v=DMARC1; p=reject; psd=y")
    zone("_dmarc.branch.bank", "TXT", "v=DMARC1; p=none")

    assert judge(message("x@branch.bank")).disposition == "none"


# --- DMARCbis tree walk (option DMARC_TREE_WALK) --------------------------------------------------------


def test_tree_walk_names_jump_to_the_last_four_labels_of_a_long_name():
    assert tree_walk_names("a.b.c.d.e.f.example") == [
        "a.b.c.d.e.f.example",
        "d.e.f.example",
        "e.f.example",
        "f.example",
        "example",
    ]
    assert tree_walk_names("a.b.c.example") == ["a.b.c.example", "b.c.example", "c.example", "example"]
    assert tree_walk_names("example") == ["example"]


def test_without_tree_walk_an_intermediate_record_is_not_found(zone):  # noqa: F811
    zone("_dmarc.mail.example.com", "TXT", "v=DMARC1; p=reject")

    assert judge(message("x@news.mail.example.com")).result == "none"


def test_tree_walk_finds_the_nearest_record_above_the_from_domain(zone, settings, dns_server):  # noqa: F811
    settings.DMARC_TREE_WALK = True
    zone("_dmarc.mail.example.com", "TXT", "v=DMARC1; p=none; sp=reject")
    zone("_dmarc.example.com", "TXT", "v=DMARC1; p=none; sp=none")

    dmarc = judge(message("x@a.b.c.news.mail.example.com"))

    assert (dmarc.result, dmarc.policy, dmarc.disposition) == ("fail", "reject", "reject")
    asked = [name for name, rdtype in dns_server.resolver.queries if rdtype == "TXT" and name.startswith("_dmarc.")]
    assert asked[:3] == [
        "_dmarc.a.b.c.news.mail.example.com.",
        "_dmarc.news.mail.example.com.",
        "_dmarc.mail.example.com.",
    ]


def test_tree_walk_psd_y_makes_the_name_below_it_the_organizational_domain(zone, settings):  # noqa: F811
    """platform.example hosts customers the PSL does not know of: a customer's bounce domain on the platform
    is not aligned with another customer's From domain."""
    zone("_dmarc.platform.example", "TXT", "v=DMARC1; p=reject; psd=y")
    zone("bounces.platform.example", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")
    raw = message("billing@shop.customer.platform.example")

    assert judge(raw, mail_from="b@bounces.platform.example", client_ip=SENDER_IP).result == "pass"  # by the PSL
    settings.DMARC_TREE_WALK = True
    dmarc = judge(raw, mail_from="b@bounces.platform.example", client_ip=SENDER_IP)

    assert (dmarc.result, dmarc.policy, dmarc.disposition) == ("fail", "reject", "reject")


def test_tree_walk_psd_n_marks_the_organizational_domain(zone, settings):  # noqa: F811
    settings.DMARC_TREE_WALK = True
    zone("_dmarc.example.com", "TXT", "v=DMARC1; p=reject")
    zone("_dmarc.eu.example.com", "TXT", "v=DMARC1; p=reject; psd=n")
    zone("bounces.example.com", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")
    zone("bounces.eu.example.com", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")
    raw = message("news@shop.eu.example.com")

    assert judge(raw, mail_from="b@bounces.eu.example.com", client_ip=SENDER_IP).result == "pass"
    assert judge(raw, mail_from="b@bounces.example.com", client_ip=SENDER_IP).result == "fail"


def test_tree_walk_without_psd_tags_takes_the_highest_record_as_organizational_domain(zone, settings):  # noqa: F811
    settings.DMARC_TREE_WALK = True
    zone("_dmarc.example.com", "TXT", "v=DMARC1; p=reject")
    zone("_dmarc.eu.example.com", "TXT", "v=DMARC1; p=reject")
    zone("bounces.example.com", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")

    dmarc = judge(message("news@shop.eu.example.com"), mail_from="b@bounces.example.com", client_ip=SENDER_IP)

    assert dmarc.result == "pass"


# --- hostile records -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "record",
    [
        "v=DMARC1; p=reject; " + "x=" + "y" * 3000,
        "v=DMARC1; p=\x00reject\x7f; rua=mailto:\x01@a",
        "v=DMARC1; " + "; " * 500 + "p=reject",
        "v=DMARC1; p=r\u00e9ject; sp=\u202equarantine",
        "v=DMARC1; pct=-1; pct=99999999999999999999; p=reject",
    ],
)
def test_hostile_records_never_crash(zone, record):  # noqa: F811
    zone("_dmarc.example.com", "TXT", record)

    dmarc = judge(message())

    assert dmarc.result in ("fail", "none", "permerror")


@pytest.mark.parametrize("option", ["DMARC_TREE_WALK", "DMARC_PSD"])
def test_a_psd_record_with_np_rejects_a_domain_under_it_that_does_not_exist(zone, settings, option):  # noqa: F811
    """The reference suite's .gov case: a registry publishes psd=y with np=reject at its suffix."""
    setattr(settings, option, True)
    zone("_dmarc.bank", "TXT", "v=DMARC1; p=reject; sp=none; np=reject; rua=mailto:registry@nic.bank; psd=y")

    dmarc = judge(message("Test User <test@example.bank>"))

    assert (dmarc.result, dmarc.domain, dmarc.policy, dmarc.disposition) == ("fail", "example.bank", "reject", "reject")
