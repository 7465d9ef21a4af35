"""ARC (RFC 8617) on inbound mail: chains sealed through real hops, keys on the loopback DNS server.

The world: alice@a.example writes to a mailing list, team@lists.example.net, which tags the subject, adds a
footer and seals (i=1); a member's forwarder, forwarder.example, passes it on and seals (i=2); our MX gets it
from the forwarder. a.example publishes p=reject, so the list's changes make the message fail DMARC here.
Each hop authenticates the message it receives with the product's own ``authenticate`` and seals with the
product's ``delivery.arc.seal`` (dkimpy's ``arc_sign``).
"""

import re
from types import SimpleNamespace

import dkim
import pytest

from accounts.dkim import generate_private_key_pem, public_key_base64
from delivery.arc import seal
from inbound.auth import ARCResult, AuthenticationResults, authenticate
from inbound.auth.arc import override_disposition
from inbound.auth.results import DMARCResult
from inbound.models import InboundMessage
from inbound.services.pipeline import process_inbound_messages
from inbound.services.reception import Arrival, accept_messages
from mailboxes.models import Folder, MailboxItem

AUTHOR_IP, LIST_IP, FORWARDER_IP = "192.0.2.10", "198.51.100.7", "203.0.113.5"

ORIGINAL = (
    b"From: Alice <alice@a.example>\r\nTo: team@lists.example.net\r\nSubject: Offsite agenda\r\n"
    b"Date: Mon, 07 Dec 2026 04:10:00 +0000\r\nMessage-ID: <agenda-7@a.example>\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Morning: roadmap. Afternoon: the hiking trip nobody asked for.\r\n"
)


@pytest.fixture(scope="module")
def keys():
    author, lists, fwd = (generate_private_key_pem() for _ in range(3))
    records = {pem: f"v=DKIM1; k=rsa; p={public_key_base64(pem)}" for pem in (author, lists, fwd)}
    return SimpleNamespace(author=author, lists=lists, fwd=fwd, records=records)


@pytest.fixture
def world(dns_server, keys):
    def txt(name: str, value: str) -> None:
        strings = " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))
        dns_server.resolver.add(f"{name}. 300 IN TXT {strings}")

    txt("a.example", "v=spf1 ip4:192.0.2.0/24 -all")
    txt("_dmarc.a.example", "v=DMARC1; p=reject")
    txt("s1._domainkey.a.example", keys.records[keys.author])
    txt("lists.example.net", "v=spf1 ip4:198.51.100.0/24 -all")
    txt("arc1._domainkey.lists.example.net", keys.records[keys.lists])
    txt("forwarder.example", "v=spf1 ip4:203.0.113.0/24 -all")
    txt("arc2._domainkey.forwarder.example", keys.records[keys.fwd])
    return SimpleNamespace(
        lists=SimpleNamespace(name="lists.example.net", dkim_selector="arc1", dkim_private_key=keys.lists),
        forwarder=SimpleNamespace(name="forwarder.example", dkim_selector="arc2", dkim_private_key=keys.fwd),
    )


def signed_by_author(keys) -> bytes:
    return (
        dkim.sign(ORIGINAL, b"s1", b"a.example", keys.author.encode(), canonicalize=(b"relaxed", b"simple")) + ORIGINAL
    )


def list_modifies(raw: bytes) -> bytes:
    raw = raw.replace(b"Subject: Offsite agenda", b"Subject: [team] Offsite agenda")
    return raw + b"-- \r\nteam mailing list: https://lists.example.net/team\r\n"


def hop(raw: bytes, *, sealer, client_ip: str, helo: str, mail_from: str, modify=None) -> bytes:
    """What a sealing intermediary does: authenticate what it received, change it if it must, seal."""
    results = authenticate(raw=raw, client_ip=client_ip, helo=helo, mail_from=mail_from)
    if modify:
        raw = modify(raw)
    return seal(raw, domain=sealer, auth_results=results.header_value(f"mx.{sealer.name}"), chain=results.arc.result)


@pytest.fixture
def through_list_and_forwarder(world, keys):
    """The message as it reaches our MX, with its two ARC sets."""
    from_list = hop(
        signed_by_author(keys), sealer=world.lists, client_ip=AUTHOR_IP, helo="mail.a.example",
        mail_from="alice@a.example", modify=list_modifies,
    )  # fmt: skip
    return hop(
        from_list, sealer=world.forwarder, client_ip=LIST_IP, helo="lists.example.net",
        mail_from="team-bounces@lists.example.net",
    )  # fmt: skip


