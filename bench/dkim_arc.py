"""DKIM signing and verification, RSA and Ed25519 (RFC 8463), and ARC (RFC 8617): time per message.

Run: .venv/bin/python bench/dkim_arc.py [--rounds N] — prints milliseconds per message for
- the engine's signing path (``delivery.dkim.sign``): RSA alone, and RSA + Ed25519 (dual),
  beside dkimpy's own signer for each algorithm;
- inbound verification (``inbound.auth.dkim.verify_all``) of the RFC 8463 Appendix A message
  (one Ed25519 and one RSA signature), keys answered from memory;
- ARC: sealing one set (``delivery.arc.seal``) and validating a two-set chain (``inbound.auth.arc.verify``).
No DNS server: key lookups are answered from a dict, so the numbers are the cryptography and parsing alone.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webmail.settings")

import django  # noqa: E402

django.setup()

import dkim  # noqa: E402

from accounts.dkim import (  # noqa: E402
    ed25519_public_key_base64,
    generate_ed25519_private_key,
    generate_private_key_pem,
    public_key_base64,
)
from delivery import dkim as delivery_dkim  # noqa: E402
from delivery.arc import seal  # noqa: E402
from inbound.auth import arc  # noqa: E402
from inbound.auth import dkim as inbound_dkim  # noqa: E402
from tests.inbound.test_dkim_ed25519 import ED25519_KEY, RFC8463_MESSAGE, RSA_KEY  # noqa: E402

MESSAGE = (
    b"From: Alice <alice@example.test>\r\nTo: bob@remote.example\r\nSubject: Monthly report\r\n"
    b"Date: Mon, 07 Dec 2026 05:00:00 +0000\r\nMessage-ID: <report-12@example.test>\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + b"A line of the report body.\r\n" * 400
)


class MemoryLookups:
    """``Lookups.txt`` from a dict: what the verifiers ask, without a network."""

    def __init__(self, records: dict[str, str]):
        self.records = {name: [value.encode()] for name, value in records.items()}

    def txt(self, name: str, *, deadline: float | None = None) -> list[bytes]:
        return self.records.get(name.rstrip("."), [])


def per_message_ms(function, rounds: int) -> float:
    function()  # warm: keys parsed, caches filled
    samples = []
    for _ in range(max(3, rounds // 50)):
        started = time.perf_counter()
        for _ in range(50):
            function()
        samples.append((time.perf_counter() - started) / 50 * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=500, help="messages per measurement (default 500)")
    rounds = parser.parse_args().rounds

    rsa_pem, ed_seed = generate_private_key_pem(), generate_ed25519_private_key()
    rsa_only = SimpleNamespace(
        name="example.test", dkim_selector="rsa", dkim_private_key=rsa_pem, dkim_ed25519_private_key=""
    )
    dual = SimpleNamespace(**vars(rsa_only), dkim_ed25519_selector="ed")
    dual.dkim_ed25519_private_key = ed_seed
    keys = MemoryLookups(
        {
            "rsa._domainkey.example.test": f"v=DKIM1; k=rsa; p={public_key_base64(rsa_pem)}",
            "ed._domainkey.example.test": f"v=DKIM1; k=ed25519; p={ed25519_public_key_base64(ed_seed)}",
            "brisbane._domainkey.football.example.com": ED25519_KEY,
            "test._domainkey.football.example.com": RSA_KEY,
        }
    )
    chain = seal(MESSAGE, domain=rsa_only, auth_results="mx.example.test; spf=pass", chain="none")
    chain = seal(chain, domain=rsa_only, auth_results="mx.example.test; spf=pass; arc=pass", chain="pass")
    assert arc.verify(chain, keys, from_domain="example.test").result == "pass"
    assert [r.result for r in inbound_dkim.verify_all(delivery_dkim.sign(MESSAGE, domain=dual), keys)] == ["pass"] * 2

    cases = {
        "sign: RSA-2048 (engine, OpenSSL)": lambda: delivery_dkim.sign(MESSAGE, domain=rsa_only),
        "sign: RSA-2048 + Ed25519 (engine, dual)": lambda: delivery_dkim.sign(MESSAGE, domain=dual),
        "sign: RSA-2048 (dkimpy alone)": lambda: dkim.sign(MESSAGE, b"rsa", b"example.test", rsa_pem.encode()),
        "sign: Ed25519 (dkimpy alone, PyNaCl)": lambda: dkim.sign(
            MESSAGE, b"ed", b"example.test", ed_seed.encode(), signature_algorithm=b"ed25519-sha256"
        ),
        "verify: RFC 8463 example, Ed25519 + RSA": lambda: inbound_dkim.verify_all(RFC8463_MESSAGE, keys),
        "verify: dual-signed message": lambda: inbound_dkim.verify_all(delivery_dkim.sign(MESSAGE, domain=dual), keys),
        "ARC: seal one set (OpenSSL RSA)": lambda: seal(
            MESSAGE, domain=rsa_only, auth_results="mx.example.test; spf=pass", chain="none"
        ),
        "ARC: validate a two-set chain": lambda: arc.verify(chain, keys, from_domain="example.test"),
    }
    print(f"{'case':48} ms/message  (median of batches of 50, {len(MESSAGE)} byte message)")
    for name, function in cases.items():
        print(f"{name:48} {per_message_ms(function, rounds):8.3f}")


if __name__ == "__main__":
    main()
