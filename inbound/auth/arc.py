"""ARC (RFC 8617): the chain of custody forwarders and mailing lists seal onto mail, and what it vouches for.

A mailing list that tags the Subject or adds a footer breaks the author's DKIM signature, and its own
envelope sender is not aligned with the author's From: such mail fails DMARC through no fault of its
author. A list or forwarder that seals ARC records, in its ARC-Authentication-Results, what *it* saw when
the message reached it. ``verify`` validates the chain (dkimpy's ``arc_verify``, keys from our resolver):

- pass: every ARC-Seal and the newest ARC-Message-Signature verify, and no sealer reported cv=fail;
- fail: a seal or the newest message signature does not verify, a set is missing or duplicated, a
  sealer reported the chain broken, or a key could not be looked up;
- none: the message carries no ARC set.

When the chain passes, the most recent sealer in ``settings.ARC_TRUSTED_SEALERS`` is asked: if its
ARC-Authentication-Results say dkim=pass or spf=pass for a domain aligned (relaxed) with the From
domain, or dmarc=pass for it, that sealer "vouches" for the message, and ``override_disposition`` lifts
a failed DMARC's quarantine or reject (RFC 7489 §6.7, local policy override). The DMARC result itself
stays fail. Only the most recent trusted sealer counts: an older one saw the message before it did.
"""

import logging
import re
import time
from dataclasses import replace

import dkim
from django.conf import settings

from .dkim import MIN_KEY_BITS
from .dmarc import organizational_domain
from .lookups import InvalidName, Lookups, TempError
from .message import header_fields
from .results import ARCResult, DMARCResult

logger = logging.getLogger(__name__)

MAX_SETS = 50  # RFC 8617 §4.2.1: i= runs from 1 to 50
TIME_BUDGET = 15.0  # seconds of key lookups for a whole chain: a sender's slow DNS must not hold a worker
MAX_AAR = 16 * 1024  # of one ARC-Authentication-Results read for results (several signatures make them long)
_COMMENT = re.compile(r"\((?:[^()\\]|\\.)*\)")
_RESINFO = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*=\s*([A-Za-z]+)")
_PROPERTY = re.compile(r"\b(header|smtp|policy|body)\.([A-Za-z0-9_-]+)\s*=\s*(\"(?:[^\"\\]|\\.)*\"|[^\s;]+)")


class _KeyLookupFailed(Exception):
    """The DNS could not answer for a key: the chain cannot be judged now."""


def verify(raw: bytes, lookups: Lookups, *, from_domain: str) -> ARCResult:
    """The chain's validation status, its sealers (newest first) and the trusted sealer vouching for ``from_domain``."""
    seals = header_fields(raw, "ARC-Seal")
    if not seals:  # dkimpy would find no set either, without parsing the message
        return ARCResult("none")
    if len(seals) > MAX_SETS:  # each set costs two key lookups and two signature checks
        return ARCResult("fail", explanation=f"more than {MAX_SETS} ARC sets")
    dnsfunc = _key_lookup(lookups, deadline=time.monotonic() + TIME_BUDGET)
    try:
        status, sets, reason = dkim.arc_verify(raw, logger=logger, dnsfunc=dnsfunc, minkey=MIN_KEY_BITS)
    except _KeyLookupFailed as exc:
        return ARCResult("fail", explanation=f"key lookup failed: {exc}")
    except Exception as exc:  # dkimpy parses the whole header section before its own try
        return ARCResult("fail", explanation=f"ARC headers cannot be read: {exc.__class__.__name__}: {exc}"[:200])
    sealers = [_text(arc_set.get("as-domain", b"")).lower() for arc_set in sets]
    instance = max((arc_set["instance"] for arc_set in sets), default=0)
    chain = ARCResult(
        "pass" if status == dkim.CV_Pass else "fail",
        instance=instance,
        sealers=",".join(sealers),
        explanation="" if status == dkim.CV_Pass else str(reason)[:200],
    )
    if chain.result == "pass" and from_domain:
        return replace(chain, vouched_by=_vouching_sealer(sets, from_domain))
    return chain


