"""Sender authentication for the inbound MX: SPF, DKIM, DMARC and ARC, summed up as Authentication-Results.

    results = authenticate(raw=raw, client_ip="192.0.2.1", helo="mx.a.example", mail_from="bob@a.example")
    results.dmarc.disposition      # "none", "quarantine" or "reject": what the From domain asks for,
                                   # unless a trusted ARC sealer vouches for the message (results.arc)
    results.header_value("mx.example.org")   # RFC 8601 value to prepend as Authentication-Results
    results.as_dict()              # JSON-safe, to keep with the message

Every DNS query goes through ``core.dns.get_resolver()``. ``authenticate`` never raises: DNS
timeouts and SERVFAIL become temperror, broken policies and signatures permerror, and anything
unexpected is logged and reported as temperror, so a bug here defers mail instead of losing it.
"""

import logging

from . import arc, dkim, dmarc, spf
from .lookups import Lookups
from .results import ARCResult, AuthenticationResults, DKIMResult, DMARCResult, SPFResult

__all__ = [
    "ARCResult",
    "AuthenticationResults",
    "DKIMResult",
    "DMARCResult",
    "SPFResult",
    "authenticate",
    "clear_caches",
]

logger = logging.getLogger(__name__)


def authenticate(*, raw: bytes, client_ip: str, helo: str, mail_from: str) -> AuthenticationResults:
    """SPF for MAIL FROM (postmaster@HELO when it is ``<>``) and for HELO, every DKIM signature, DMARC, then
    the ARC chain, which may lift DMARC's disposition (``arc.override_disposition``)."""
    lookups = Lookups()
    try:
        spf_result, helo_result = spf.check(lookups=lookups, client_ip=client_ip, helo=helo, mail_from=mail_from)
    except Exception:
        logger.exception("SPF evaluation crashed")
        helo_result = SPFResult("temperror", "", "helo", "internal error")
        with_sender = isinstance(mail_from, str) and mail_from.strip("<> ")
        spf_result = SPFResult("temperror", "", "mailfrom", "internal error") if with_sender else helo_result
    try:
        dkim_results = dkim.verify_all(raw, lookups)
    except Exception:
        logger.exception("DKIM verification crashed")
        dkim_results = [DKIMResult("temperror", "", "", "internal error")]
    try:
        dmarc_result = dmarc.evaluate(raw=raw, lookups=lookups, spf=spf_result, dkim=dkim_results)
    except Exception:
        logger.exception("DMARC evaluation crashed")
        dmarc_result = DMARCResult("temperror", "", "", "none", "internal error")
    try:
        arc_result = arc.verify(raw, lookups, from_domain=dmarc_result.domain)
    except Exception:
        logger.exception("ARC verification crashed")
        arc_result = ARCResult("fail", explanation="internal error")
    dmarc_result = arc.override_disposition(dmarc_result, arc_result)
    return AuthenticationResults(
        spf=spf_result, helo_spf=helo_result, dkim=dkim_results, dmarc=dmarc_result, arc=arc_result
    )


def clear_caches() -> None:
    """Forget the SPF results and DMARC records kept from earlier messages (tests change their DNS records)."""
    spf.clear_cache()
    dmarc.clear_cache()
