"""Ed25519 DKIM signing (RFC 8463) beside RSA: keys, DNS records, the dual signature, and real delivery.

Signatures are verified by dkimpy (with PyNaCl) and by the product's own inbound verifier, reading the
keys from the loopback DNS server: what a receiver would do.
"""

import io
from types import SimpleNamespace

import dkim as dkimpy
import pytest
from django.core.management import call_command

from accounts.dkim import (
    dns_records,
    ed25519_public_key_base64,
    generate_ed25519_private_key,
    generate_private_key_pem,
    public_key_base64,
)
from accounts.services import ensure_dkim_key
from delivery import dkim
from delivery.services import run_delivery, send_message
from inbound.auth import authenticate
from inbound.auth.dkim import verify_all
from inbound.auth.lookups import Lookups
from tests.factories import DomainFactory

RAW = (
    b"From: Alice <alice@example.test>\r\nTo: bob@remote.example\r\nSubject: Two  keys,   one message\r\n"
    b"Date: Mon, 07 Dec 2026 05:00:00 +0000\r\nMessage-ID: <dual-1@example.test>\r\n"
    b"List-Unsubscribe: <mailto:unsubscribe@example.test>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    b"\r\nThe quarterly figures are attached.  \r\n\r\n\r\n"
)


@pytest.fixture(scope="module")
def keys():
    return SimpleNamespace(rsa=generate_private_key_pem(), ed25519=generate_ed25519_private_key())


def domain_with(keys, *, rsa=True, ed25519=True):
    return SimpleNamespace(
        name="example.test",
        dkim_selector="mail202612" if rsa else "",
        dkim_private_key=keys.rsa if rsa else "",
        dkim_ed25519_selector="ed202612" if ed25519 else "",
        dkim_ed25519_private_key=keys.ed25519 if ed25519 else "",
    )


@pytest.fixture
def published(keys, dns_server):
    """Both key records of example.test on the loopback DNS server."""
    rsa_record = f"v=DKIM1; k=rsa; p={public_key_base64(keys.rsa)}"
    ed_record = f"v=DKIM1; k=ed25519; p={ed25519_public_key_base64(keys.ed25519)}"
    for selector, value in (("mail202612", rsa_record), ("ed202612", ed_record)):
        strings = " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))
        dns_server.resolver.add(f"{selector}._domainkey.example.test. 300 IN TXT {strings}")


def signature_tags(signed: bytes) -> list[dict[bytes, bytes]]:
    verifier = dkimpy.DKIM(signed)
    return [dkimpy.util.parse_tag_value(value) for name, value in verifier.headers if name.lower() == b"dkim-signature"]


def test_ed25519_public_key_is_the_bare_32_bytes_the_record_carries(keys):
    record = f"v=DKIM1; k=ed25519; p={ed25519_public_key_base64(keys.ed25519)}".encode()

    pk, keysize, ktag, _ = dkimpy.evaluate_pk(b"ed202612._domainkey.example.test.", record)

    assert (keysize, ktag) == (256, b"ed25519")
    assert len(ed25519_public_key_base64(keys.ed25519)) == 44  # base64 of 32 bytes


def test_ed25519_signature_is_the_one_dkimpy_would_make(keys, monkeypatch):
    """PureEdDSA is deterministic: same key, same time, same bytes as dkimpy's own (PyNaCl) signer."""
    monkeypatch.setattr(dkimpy.time, "time", lambda: 1_796_000_000)
    ours = dkim.sign(RAW, domain=domain_with(keys, rsa=False))
    theirs = dkimpy.sign(
        RAW, selector=b"ed202612", domain=b"example.test", privkey=keys.ed25519.encode(),
        signature_algorithm=b"ed25519-sha256", canonicalize=(b"relaxed", b"relaxed"),
        include_headers=dkim._OpenSSLSigner(RAW).default_sign_headers(),
    ) + RAW  # fmt: skip

    assert ours == theirs


def test_domain_with_both_keys_signs_rsa_first_and_ed25519_on_top(keys):
    signed = dkim.sign(RAW, domain=domain_with(keys))

    top, below = signature_tags(signed)
    assert (top[b"a"], top[b"s"]) == (b"ed25519-sha256", b"ed202612")
    assert (below[b"a"], below[b"s"]) == (b"rsa-sha256", b"mail202612")
    assert top[b"bh"] == below[b"bh"]  # one body, one hash
    assert top[b"h"] == below[b"h"]
    assert b"list-unsubscribe-post" in top[b"h"]
    assert signed.endswith(RAW)


def test_dual_signatures_both_verify_through_the_published_keys(keys, published):
    signed = dkim.sign(RAW, domain=domain_with(keys))

    results = verify_all(signed, Lookups())

    assert [(r.result, r.selector) for r in results] == [("pass", "ed202612"), ("pass", "mail202612")]