def override_disposition(dmarc: DMARCResult, chain: ARCResult) -> DMARCResult:
    """``dmarc`` with its quarantine or reject lifted when a trusted sealer vouches for the message."""
    if dmarc.result != "fail" or dmarc.disposition == "none" or not chain.vouched_by:
        return dmarc
    # No "; " in it: the MX folds its Authentication-Results at each "; ".
    reason = f"{dmarc.explanation or 'fail'}, but trusted ARC sealer {chain.vouched_by} saw it pass: local policy"
    return replace(dmarc, disposition="none", override="arc", explanation=reason)


def trusted_sealers() -> list[str]:
    return [name.strip().lower().rstrip(".") for name in getattr(settings, "ARC_TRUSTED_SEALERS", ()) if name.strip()]


def _key_lookup(lookups: Lookups, *, deadline: float):
    def dnsfunc(name: bytes, timeout: float = 5) -> bytes | None:
        try:
            records = lookups.txt(name.decode("ascii", "replace").rstrip("."), deadline=deadline)
        except TempError as exc:
            raise _KeyLookupFailed(str(exc)) from exc
        except InvalidName:
            return None  # dkimpy: "missing public key", the set does not verify
        # A selector may hold other TXT records beside the key (RFC 6376 §3.6.2.2 expects one).
        return next((record for record in records if b"p=" in record), records[0] if records else None)

    return dnsfunc


def _vouching_sealer(sets: list[dict], from_domain: str) -> str:
    """The most recent trusted sealer that saw an aligned pass. A trusted sealer that saw none ends the
    search, unless it saw a valid ARC chain (arc=pass): then what the trusted sealers before it saw counts,
    as it would have for it (a trusted forwarder of list mail sees the list's changes break DKIM)."""
    trusted = trusted_sealers()
    for arc_set in sets[:MAX_SETS]:  # newest first, as dkimpy verified them
        sealer = _text(arc_set.get("as-domain", b"")).lower()
        if not any(sealer == name or sealer.endswith("." + name) for name in trusted):
            continue
        results = _results(_text(arc_set.get("aar-value", b""), limit=MAX_AAR))
        if _aligned_pass(results, from_domain):
            return sealer
        if not any(method == "arc" and result == "pass" for method, result, _ in results):
            return ""
    return ""


def _says_aligned_pass(aar: str, from_domain: str) -> bool:
    """Whether ARC-Authentication-Results (``i=1; mx.example; dkim=pass header.d=…; …``) show DMARC's
    mechanisms passing for ``from_domain``."""
    return _aligned_pass(_results(aar), from_domain)


def _results(aar: str) -> list[tuple[str, str, dict[str, str]]]:
    """(method, result, {"header.d": …}) of each result, read leniently: big providers' fields are not all
    RFC 8601 (no authserv-id, ``action=none``); comments are dropped, so nothing in them counts."""
    results = []
    for resinfo in _COMMENT.sub(" ", aar).split(";"):
        if match := _RESINFO.match(resinfo):
            props = {f"{p.lower()}.{n.lower()}": v.strip('"').lower() for p, n, v in _PROPERTY.findall(resinfo)}
            results.append((match.group(1).lower(), match.group(2).lower(), props))
    return results


def _aligned_pass(results: list[tuple[str, str, dict[str, str]]], from_domain: str) -> bool:
    from_domain = from_domain.lower().rstrip(".")
    wanted = _organizational_domain(from_domain)
    for method, result, props in results:
        if result != "pass":
            continue
        if method == "dmarc" and props.get("header.from", "").rstrip(".") == from_domain:
            return True
        if method == "dkim":
            signer = props.get("header.d") or props.get("header.i", "").rpartition("@")[2]
        elif method == "spf":
            signer = props.get("smtp.mailfrom", "").rpartition("@")[2]
        else:
            continue
        if signer and _organizational_domain(signer.rstrip(".")) == wanted:
            return True
    return False


def _organizational_domain(domain: str) -> str:
    try:
        return organizational_domain(domain)
    except Exception:  # whatever a hostile header holds is no domain aligned with anything
        return f"invalid:{domain}"


def _text(value: bytes | str, limit: int = 255) -> str:
    return (value.decode("ascii", "replace") if isinstance(value, bytes) else str(value))[:limit]
