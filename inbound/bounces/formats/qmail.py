"""qmail and its forks (netqmail, notqmail, s/qmail, qmail-ldap, vpopmail; QSBMF).

"Hi. This is the qmail-send program at host." then ``<address>:`` and the
explanation, up to "--- Below this line is a copy of the message.". The
generic text reader finds the recipients; qmail's own sentences name the
failure where the remote server's words do not.
"""

import re

from core.bounce_reasons import Reason
from inbound.bounces.reading import Letter, Report, generic_report, with_reasons

_QMAIL = re.compile(r"this is the qmail-send program|below this line is a copy of the message", re.I)
_BOUNCE_RECEIVED = re.compile(r"^\(qmail \d+ invoked (?:for bounce|from network)\)", re.I)
# qmail-remote's, qmail-local's and the patches' own sentences, in the order they are tried.
_MESSAGES = (
    (re.compile(r"Connected to \S+ but sender was rejected", re.I), Reason.REJECTED),
    (re.compile(r"Connected to \S+ but my name was rejected", re.I), Reason.BLOCKED),
    (re.compile(r"Mailaddress is administrative?le?y disabled", re.I), Reason.SUSPENDED),
    (re.compile(r"exeeded the maximum size the user accepts", re.I), Reason.EXCEED_LIMIT),
    (
        re.compile(r"Message size exceeds fixed maximum message size|exceeds my databytes limit", re.I),
        Reason.MESSAGE_TOO_BIG,
    ),
    (re.compile(r"Sorry, I couldn'?t find any host", re.I), Reason.HOST_UNKNOWN),
    (re.compile(r"no mailbox here by that name", re.I), Reason.USER_UNKNOWN),
    (
        re.compile(r"disk quota exceeded|user is over quota|mailfolder is over the allowed quota", re.I),
        Reason.MAILBOX_FULL,
    ),
    (
        re.compile(
            r"Sorry, I wasn'?t able to establish an SMTP connection|Sorry, I couldn'?t find a mail exchanger"
            r"|Although I'?m listed as a best-preference MX",
            re.I,
        ),
        Reason.NETWORK_ERROR,
    ),
    (
        re.compile(
            r"Unable to contact LDAP server|Temporary failure in LDAP lookup|Timeout while performing search on LDAP"
            r"|LDAP attribute is not given but mandatory|Illegal value in LDAP attribute|homedir creat",
            re.I,
        ),
        Reason.SYSTEM_ERROR,
    ),
)
_QUEUE_TOO_LONG = re.compile(r"this message has been in the queue too long", re.I)
_DOES_NOT_LIKE = re.compile(r"does not like recipient", re.I)


def read(letter: Letter) -> Report | None:
    if not _QMAIL.search(letter.human):
        return None
    if letter.parsed.subject.lower() != "failure notice" and not any(
        _BOUNCE_RECEIVED.match(r) for r in letter.headers("received")
    ):
        return None
    return with_reasons(generic_report(letter), _reason_of)


def _reason_of(reported) -> str:
    text = reported.diagnostic
    if _QUEUE_TOO_LONG.search(text) and reported.status.startswith("4"):
        return Reason.EXPIRED
    for pattern, reason in _MESSAGES:
        if pattern.search(text):
            return reason
    # "… does not like recipient. Remote host said: 550 …": the recipient, unless the reply says otherwise
    if _DOES_NOT_LIKE.search(text) and reported.status in ("", "5.0.0", "5.1.1"):
        return Reason.USER_UNKNOWN
    return ""