def at_our_mx(raw: bytes):
    return authenticate(
        raw=raw, client_ip=FORWARDER_IP, helo="mx.forwarder.example", mail_from="srs0@forwarder.example"
    )


# --- chain validation --------------------------------------------------------------------


def test_chain_sealed_by_two_hops_validates(through_list_and_forwarder, settings):
    settings.ARC_TRUSTED_SEALERS = []
    results = at_our_mx(through_list_and_forwarder)

    assert results.arc == ARCResult("pass", instance=2, sealers="forwarder.example,lists.example.net")
    assert [d.result for d in results.dkim] == ["fail"]  # the list broke the author's signature
    assert (results.dmarc.result, results.dmarc.disposition) == ("fail", "reject")


def test_each_hop_recorded_what_it_saw_and_its_chain_status(through_list_and_forwarder):
    verifier = dkim.DKIM(through_list_and_forwarder)
    fields = {name.lower(): [] for name, _ in verifier.headers}
    for name, value in verifier.headers:
        fields[name.lower()].append(b" ".join(value.split()))
    seals = [dkim.util.parse_tag_value(value) for value in fields[b"arc-seal"]]
    aars = {value.split(b";")[0]: value for value in fields[b"arc-authentication-results"]}

    assert [(t[b"i"], t[b"cv"], t[b"d"]) for t in seals] == [
        (b"2", b"pass", b"forwarder.example"),
        (b"1", b"none", b"lists.example.net"),
    ]
    assert b"mx.lists.example.net; spf=pass" in aars[b"i=1"] and b"dkim=pass header.d=a.example" in aars[b"i=1"]
    assert b"mx.forwarder.example;" in aars[b"i=2"] and b"dkim=fail reason=" in aars[b"i=2"]
    assert b"arc=pass" in aars[b"i=2"]


def test_message_changed_after_the_last_seal_fails_the_chain(through_list_and_forwarder):
    tampered = through_list_and_forwarder.replace(b"hiking trip", b"wire transfer")

    results = at_our_mx(tampered)

    assert results.arc.result == "fail"
    assert "ARC-Message-Signature did not validate" in results.arc.explanation


def test_forged_older_arc_results_break_the_seal(through_list_and_forwarder):
    """Rewriting what the list saw (to claim a pass it never recorded) invalidates the seals over it."""
    forged = re.sub(
        rb"(ARC-Authentication-Results: i=1; mx\.lists\.example\.net;.*?)spf=pass",
        rb"\1spf=neutral",
        through_list_and_forwarder,
        flags=re.S,
    )
    assert forged != through_list_and_forwarder

    results = at_our_mx(forged)

    assert results.arc.result == "fail"
    assert "did not validate" in results.arc.explanation


def test_chain_with_a_missing_key_fails(through_list_and_forwarder, dns_server):
    dns_server.resolver.clear()  # no keys published any more (and no SPF or DMARC either)

    assert at_our_mx(through_list_and_forwarder).arc.result == "fail"


def test_chain_whose_key_lookup_times_out_fails_with_the_reason(through_list_and_forwarder, dns_server):
    dns_server.resolver.servfail("arc2._domainkey.forwarder.example")

    arc = at_our_mx(through_list_and_forwarder).arc

    assert arc.result == "fail"
    assert arc.explanation.startswith("key lookup failed")


def test_message_without_arc_sets_is_none_and_the_header_does_not_mention_arc(world, keys):
    results = authenticate(raw=signed_by_author(keys), client_ip=AUTHOR_IP, helo="mail.a.example", mail_from="")

    assert results.arc == ARCResult("none")
    assert "; arc=" not in results.header_value("mx.example.org")


@pytest.mark.parametrize(
    "headers",
    [
        b"ARC-Seal: i=1; cv=none\r\n",
        b"ARC-Seal: i=x; a=rsa-sha256; cv=pass; d=evil.example; s=s; b=AAAA\r\n",
        b"ARC-Seal: i=1\r\nARC-Seal: i=1\r\nARC-Message-Signature: i=1\r\nARC-Authentication-Results: i=1\r\n",
        b"ARC-Seal: i=99999999999999999999; cv=none; d=\xff\xfe; s=(; b=\r\n",
        b"ARC-Seal: \r\n",
    ],
    ids=["incomplete", "bad-instance", "duplicates", "hostile-bytes", "empty"],
)
def test_malformed_arc_headers_are_a_failed_chain_never_a_crash(world, headers):
    results = at_our_mx(headers + ORIGINAL)

    assert results.arc.result in ("fail", "none")
    assert "\n" not in results.header_value("mx.example.org")


