"""DKIM keys of hosted domains and the DNS records a domain owner publishes."""

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from django.conf import settings

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


def dns_records(domain) -> list[str]:
    """Zone-file lines to publish for ``domain``: MX, SPF, DKIM (one record per key it has) and DMARC."""
    name = f"{domain.name}."
    mail_host = settings.MAIL_HOSTNAME.rstrip(".") + "."
    records = [
        f"{name}\t3600\tIN\tMX\t10 {mail_host}",
        f'{name}\t3600\tIN\tTXT\t"v=spf1 mx a:{mail_host.rstrip(".")} ~all"',
    ]
    if domain.dkim_private_key:
        value = f"v=DKIM1; k=rsa; p={public_key_base64(domain.dkim_private_key)}"
        records.append(f"{domain.dkim_selector}._domainkey.{name}\t3600\tIN\tTXT\t{_txt(value)}")
    if domain.dkim_ed25519_private_key:
        value = f"v=DKIM1; k=ed25519; p={ed25519_public_key_base64(domain.dkim_ed25519_private_key)}"
        records.append(f"{domain.dkim_ed25519_selector}._domainkey.{name}\t3600\tIN\tTXT\t{_txt(value)}")
    records.append(f'_dmarc.{name}\t3600\tIN\tTXT\t"v=DMARC1; p=quarantine; rua=mailto:postmaster@{domain.name}"')
    return records
