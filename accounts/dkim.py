"""DKIM keys of hosted domains and the DNS records a domain owner publishes."""

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
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


def _txt(value: str) -> str:
    """A TXT value split into quoted strings of at most 255 characters (RFC 1035)."""
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)]
    return " ".join(f'"{chunk}"' for chunk in chunks)


def dns_records(domain) -> list[str]:
    """Zone-file lines to publish for ``domain``: MX, SPF, DKIM (when it has a key) and DMARC."""
    name = f"{domain.name}."
    mail_host = settings.MAIL_HOSTNAME.rstrip(".") + "."
    records = [
        f"{name}\t3600\tIN\tMX\t10 {mail_host}",
        f'{name}\t3600\tIN\tTXT\t"v=spf1 mx a:{mail_host.rstrip(".")} ~all"',
    ]
    if domain.dkim_private_key:
        value = f"v=DKIM1; k=rsa; p={public_key_base64(domain.dkim_private_key)}"
        records.append(f"{domain.dkim_selector}._domainkey.{name}\t3600\tIN\tTXT\t{_txt(value)}")
    records.append(f'_dmarc.{name}\t3600\tIN\tTXT\t"v=DMARC1; p=quarantine; rua=mailto:postmaster@{domain.name}"')
    return records