def test_more_arc_sets_than_rfc_8617_allows_fail_without_a_lookup(world, dns_server):
    sets = b"".join(
        f"ARC-Seal: i={i}; a=rsa-sha256; cv=pass; d=s{i}.evil.example; s=x; b=AAAA\r\n".encode() for i in range(1, 52)
    )
    dns_server.resolver.queries.clear()

    results = at_our_mx(sets + ORIGINAL)

    assert results.arc == ARCResult("fail", explanation="more than 50 ARC sets")
    assert not [name for name, _ in dns_server.resolver.queries if "_domainkey" in name]


def test_key_lookups_stop_when_the_time_budget_is_spent(through_list_and_forwarder, monkeypatch):
    from inbound.auth import arc as arc_module

    monkeypatch.setattr(arc_module, "TIME_BUDGET", -1.0)  # spent before the first lookup

    result = at_our_mx(through_list_and_forwarder).arc

    assert result.result == "fail" and "time budget spent" in result.explanation


# --- trusted sealers and the DMARC disposition ------------------------------------------


def test_trusted_sealer_that_saw_an_aligned_pass_lifts_the_dmarc_reject(through_list_and_forwarder, settings):
    settings.ARC_TRUSTED_SEALERS = ["lists.example.net"]

    results = at_our_mx(through_list_and_forwarder)

    assert results.dmarc.result == "fail"  # the result stands; only what is done about it changes
    assert (results.dmarc.policy, results.dmarc.disposition, results.dmarc.override) == ("reject", "none", "arc")
    assert results.arc.vouched_by == "lists.example.net"
    value = results.header_value("mx.example.org")
    assert "dmarc=fail (p=reject dis=none)" in value and "policy.override=arc" in value
    assert value.endswith("arc=pass (i=2 forwarder.example lists.example.net trusted=lists.example.net)")


def test_untrusted_sealers_are_ignored(through_list_and_forwarder, settings):
    settings.ARC_TRUSTED_SEALERS = ["google.com", "example.org", "xlists.example.net"]

    results = at_our_mx(through_list_and_forwarder)

    assert results.arc.result == "pass" and results.arc.vouched_by == ""
    assert (results.dmarc.disposition, results.dmarc.override) == ("reject", "")


def test_a_subdomain_of_a_trusted_sealer_is_trusted(through_list_and_forwarder, settings):
    settings.ARC_TRUSTED_SEALERS = ["example.net", "lists.example.net."]

    assert at_our_mx(through_list_and_forwarder).arc.vouched_by == "lists.example.net"


def test_trusted_newest_sealer_that_saw_a_failure_passes_the_question_on_only_through_a_passing_chain(
    through_list_and_forwarder, settings
):
    """The forwarder saw DKIM fail (the list had changed the message) but a valid chain: what the list,
    also trusted, saw before it is what counts. Trusting the forwarder alone gives nothing."""
    settings.ARC_TRUSTED_SEALERS = ["forwarder.example"]
    alone = at_our_mx(through_list_and_forwarder)
    settings.ARC_TRUSTED_SEALERS = ["forwarder.example", "lists.example.net"]
    both = at_our_mx(through_list_and_forwarder)

    assert (alone.arc.vouched_by, alone.dmarc.disposition) == ("", "reject")
    assert (both.arc.vouched_by, both.dmarc.disposition) == ("lists.example.net", "none")


def test_trusted_sealer_whose_results_were_not_aligned_does_not_vouch(world, keys, settings):
    """The list got the message unsigned, from a server a.example does not allow: it saw no pass."""
    settings.ARC_TRUSTED_SEALERS = ["lists.example.net"]
    from_list = hop(
        ORIGINAL, sealer=world.lists, client_ip="198.18.0.1", helo="spoofer.example",
        mail_from="alice@a.example", modify=list_modifies,
    )  # fmt: skip

    results = authenticate(
        raw=from_list, client_ip=LIST_IP, helo="lists.example.net", mail_from="bounces@lists.example.net"
    )

    assert results.arc.result == "pass" and results.arc.vouched_by == ""
    assert results.dmarc.disposition == "reject"


def test_broken_chain_never_vouches_even_from_a_trusted_sealer(through_list_and_forwarder, settings):
    settings.ARC_TRUSTED_SEALERS = ["lists.example.net", "forwarder.example"]

    results = at_our_mx(through_list_and_forwarder.replace(b"roadmap", b"wire transfer"))

    assert results.arc.result == "fail"
    assert results.dmarc.disposition == "reject"