def test_tampered_dual_signed_message_fails_both_signatures(keys, published):
    signed = dkim.sign(RAW, domain=domain_with(keys))

    body_changed = verify_all(signed.replace(b"quarterly figures", b"quarterly invoice"), Lookups())
    header_changed = verify_all(signed.replace(b"Subject: Two", b"Subject: Three"), Lookups())

    assert [r.result for r in body_changed] == ["fail", "fail"]
    assert [r.result for r in header_changed] == ["fail", "fail"]


def test_ed25519_only_signature_makes_dmarc_pass(keys, published, dns_server):
    dns_server.resolver.add('_dmarc.example.test. 300 IN TXT "v=DMARC1; p=reject"')
    signed = dkim.sign(RAW, domain=domain_with(keys, rsa=False))

    results = authenticate(raw=signed, client_ip="203.0.113.9", helo="mx.elsewhere.example", mail_from="")

    assert [(r.result, r.selector) for r in results.dkim] == [("pass", "ed202612")]
    assert results.dmarc.result == "pass"


def test_domain_without_an_ed25519_key_is_signed_with_rsa_only(keys):
    signed = dkim.sign(RAW, domain=domain_with(keys, ed25519=False))

    assert [tags[b"a"] for tags in signature_tags(signed)] == [b"rsa-sha256"]


# --- keys of hosted domains --------------------------------------------------------------


@pytest.mark.django_db
def test_ensure_dkim_key_adds_an_ed25519_key_beside_the_rsa_one_once():
    DomainFactory(name="example.test")
    rsa_only, created = ensure_dkim_key(domain_name="example.test")
    assert created and not rsa_only.dkim_ed25519_private_key

    both, created = ensure_dkim_key(domain_name="example.test", ed25519=True)
    again, created_again = ensure_dkim_key(domain_name="example.test", ed25519=True)

    assert created and not created_again
    assert both.dkim_private_key == rsa_only.dkim_private_key  # the RSA key is kept
    assert both.dkim_ed25519_selector.startswith("ed") and both.dkim_ed25519_selector != both.dkim_selector
    assert again.dkim_ed25519_private_key == both.dkim_ed25519_private_key
    [ed_record] = [r for r in dns_records(both) if "k=ed25519" in r]
    assert ed_record.startswith(f"{both.dkim_ed25519_selector}._domainkey.example.test.\t")
    assert ed25519_public_key_base64(both.dkim_ed25519_private_key) in ed_record


@pytest.mark.django_db
def test_dkimkey_command_with_ed25519_prints_both_key_records():
    DomainFactory(name="example.test")
    out = io.StringIO()

    call_command("dkimkey", "example.test", "--ed25519", stdout=out, stderr=io.StringIO())

    records = [line for line in out.getvalue().splitlines() if "_domainkey" in line]
    assert len(records) == 2
    assert any("k=rsa" in r for r in records) and any("k=ed25519" in r for r in records)


def test_mail_from_a_dual_key_domain_arrives_with_two_verifying_signatures(
    alice, remote_domain, smtp_server, dns_server
):
    domain, _ = ensure_dkim_key(domain_name="example.test", ed25519=True)
    for record in dns_records(domain):
        if "_domainkey" in record:
            dns_server.resolver.add(record.replace("\t", " "))

    send_message(user=alice, to=["ok@remote.example"], subject="Signed twice", text="Body to sign")
    run_delivery()

    [received] = smtp_server.messages
    results = verify_all(received.content, Lookups())
    assert [(r.result, r.selector) for r in results] == [
        ("pass", domain.dkim_ed25519_selector),
        ("pass", domain.dkim_selector),
    ]


@pytest.mark.django_db
def test_admin_action_adds_an_ed25519_key_and_the_page_shows_both_records(client, alice):
    from django.urls import reverse

    from accounts.models import Domain
    from tests.factories import UserFactory

    client.force_login(UserFactory(address="root@example.test", display_name="Operator", admin=True))
    domain = Domain.objects.get(name="example.test")
    changelist = reverse("admin:accounts_domain_changelist")

    response = client.post(
        changelist, {"action": "make_ed25519_dkim_keys", "_selected_action": [domain.pk]}, follow=True
    )

    assert response.status_code == 200
    domain.refresh_from_db()
    assert domain.dkim_private_key and domain.dkim_ed25519_private_key
    page = client.get(reverse("admin:accounts_domain_change", args=[domain.pk])).content.decode()
    assert f"{domain.dkim_ed25519_selector}._domainkey.example.test." in page
    assert "v=DKIM1; k=ed25519; p=" in page and "v=DKIM1; k=rsa; p=" in page
    assert domain.dkim_ed25519_private_key not in page
