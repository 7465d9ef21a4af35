"""Inbound verification of ed25519-sha256 DKIM signatures (RFC 8463), keys served by the loopback DNS server.

The message and keys are RFC 8463 Appendix A's: one message signed by football.example.com with an
Ed25519 key (selector brisbane) and an RSA key (selector test).
"""

import pytest

from inbound.auth import authenticate
from inbound.auth.dkim import verify_all
from inbound.auth.lookups import Lookups

RFC8463_MESSAGE = (
    b"DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    b" d=football.example.com; i=@football.example.com;\r\n"
    b" q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    b" subject : date : message-id : from : subject : date;\r\n"
    b" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    b" b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
    b" Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n"
    b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
    b" d=football.example.com; i=@football.example.com;\r\n"
    b" q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"
    b" date : message-id : from : subject : date;\r\n"
    b" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    b" b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n"
    b" DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n"
    b" dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n"
    b"From: Joe SixPack <joe@football.example.com>\r\n"
    b"To: Suzie Q <suzie@shopping.example.net>\r\n"
    b"Subject: Is dinner ready?\r\n"
    b"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    b"Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
    b"\r\n"
    b"Hi.\r\n"
    b"\r\n"
    b"We lost the game.  Are you hungry yet?\r\n"
    b"\r\n"
    b"Joe.\r\n"
)
ED25519_KEY = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
RSA_KEY = (
    "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY"
    "/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT"
    "+l/K4w3QIDAQAB"
)


@pytest.fixture
def football(dns_server):
    for selector, value in (("brisbane", ED25519_KEY), ("test", RSA_KEY)):
        strings = " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))
        dns_server.resolver.add(f"{selector}._domainkey.football.example.com. 300 IN TXT {strings}")
    dns_server.resolver.add('_dmarc.football.example.com. 300 IN TXT "v=DMARC1; p=reject"')


def test_rfc_8463_example_signatures_both_verify(football):
    results = verify_all(RFC8463_MESSAGE, Lookups())

    assert [(r.result, r.domain, r.selector) for r in results] == [
        ("pass", "football.example.com", "brisbane"),
        ("pass", "football.example.com", "test"),
    ]


def test_rfc_8463_example_passes_dmarc_and_says_so_in_the_header(football):
    results = authenticate(raw=RFC8463_MESSAGE, client_ip="203.0.113.5", helo="mx.example.net", mail_from="")

    assert results.dmarc.result == "pass"
    assert "dkim=pass header.d=football.example.com header.s=brisbane" in results.header_value("mx.example.org")


@pytest.mark.parametrize(
    ("original", "changed"),
    [
        (b"We lost the game.", b"We won the game."),  # body
        (b"Subject: Is dinner ready?", b"Subject: Is dinner ready?!"),  # a signed header field
    ],
    ids=["body", "header"],
)
def test_rfc_8463_example_tampered_fails_both_signatures(football, original, changed):
    results = verify_all(RFC8463_MESSAGE.replace(original, changed), Lookups())

    assert [r.result for r in results] == ["fail", "fail"]


def test_ed25519_signature_with_a_garbled_key_is_permerror_not_a_crash(dns_server):
    dns_server.resolver.add('brisbane._domainkey.football.example.com. 300 IN TXT "v=DKIM1; k=ed25519; p=AAAA"')
    dns_server.resolver.add(f'test._domainkey.football.example.com. 300 IN TXT "{RSA_KEY}"')

    results = verify_all(RFC8463_MESSAGE, Lookups())

    assert results[0].result == "permerror" and "unusable key" in results[0].explanation
    assert results[1].result == "pass"


def test_ed25519_signature_checked_against_an_rsa_key_is_permerror(dns_server):
    """A key record of the wrong type at the selector (a domain that mixed its selectors up)."""
    for selector in ("brisbane", "test"):
        strings = " ".join(f'"{RSA_KEY[i : i + 255]}"' for i in range(0, len(RSA_KEY), 255))
        dns_server.resolver.add(f"{selector}._domainkey.football.example.com. 300 IN TXT {strings}")

    results = verify_all(RFC8463_MESSAGE, Lookups())

    assert results[0].result == "permerror"
    assert "rsa key" in results[0].explanation and "ed25519 signature" in results[0].explanation
    assert results[1].result == "pass"
