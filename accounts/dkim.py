"""DKIM keys of hosted domains and the DNS records a domain owner publishes."""

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from django.conf import settings

from accounts.domain_verification import verification_record
from accounts.selectors import retired_dkim_keys_to_publish

KEY_BITS = 2048


def generate_private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def public_key_base64(private_key_pem: str) -> str:
    key = serialization.load_pem_private_key(private_key_pem.encode("ascii"), password=None)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


def generate_ed25519_private_key() -> str:
    """Base64 of a new 32-byte Ed25519 seed: the private key form RFC 8463 signers (and dkimpy) use."""
    seed = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(seed).decode("ascii")


def ed25519_public_key_base64(private_key: str) -> str:
    """The p= of the ed25519 key record: the bare 32-byte public key in base64 (RFC 8463 §4.2), no ASN.1."""
    key = ed25519.Ed25519PrivateKey.from_private_bytes(base64.b64decode(private_key))
    return base64.b64encode(key.public_key().public_bytes_raw()).decode("ascii")


def _txt(value: str) -> str:
    """A TXT value split into quoted strings of at most 255 characters (RFC 1035)."""
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)]
    return " ".join(f'"{chunk}"' for chunk in chunks)


def mx_record(domain) -> str:
    mail_host = settings.MAIL_HOSTNAME.rstrip(".") + "."
    return f"{domain.name}.\t3600\tIN\tMX\t10 {mail_host}"


def spf_value() -> str:
    """The SPF policy to publish: our MX and mail host, and the outbound addresses when they are configured."""
    mail_host = settings.MAIL_HOSTNAME.rstrip(".")
    addresses = " ".join(f"ip6:{ip}" if ":" in ip else f"ip4:{ip}" for ip in settings.OUTBOUND_IPS)
    return f"v=spf1 mx a:{mail_host}{' ' + addresses if addresses else ''} ~all"


def spf_record(domain) -> str:
    return f'{domain.name}.\t3600\tIN\tTXT\t"{spf_value()}"'


def dkim_value(algorithm: str, public_key: str) -> str:
    return f"v=DKIM1; k={algorithm}; p={public_key}"


def dkim_keys(domain) -> list[tuple[str, str, str]]:
    """``(algorithm, selector, public key)`` of each key the domain signs with now: RSA, then Ed25519."""
    keys = []
    if domain.dkim_private_key:
        keys.append(("rsa", domain.dkim_selector, public_key_base64(domain.dkim_private_key)))
    if domain.dkim_ed25519_private_key:
        keys.append(
            ("ed25519", domain.dkim_ed25519_selector, ed25519_public_key_base64(domain.dkim_ed25519_private_key))
        )
    return keys


def dkim_record(domain, selector: str, algorithm: str, public_key: str) -> str:
    return f"{selector}._domainkey.{domain.name}.\t3600\tIN\tTXT\t{_txt(dkim_value(algorithm, public_key))}"


def dmarc_record(domain) -> str:
    return f'_dmarc.{domain.name}.\t3600\tIN\tTXT\t"v=DMARC1; p=quarantine; rua=mailto:postmaster@{domain.name}"'


def dns_records(domain, *, now=None) -> list[str]:
    """Zone-file lines to publish for ``domain``: MX, SPF, DKIM (one record per key it signs with, then the
    retired keys still to be kept), DMARC and the ownership token (docs/DOMAINS.md)."""
    records = [mx_record(domain), spf_record(domain)]
    records += [dkim_record(domain, selector, algorithm, key) for algorithm, selector, key in dkim_keys(domain)]
    if domain.pk is not None:
        records += [
            dkim_record(domain, old.selector, old.algorithm, old.public_key)
            for old in retired_dkim_keys_to_publish(domain, now=now)
        ]
    records.append(dmarc_record(domain))
    if domain.verification_token:
        records.append(verification_record(domain))
    return records
