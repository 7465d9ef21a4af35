"""ARC sealing (RFC 8617) of mail the product passes on to another server (forwarding, issue 18).

Re-sending a received message breaks SPF (our address is not the author's) and often DKIM (a changed
subject or footer). Sealing it records what our MX saw when it arrived, so that the next receiver can
judge it by our results if it trusts us::

    raw = seal_received(inbound=job, domain=hosted_domain)  # a message our MX received and stored
    raw = seal(raw, domain=hosted_domain, auth_results=header_value, chain=results.arc.result)

``auth_results`` is our Authentication-Results value for the message (``AuthenticationResults.header_value``:
authserv-id first) and ``chain`` the validation status of the ARC chain it arrived with ("pass", "fail",
"none": ``AuthenticationResults.arc.result``). The ARC set is signed with the domain's RSA DKIM key and
selector (dkimpy seals rsa-sha256 only), so the key record published for DKIM serves ARC too; the two
RSA signatures are OpenSSL's, as for DKIM (``delivery.dkim``), not dkimpy's pure Python.
"""

import logging
import re

import authres
import dkim
from django.conf import settings

from delivery.dkim import OpenSSLHeaderMixin, rsa_signer
from inbound.auth.message import header_fields
from mailboxes.blobstore import read_blob

logger = logging.getLogger(__name__)

CHAIN_STATUSES = ("pass", "fail", "none")
_TERMINATED = re.compile(r"(?:^|;)\s*cv\s*=\s*fail\b", re.I)


def seal(raw: bytes, *, domain, auth_results: str, chain: str) -> bytes:
    """``raw`` with the next ARC set (ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results) prepended.

    Unchanged when it cannot be sealed: the domain has no RSA key, the chain was already ended by a
    sealer that found it broken (RFC 8617 §5.1.2), it arrived with ARC sets but ``chain`` is "none",
    or the 50 sets ARC allows are used up. Never raises for what the message holds.
    """
    if chain not in CHAIN_STATUSES:
        raise ValueError(f"chain must be one of {CHAIN_STATUSES}, not {chain!r}")
    if not domain or not domain.dkim_private_key:
        return raw
    if any(_TERMINATED.search(value) for value in header_fields(raw, "ARC-Seal")):
        return raw
    authserv_id = (auth_results.split(";", 1)[0].strip() or settings.MAIL_HOSTNAME).encode("ascii", "replace")
    try:
        sealer = _OpenSSLSealer(raw, logger=logger, signature_algorithm=b"rsa-sha256")
        sealer._sign_digest = rsa_signer(domain.dkim_private_key)
        sealer.add_should_not(("Authentication-Results",))
        # dkimpy reads the results to seal, and cv=, from the message's Authentication-Results of our
        # authserv-id. It sees ours alone (whatever the message already carries), with the chain's status;
        # they are not signed, so what the message holds is not changed by it.
        ours = (b"Authentication-Results", b" " + _results_to_seal(auth_results, chain, authserv_id))
        sealer.headers = [ours] + [h for h in sealer.headers if h[0].lower() != b"authentication-results"]
        arc_set = sealer.sign(
            domain.dkim_selector.encode("ascii"),
            domain.name.encode("ascii"),
            domain.dkim_private_key.encode("ascii"),
            authserv_id,
            include_headers=sealer.default_sign_headers(),
        )
    except dkim.DKIMException as exc:
        logger.warning("ARC sealing for %s left the message unsealed: %s", domain.name, exc)
        return raw
    if not arc_set:  # dkimpy's word for a chain it must not extend (sets present, no chain status)
        logger.info("ARC sealing for %s: the message's chain was not validated, left unsealed", domain.name)
        return raw
    return b"".join(arc_set) + raw


def seal_received(*, inbound, domain) -> bytes:
    """The stored copy of a message our MX received (an ``InboundMessage`` that was delivered: trace
    headers and our Authentication-Results on top), sealed with what the MX found when it arrived."""
    raw = read_blob(inbound.message.blob)
    # Kept before ARC was checked: "none", and a message that came with sets is then left unsealed.
    chain = str((inbound.auth.get("arc") or {}).get("result", "none"))
    return seal(
        raw,
        domain=domain,
        auth_results=inbound.authentication_results,
        chain=chain if chain in CHAIN_STATUSES else "fail",  # a status we cannot vouch for
    )


class _OpenSSLSealer(OpenSSLHeaderMixin, dkim.ARC):
    """dkimpy's ARC sealer with its two RSA signatures made by OpenSSL; the tests check it is byte for byte
    what dkimpy's ``arc_sign`` makes."""


def _results_to_seal(auth_results: str, chain: str, authserv_id: bytes) -> bytes:
    """What dkimpy is to copy into ARC-Authentication-Results: our results, or, when they do not parse
    as RFC 8601 (dkimpy would then find none and not seal), the chain status alone."""
    value = _with_chain_status(auth_results, chain)
    try:
        authres.AuthenticationResultsHeader.parse("Authentication-Results: " + value)
    except Exception:
        value = f"{authserv_id.decode('ascii')}; arc={chain}"
    return value.encode("ascii", "replace")


def _with_chain_status(auth_results: str, chain: str) -> str:
    """``auth_results`` with exactly one arc= result, ``chain``: dkimpy takes cv= from it."""
    value = re.sub(r"[\r\n]+[ \t]*", " ", auth_results)  # a folded header value, unfolded
    parts = _resinfos(value)
    kept = [part for part in parts[1:] if not re.match(r"\s*arc\s*=", part, re.I) and part.strip()]
    kept = [part.strip() for part in kept if part.strip().lower() != "none"]
    return "; ".join([parts[0].strip(), *kept, f"arc={chain}"])


def _resinfos(value: str) -> list[str]:
    """``value`` split at the semicolons that are not inside a quoted string or a comment."""
    parts, current, depth, quoted, escaped = [], [], 0, False, False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif quoted:
            quoted = char != '"'
        elif char == '"':
            quoted = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth = max(depth - 1, 0)
        elif char == ";" and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts
