"""Yahoo and AOL (one platform since 2017).

Yahoo's old notice is plain text from ``MAILER-DAEMON@yahoo.com`` (marked by
``X-YMailISG``): "Sorry, we were unable to deliver your message to the
following address." then ``<address>:`` and "Remote host said: 550 …
[RCPT_TO]", the reply sometimes on the lines after. Newer notices add a
``message/delivery-status`` part. Yahoo's and AOL's replies carry their own
codes (``[TSS04]``, ``[BL21]``, ``(HVU:B1)``, ``(554.30)``…, listed on
postmaster.yahooinc.com), which state the reason wherever they are quoted.
"""

import re

from core.bounce_reasons import Reason
from inbound.bounces.formats.common import ADDRESS, Letter, Report, dsn, lines_before_copy, recipient
from inbound.bounces.reading import generic_report

_YAHOO_SENDER = re.compile(r"@(?:[\w-]+\.)*(?:yahoo|ymail|rocketmail|aol|aim|yahoogroups)\.[a-z.]+$", re.I)
VENDOR_CODES = (
    (re.compile(r"\(554\.30\)|this mailbox is disabled", re.I), Reason.SUSPENDED),
    (re.compile(r"doesn'?t have an? (?:yahoo|ymail|rocketmail|aol)\.[a-z.]+ account", re.I), Reason.USER_UNKNOWN),
    (re.compile(r"\b552 1 Requested mail action aborted, mailbox not found"), Reason.USER_UNKNOWN),
    (re.compile(r"\[(?:TSS0\d|TS0[1-4])\]"), Reason.RATE_LIMITED),
    (re.compile(r"\[(?:BL2\d|RL0\d)\]|\((?:HVU|RLY|CON|DYN|RTR|DNS):[A-Z]{1,2}\d?\)"), Reason.BLOCKED),
    (re.compile(r"\[PH01\]"), Reason.SPAM_DETECTED),
    (re.compile(r"sender is unauthenticated\. Yahoo requires", re.I), Reason.AUTH_FAILURE),
    (re.compile(r"\b5\.7\.9 Message not accepted for policy reasons", re.I), Reason.POLICY_VIOLATION),
)
_ADDRESS_HEAD = re.compile(rf"^<(?P<address>{ADDRESS})>:\s*$")


def read(letter: Letter) -> Report | None:
    yahoo = letter.header("x-ymailisg") or _YAHOO_SENDER.search(letter.parsed.from_address)
    if not yahoo:
        return None
    if not letter.status_parts and "unable to deliver your message" in letter.human:
        return _sorry_notice(letter)
    return generic_report(letter)


def _sorry_notice(letter: Letter) -> Report | None:
    """ "Sorry, we were unable to deliver your message…": ``<address>:`` and the remote reply under it."""
    found: dict[str, list[str]] = {}
    current = None
    for line in lines_before_copy(letter):
        head = _ADDRESS_HEAD.match(line.strip())
        if head:
            current = found.setdefault(head["address"], [])
        elif current is not None and line.strip():
            current.append(line.strip())
    recipients = []
    for address, lines in found.items():
        text = " ".join(lines)
        reply = re.sub(r"^Remote host said:\s*|\s*\[[A-Z_]{4,12}\]$", "", text)
        status, reason = "", ""
        if re.search(r"no MX or A records? for|domain (?:does not|doesn'?t) exist", reply, re.I):
            status, reason = "5.1.2", Reason.HOST_UNKNOWN
        recipients.append(recipient(address, reply, status=status, reason=reason))
    return dsn(letter, recipients)