@pytest.mark.parametrize(
    ("aar", "vouches"),
    [
        ("mx.g.example; dkim=pass header.i=@mail.a.example header.s=x", True),  # relaxed alignment, by i=
        ("mx.g.example; spf=pass (sender ok) smtp.mailfrom=bounce@a.example", True),
        ("mx.g.example; dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=A.example", True),
        ("spf=pass (sender IP is 1.2.3.4) smtp.mailfrom=a.example; dmarc=pass action=none header.from=a.example", True),
        ("mx.g.example; dkim=pass header.d=lists.example.net; spf=pass smtp.mailfrom=lists.example.net", False),
        ("mx.g.example; dkim=fail header.d=a.example; dmarc=fail header.from=a.example", False),
        ('mx.g.example; dkim=neutral reason="dkim=pass header.d=a.example"', False),
        ("mx.g.example; dkim=pass (header.d=a.example) header.d=evil.example", False),
        ("\x00;;;===;(((", False),
    ],
)
def test_what_counts_as_an_aligned_pass_in_arc_authentication_results(aar, vouches):
    from inbound.auth.arc import _says_aligned_pass

    assert _says_aligned_pass(f"i=1; {aar}", "a.example") is vouches


def test_override_touches_only_a_failed_dmarc_that_asks_for_something():
    vouched = ARCResult("pass", instance=1, sealers="lists.example.net", vouched_by="lists.example.net")
    failed = DMARCResult("fail", "a.example", "quarantine", "quarantine", "no aligned SPF or DKIM pass")

    assert override_disposition(failed, ARCResult("pass", instance=1, sealers="x.example")) == failed
    assert override_disposition(DMARCResult("pass", "a.example", "reject", "none"), vouched).override == ""
    assert override_disposition(DMARCResult("fail", "a.example", "none", "none"), vouched).override == ""
    lifted = override_disposition(failed, vouched)
    assert (lifted.result, lifted.disposition, lifted.override) == ("fail", "none", "arc")
    assert "lists.example.net" in lifted.explanation and "; " not in lifted.explanation


def test_arc_results_round_trip_through_the_stored_dict(through_list_and_forwarder, settings):
    settings.ARC_TRUSTED_SEALERS = ["lists.example.net"]
    results = at_our_mx(through_list_and_forwarder)

    assert AuthenticationResults.from_dict(results.as_dict()) == results
    stored_before_arc = {key: value for key, value in results.as_dict().items() if key != "arc"}
    assert AuthenticationResults.from_dict(stored_before_arc).arc == ARCResult("none")


def test_header_with_arc_parses_with_authres(through_list_and_forwarder, settings):
    authres = pytest.importorskip("authres")
    settings.ARC_TRUSTED_SEALERS = ["lists.example.net"]

    value = at_our_mx(through_list_and_forwarder).header_value("mx.example.org")
    parsed = authres.AuthenticationResultsHeader.parse("Authentication-Results: " + value)

    methods = {r.method: r for r in parsed.results}
    assert methods["arc"].result == "pass"
    assert {f"{p.type}.{p.name}": p.value for p in methods["dmarc"].properties}["policy.override"] == "arc"


# --- through the inbound pipeline --------------------------------------------------------


def deliver_to_alice(raw: bytes) -> MailboxItem:
    arrival = Arrival(raw, "srs0@forwarder.example", ["alice@example.test"], FORWARDER_IP, "mx.forwarder.example")
    [job] = accept_messages([arrival], dispatch=False)
    process_inbound_messages(job_ids=[job.pk])
    job.refresh_from_db()
    assert job.status == InboundMessage.Status.DELIVERED
    return MailboxItem.objects.get(user__username="alice@example.test", message=job.message)


@pytest.mark.django_db
def test_list_mail_vouched_for_by_a_trusted_sealer_lands_in_the_inbox(alice, through_list_and_forwarder, settings):
    settings.ARC_TRUSTED_SEALERS = ["lists.example.net"]

    item = deliver_to_alice(through_list_and_forwarder)

    assert item.folder == Folder.INBOX
    job = InboundMessage.objects.get()
    assert job.auth["dmarc"]["override"] == "arc"
    assert "arc=pass" in job.authentication_results


@pytest.mark.django_db
def test_the_same_list_mail_without_a_trusted_sealer_is_quarantined(alice, through_list_and_forwarder, settings):
    settings.ARC_TRUSTED_SEALERS = ["google.com"]

    item = deliver_to_alice(through_list_and_forwarder)

    assert item.folder == Folder.SPAM
