"""The DMARC cases of a reference implementation's suite (authheaders' 11), run against inbound/auth/dmarc.py.

Run: .venv/bin/python bench/dmarc_reference_cases.py — prints each case and "N of 11". The same world as
authheaders' tests (records, From fields, which DKIM signature passed) is served by the loopback DNS
server; the DKIM results are handed to the DMARC evaluation as authheaders' tests hand them in. What is
compared is what the reference asserts: the DMARC result, the From domain and the policy applied.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webmail.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from core.dns import flush_dns_cache  # noqa: E402
from inbound.auth import clear_caches, dmarc  # noqa: E402
from inbound.auth.lookups import Lookups  # noqa: E402
from inbound.auth.results import DKIMResult, SPFResult  # noqa: E402
from tests.support.dns_server import LoopbackDNS  # noqa: E402

RECORDS = {
    "_dmarc.example.com": "v=DMARC1; p=reject; rua=mailto:dmarc.reports@example.com,mailto:agg@example.com",
    "_dmarc.example.org": "v=DMARC1; p=none",
    "_dmarc.example.net": "v=DMARC1; p=none; sp=reject",
    "_dmarc.example.biz": "v=DMARC1; p=none; sp=quarantine; np=reject",
    "_dmarc.nop.example.org": "v=DMARC1; sp=quarantine; np=reject",
    "_dmarc.bad.example.com": "v=DMARC1; p=none; reject",
    "_dmarc.gov": "v=DMARC1; p=reject; sp=none; np=reject; rua=mailto:dotgov@example.gov; psd=y",
}
EXISTING = {"sub2.example.biz": "192.0.2.80"}  # sub.example.biz and example.gov do not exist

# name: (From field, DKIM results (d=, result), tree walk?, expected (result, From domain, policy))
CASES = {
    "dmarc": ("Test User <test@example.com>", [("example.com", "pass")], False, ("pass", "example.com", "reject")),
    "dmarc_bad": ("Test User <test@bad.example.com>", [], False, ("permerror", "bad.example.com", "")),
    "dmarc_nofrom": ("Test User", [], False, ("permerror", "", "")),
    "dmarc_psdsub": ("Test User <test@example.gov>", [], True, ("fail", "example.gov", "reject")),
    "dmarc_mult_from": (
        "Bad User <spoof@example.org>,Test User <test@example.com>",
        [("example.com", "fail"), ("example.org", "pass")], False, ("fail", "example.com", "reject"),
    ),
    "dmarc_mult_from2": (
        "Test User <test@example.com>,Bad User <spoof@example.org>",
        [("example.com", "fail"), ("example.org", "pass")], False, ("fail", "example.com", "reject"),
    ),
    "dmarc_sub": ("Test User <test@sub.example.net>", [("sub.example.net", "fail")], False,
                  ("fail", "sub.example.net", "reject")),
    "dmarc_np1": ("Test User <test@sub.example.biz>", [("sub.example.biz", "fail")], False,
                  ("fail", "sub.example.biz", "reject")),
    "dmarc_np2": ("Test User <test@sub2.example.biz>", [("sub2.example.biz", "fail")], False,
                  ("fail", "sub2.example.biz", "quarantine")),
    "dmarc_no_p": ("Test User <test@nop.example.org>", [("nop.example.org", "fail")], False,
                   ("none", "nop.example.org", "")),
    "dmarc_comma": ('"Test, User" <test@example.com>', [("example.com", "pass")], False,
                    ("pass", "example.com", "reject")),
}  # fmt: skip


def main() -> int:
    server = LoopbackDNS().start()
    settings.DNS_NAMESERVERS = [server.nameserver]
    for name, text in RECORDS.items():
        server.resolver.add(f'{name}. 300 IN TXT "{text}"')
    for name, address in EXISTING.items():
        server.resolver.add(f"{name}. 300 IN A {address}")
    passed = 0
    try:
        for name, (from_, dkim, tree_walk, expected) in CASES.items():
            settings.DMARC_TREE_WALK = tree_walk
            flush_dns_cache()
            clear_caches()
            raw = f"From: {from_}\r\nTo: somebody@example.com\r\nSubject: test\r\n\r\nbody\r\n".encode()
            result = dmarc.evaluate(
                raw=raw,
                lookups=Lookups(),
                spf=SPFResult("none", "", "mailfrom"),
                dkim=[DKIMResult(outcome, domain, "test") for domain, outcome in dkim],
            )
            got = (result.result, result.domain, result.policy)
            ok = got == expected
            passed += ok
            print(f"{'ok  ' if ok else 'FAIL'} {name:18} got {got} expected {expected}")
    finally:
        server.stop()
    print(f"{passed} of {len(CASES)}")
    return 0 if passed == len(CASES) else 1


if __name__ == "__main__":
    sys.exit(main())
