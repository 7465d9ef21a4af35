"""DKIM (RFC 6376) verification of every DKIM-Signature, with dkimpy and the project's resolver.

Results, per RFC 6376 §6.1 and RFC 8601 §2.7.1:

- pass: the signature verifies against the published key;
- fail: it does not (body hash mismatch, signed headers changed, wrong key);
- permerror: it cannot ever verify as it stands: a malformed or expired signature, an unknown or
  forbidden algorithm (rsa-sha1, RFC 8301), no key published (NXDOMAIN or no TXT), a revoked,
  unreadable or too short (< 1024 bits) key, or a key of another type than the signature's
  (rsa-sha256 and ed25519-sha256, RFC 8463, are both verified);
- temperror: the key lookup timed out or was answered SERVFAIL;
- none: the message carries no signature (a single ``DKIMResult("none", "", "")``).

Only the first ``MAX_SIGNATURES`` signatures are verified: each costs a DNS lookup and a pass
over the body, and a message stuffed with signatures should not buy more of either.
"""

import logging
import re

import dkim

from .lookups import InvalidName, Lookups, TempError
from .message import header_fields
from .results import DKIMResult

logger = logging.getLogger(__name__)

MAX_SIGNATURES = 10
MIN_KEY_BITS = 1024
_TAG = re.compile(rb"^\s*([a-z]+)\s*=\s*(.*?)\s*$", re.S)


def verify_all(raw: bytes, lookups: Lookups) -> list[DKIMResult]:
    if not _may_be_signed(raw):
        return [DKIMResult("none", "", "")]
    try:
        verifier = dkim.DKIM(raw, logger=logger, minkey=MIN_KEY_BITS)
        signatures = [value for name, value in verifier.headers if name.lower() == b"dkim-signature"]
    except Exception as exc:  # dkimpy refuses some header sections outright
        if header_fields(raw, "DKIM-Signature"):
            return [DKIMResult("permerror", "", "", f"message header cannot be parsed: {_brief(exc)}")]
        return [DKIMResult("none", "", "")]
    if not signatures:
        return [DKIMResult("none", "", "")]
    return [_verify(verifier, index, value, lookups) for index, value in enumerate(signatures[:MAX_SIGNATURES])]


def _may_be_signed(raw: bytes) -> bool:
    """Whether the header section has a DKIM-Signature field: without one, dkimpy would find no signature
    either (its header section ends where ours does, or sooner), so it need not parse the message."""
    return bool(header_fields(raw, "DKIM-Signature"))


def _verify(verifier: dkim.DKIM, index: int, header_value: bytes, lookups: Lookups) -> DKIMResult:
    tags = _tags(header_value)
    domain, selector = _text(tags.get(b"d", b"")).lower(), _text(tags.get(b"s", b""))

    def result(value: str, explanation: str = "") -> DKIMResult:
        return DKIMResult(value, domain, selector, explanation)

    try:
        verifier.verify_headerprep(index)
    except Exception as exc:  # dkimpy raises more than DKIMException on hostile tags (IndexError on i=)
        return result("permerror", f"malformed signature: {_brief(exc)}")
    if tags.get(b"a", b"").strip().lower() == b"rsa-sha1":
        return result("permerror", "rsa-sha1 signatures are not accepted (RFC 8301)")

    key_name = f"{selector}._domainkey.{domain}"
    try:
        records = lookups.txt(key_name)
    except TempError as exc:
        return result("temperror", f"key lookup failed: {exc}")
    except InvalidName:
        return result("permerror", f"{key_name[:80]!r} is not a name to look a key up at")
    if not records:
        return result("permerror", f"no key published at {key_name}")
    key = records[0]
    try:
        key_type = dkim.evaluate_pk(key_name.encode(), key)[2]
    except Exception as exc:
        return result("permerror", f"unusable key at {key_name}: {_brief(exc)}")
    signed_with = tags.get(b"a", b"").strip().lower().partition(b"-")[0]
    if key_type != signed_with:  # RFC 6376 §6.1.2: "inappropriate key algorithm"
        return result(
            "permerror", f"the {_text(key_type)} key at {key_name} cannot check a {_text(signed_with)} signature"
        )

    try:
        verified = verifier.verify(idx=index, dnsfunc=lambda name, timeout=5: key)
    except dkim.ValidationError as exc:
        if "body hash" in str(exc):
            return result("fail", "body hash did not verify")
        return result("permerror", _brief(exc))
    except Exception as exc:  # KeyFormatError (key too short), MessageFormatError, and whatever else
        return result("permerror", _brief(exc))
    return result("pass") if verified else result("fail", "signature did not verify")


def _tags(value: bytes) -> dict[bytes, bytes]:
    """d= and s= of a signature, read leniently so even a broken signature is reported by domain."""
    tags = {}
    for part in value.split(b";"):
        if match := _TAG.match(part):
            tags.setdefault(match.group(1).lower(), re.sub(rb"\s+", b"", match.group(2)))
    return tags


def _text(value: bytes) -> str:
    return value.decode("ascii", "replace")[:255]


def _brief(exc: Exception) -> str:
    return f"{exc.__class__.__name__}: {exc}"[:200]
