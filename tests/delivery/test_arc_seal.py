"""ARC sealing as a forwarder (delivery/arc.py): the sets it adds verify, through the loopback DNS server,
with dkimpy and with the product's own inbound ARC check."""

import re
from types import SimpleNamespace

import dkim
import pytest

from accounts.dkim import generate_private_key_pem, public_key_base64
from delivery.arc import seal, seal_received
from inbound.auth import arc
from inbound.auth.lookups import Lookups
from inbound.models import InboundMessage
from inbound.services.pipeline import process_inbound_messages
from inbound.services.reception import Arrival, accept_messages

RAW = (
    b"From: Paul <paul@partner.example>\r\nTo: alice@example.test\r\nSubject: Contract draft\r\n"
    b"Date: Mon, 07 Dec 2026 03:00:00 +0000\r\nMessage-ID: <draft-3@partner.example>\r\n\r\n"
    b"Draft attached in the next mail.\r\n"
)
OUR_RESULTS = (
    "mx.example.test; spf=pass smtp.mailfrom=partner.example; spf=none smtp.helo=mail.partner.example; "
    "dkim=pass header.d=partner.example header.s=s1; dmarc=pass (p=reject dis=none) header.from=partner.example"
)


@pytest.fixture(scope="module")
def keys():
    ours, other = generate_private_key_pem(), generate_private_key_pem()
    return SimpleNamespace(ours=ours, other=other, records={pem: public_key_base64(pem) for pem in (ours, other)})


@pytest.fixture
def hosted(keys, dns_server):
    """example.test, a hosted domain whose DKIM key (selector mail202612) is published; and another sealer."""
    for name, pem in (("mail202612._domainkey.example.test", keys.ours), ("arc._domainkey.other.example", keys.other)):
        value = f"v=DKIM1; k=rsa; p={keys.records[pem]}"
        strings = " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))
        dns_server.resolver.add(f"{name}. 300 IN TXT {strings}")
    return SimpleNamespace(name="example.test", dkim_selector="mail202612", dkim_private_key=keys.ours)


def other_sealer(keys):
    return SimpleNamespace(name="other.example", dkim_selector="arc", dkim_private_key=keys.other)


def arc_fields(raw: bytes, name: bytes) -> list[bytes]:
    return [b" ".join(value.split()) for field, value in dkim.DKIM(raw).headers if field.lower() == name]


def verified(raw: bytes):
    return arc.verify(raw, Lookups(), from_domain="partner.example")


def test_first_seal_starts_a_chain_that_verifies(hosted):
    sealed = seal(RAW, domain=hosted, auth_results=OUR_RESULTS, chain="none")

    assert sealed.endswith(RAW)  # the message itself is untouched
    [seal_tags] = [dkim.util.parse_tag_value(v) for v in arc_fields(sealed, b"arc-seal")]
    assert (seal_tags[b"i"], seal_tags[b"cv"], seal_tags[b"d"], seal_tags[b"s"]) == (
        b"1",
        b"none",
        b"example.test",
        b"mail202612",
    )
    [aar] = arc_fields(sealed, b"arc-authentication-results")
    assert aar.startswith(b"i=1; mx.example.test; spf=pass smtp.mailfrom=partner.example;")
    assert b"dkim=pass header.d=partner.example" in aar and aar.endswith(b"arc=none")
    assert verified(sealed).result == "pass"


def test_seal_is_byte_for_byte_the_one_dkimpy_would_make(hosted, monkeypatch):
    """The RSA signatures are OpenSSL's; PKCS#1 v1.5 is deterministic, so at the same time they are dkimpy's."""
    monkeypatch.setattr(dkim.time, "time", lambda: 1_796_000_000)
    ours = seal(RAW, domain=hosted, auth_results=OUR_RESULTS, chain="none")
    with_results = f"Authentication-Results: {OUR_RESULTS}; arc=none\r\n".encode() + RAW
    theirs = dkim.arc_sign(
        with_results, b"mail202612", b"example.test", hosted.dkim_private_key.encode(), b"mx.example.test"
    )

    assert ours == b"".join(theirs) + RAW


def test_resealing_a_verified_chain_adds_the_next_set_with_cv_pass(hosted, keys):
    first = seal(RAW, domain=other_sealer(keys), auth_results="mx.other.example; spf=pass", chain="none")
    first_check = verified(first)

    second = seal(first, domain=hosted, auth_results=OUR_RESULTS + "; arc=pass", chain=first_check.result)

    result = verified(second)
    assert (result.result, result.instance, result.sealers) == ("pass", 2, "example.test,other.example")
    assert any(b"i=2;" in v and b"cv=pass" in v for v in arc_fields(second, b"arc-seal"))
    [newest] = [v for v in arc_fields(second, b"arc-authentication-results") if v.startswith(b"i=2;")]
    assert newest.count(b"; arc=") == 1 and newest.endswith(b"; arc=pass")


