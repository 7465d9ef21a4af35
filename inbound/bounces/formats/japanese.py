"""The Japanese mobile carriers' own reports: au (EZweb, au.com) and au by KDDI.

Their bodies are short English sentences in an ISO-2022-JP part ("The user(s)
account is temporarily over quota.", "Your mail sent on: … Could not be
delivered to: <…> As their mailbox is full."), with the addresses in angle
brackets; the sentence is the whole diagnosis, so it names the reason. The
other carriers (docomo, SoftBank) and the ISPs send RFC 3464 reports or
plain text in ISO-2022-JP or Shift_JIS, which the generic readers read.
"""

import re

from core.bounce_reasons import Reason
from inbound.bounces.reading import ADDRESS, Letter, Report, recipient, text_report

_CARRIER_SENDER = re.compile(r"postmaster@(?:ezweb\.ne\.jp|au\.com)$|no-reply@.+\.dion\.ne\.jp$", re.I)
_CARRIER_RECEIVED = re.compile(r"ezweb\.ne\.jp \(|\.au\.com \(|\(EZweb Mail\)", re.I)
_ADDRESS_LINE = re.compile(
    rf"\s*(?:Recipient:\s*|Could not be delivered to:\s*)?<(?P<address>{ADDRESS})>:?(?P<rest>.*)", re.I
)
_MESSAGES = (
    (re.compile(r"account is temporarily over quota|As their mailbox is full", re.I), Reason.MAILBOX_FULL),
    (re.compile(r"account is disabled|account is temporarily limited", re.I), Reason.SUSPENDED),
    (re.compile(r"Your message was not delivered within|Remote host is not responding", re.I), Reason.EXPIRED),
    (re.compile(r"Due to the following SMTP relay error", re.I), Reason.NO_RELAYING),
    (re.compile(r"As the remote domain doesn'?t exist", re.I), Reason.HOST_UNKNOWN),
)
_RCPT_REJECTED = re.compile(r">>>\s*RCPT TO", re.I)


def read(letter: Letter) -> Report | None:
    signs = (
        bool(_CARRIER_SENDER.search(letter.parsed.from_address)),
        letter.parsed.subject == "Mail System Error - Returned Mail",
        any(_CARRIER_RECEIVED.search(r) for r in letter.headers("received")),
        letter.header("reply-to").lower() == "no-reply@app.auone-net.jp",
    )
    if sum(signs) < 2:
        return None
    addresses: list[str] = []
    said: list[str] = []
    for line in letter.report_text():
        if match := _ADDRESS_LINE.fullmatch(line):
            if match["address"].lower() not in (a.lower() for a in addresses):
                addresses.append(match["address"])
            if match["rest"].strip():
                said.append(match["rest"].strip())
        elif line.strip():
            said.append(line.strip())
    # The Japanese lines are the carrier's boilerplate ("the address was not found, or the server…");
    # the English sentence or the quoted reply under them is the diagnosis.
    text = " ".join([line for line in said if line.isascii()] or said)
    if letter.header("x-spasign").upper().startswith("NG"):  # the carrier's spam filter refused it
        reason = Reason.FILTERED
    elif _RCPT_REJECTED.search(text):
        reason = Reason.USER_UNKNOWN
    else:
        reason = next((reason for pattern, reason in _MESSAGES if pattern.search(text)), "")
    action = "failed"
    return text_report(letter, [recipient(address, text, action, reason=reason) for address in addresses])
