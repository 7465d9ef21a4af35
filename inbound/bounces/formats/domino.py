"""Lotus/IBM/HCL Domino: "DELIVERY FAILURE: …" reports.

"Your message  Subject: …  was not delivered to:  <address>  because:  <why>",
one such block per recipient, sometimes with an RFC 3464 part whose status is
a bare 5.0.0; the explanation names the failure ("not listed in Domino
Directory"), in English or in the server's language.
"""

import re

from core.bounce_reasons import Reason
from inbound.bounces.reading import Letter, Report, generic_report, with_reasons

_MESSAGES = (
    (
        re.compile(
            r"not listed in (?:Domino Directory|public Name & Address Book)|Domino ディレクトリには見つかりません"
            r"|No such user|User .{0,80} not listed",
            re.I,
        ),
        Reason.USER_UNKNOWN,
    ),
    (re.compile(r"Cannot route mail to user", re.I), Reason.FILTERED),
    (re.compile(r"Maximum mailbox size exceeded|mail file .{0,40} is full|over quota", re.I), Reason.MAILBOX_FULL),
    (re.compile(r"Several matches found in (?:Domino Directory|Name & Address Book)", re.I), Reason.SYSTEM_ERROR),
)


def read(letter: Letter) -> Report | None:
    if not letter.parsed.subject.upper().startswith("DELIVERY FAILURE") and "X-MIMETrack" not in letter.head:
        return None
    if "was not delivered to" not in letter.human:
        return None
    return with_reasons(generic_report(letter), _reason_of)


def _reason_of(reported) -> str:
    return next((reason for pattern, reason in _MESSAGES if pattern.search(reported.diagnostic)), "")