def test_a_chain_that_failed_here_is_sealed_with_cv_fail_and_fails_downstream(hosted, keys):
    first = seal(RAW, domain=other_sealer(keys), auth_results="mx.other.example; spf=pass", chain="none")
    broken = first.replace(b"next mail", b"next email")
    assert verified(broken).result == "fail"

    sealed = seal(broken, domain=hosted, auth_results=OUR_RESULTS, chain="fail")

    assert any(b"i=2;" in v and b"cv=fail" in v for v in arc_fields(sealed, b"arc-seal"))
    assert verified(sealed).result == "fail"


def test_a_chain_ended_by_an_earlier_cv_fail_is_not_sealed_again(hosted, keys):
    first = seal(RAW, domain=other_sealer(keys), auth_results="mx.other.example; spf=pass", chain="none")
    ended = seal(first.replace(b"next mail", b"next email"), domain=hosted, auth_results=OUR_RESULTS, chain="fail")

    assert seal(ended, domain=hosted, auth_results=OUR_RESULTS, chain="fail") == ended


def test_a_message_with_arc_sets_but_no_chain_status_is_left_unsealed(hosted, keys):
    first = seal(RAW, domain=other_sealer(keys), auth_results="mx.other.example; spf=pass", chain="none")

    assert seal(first, domain=hosted, auth_results=OUR_RESULTS, chain="none") == first


def test_our_authentication_results_already_in_the_stored_message_are_sealed_once(hosted):
    """The MX stores mail with its Authentication-Results on top, folded at each result."""
    stored = b"Authentication-Results: " + OUR_RESULTS.replace("; ", ";\r\n\t").encode() + b"\r\n" + RAW

    sealed = seal(stored, domain=hosted, auth_results=OUR_RESULTS, chain="none")

    [aar] = arc_fields(sealed, b"arc-authentication-results")
    assert aar.count(b"dkim=pass") == 1
    assert sealed.endswith(stored)
    assert verified(sealed).result == "pass"


def test_results_that_do_not_parse_still_seal_with_the_chain_status(hosted):
    sealed = seal(RAW, domain=hosted, auth_results="mx.example.test; spf=(((; dkim=\x00", chain="none")

    [aar] = arc_fields(sealed, b"arc-authentication-results")
    assert aar == b"i=1; mx.example.test; arc=none"
    assert verified(sealed).result == "pass"


def test_a_domain_without_a_key_cannot_seal():
    domain = SimpleNamespace(name="example.test", dkim_selector="", dkim_private_key="")

    assert seal(RAW, domain=domain, auth_results=OUR_RESULTS, chain="none") == RAW
    assert seal(RAW, domain=None, auth_results=OUR_RESULTS, chain="none") == RAW


def test_an_unknown_chain_status_is_a_programming_error(hosted):
    with pytest.raises(ValueError, match="chain must be one of"):
        seal(RAW, domain=hosted, auth_results=OUR_RESULTS, chain="maybe")


def test_sealed_headers_are_folded_crlf_lines(hosted):
    sealed = seal(RAW, domain=hosted, auth_results=OUR_RESULTS, chain="none")
    head = sealed[: sealed.index(RAW)]

    assert all(len(line) <= 998 for line in head.split(b"\r\n"))
    assert not re.search(rb"(?<!\r)\n", head)


@pytest.mark.django_db
def test_a_message_our_mx_received_is_sealed_with_what_the_mx_found(alice, hosted, settings, dns_server):
    settings.MAIL_HOSTNAME = "mx.example.test"
    dns_server.resolver.add('partner.example. 300 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"')
    [job] = accept_messages(
        [Arrival(RAW, "paul@partner.example", ["alice@example.test"], "192.0.2.8", "mail.partner.example")],
        dispatch=False,
    )
    process_inbound_messages(job_ids=[job.pk])
    job = InboundMessage.objects.select_related("message__blob").get(pk=job.pk)

    sealed = seal_received(inbound=job, domain=hosted)

    [aar] = arc_fields(sealed, b"arc-authentication-results")
    assert aar.startswith(b"i=1; mx.example.test; spf=pass smtp.mailfrom=partner.example;")
    assert aar.endswith(b"; arc=none")
    assert sealed.endswith(RAW) and b"Received: from mail.partner.example" in sealed
    assert verified(sealed).result == "pass"
