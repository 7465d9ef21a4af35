"""Smaller mail providers: Zoho, GMX and web.de, Verizon, and the codes of iCloud, Comcast, mail.ru and Yandex.

- **Zoho** (``X-ZohoMail``): "This message was created automatically by mail
  delivery software…", then one line per recipient, ``user@host Invalid
  Address, ERROR_CODE :550, ERROR_CODE :5.1.1 …``, or ``[Status: Error,
  Address: <user@host>, ResponseCode 421, , Host not reachable.]`` when it
  gave up on an unreachable host.
- **GMX, web.de** (1&1, ``X-GMX-Antispam`` / ``X-UI-Out-Filterresults``): the
  address quoted on a line of its own (``"user@host":``, or ``<user@host>``),
  the remote reply below it, or "Reason: delivery retry timeout exceeded".
- **Verizon**: ``post_master@vtext.com`` ("Error: 550 - Requested action not
  taken: no such user here" and ``RCPT TO: …`` under "Message details") and
  ``sysadmin@vzwpix.com`` for picture messages ("Message could not be
  delivered to mobile. Error: No valid recipients for this MM").
- Replies of Apple's, Comcast's, mail.ru's and Yandex's servers carry their
  own codes or wording (``[CS01]``, ``#BL000001``, "account is disabled",
  "No such user!"), which state the reason in any MTA's report.
"""

import re

from core.bounce_reasons import Reason
from inbound.bounces.formats.common import ADDRESS, Letter, Report, address_in, dsn, lines_before_copy, recipient
from inbound.bounces.reading import _lines


def _facebook(codes: str) -> re.Pattern:
    """Facebook's response codes (``RCP-P2``), which it writes beside a link to postmaster.facebook.com."""
    return re.compile(rf"\b(?:{codes})\b(?=.*(?i:facebook))|(?i:facebook).*\b(?:{codes})\b")


VENDOR_CODES = (
    # Facebook: postmaster.facebook.com/response_codes
    (_facebook("RCP-P1|INT-P[134]"), Reason.USER_UNKNOWN),
    (_facebook("RCP-P[23]"), Reason.FILTERED),
    (_facebook("RCP-T4"), Reason.SUSPENDED),
    (_facebook("MSG-P1|INT-P2"), Reason.MESSAGE_TOO_BIG),
    (_facebook("MSG-P2|POL-P6"), Reason.CONTENT_ERROR),
    (_facebook("MSG-P3"), Reason.NOT_COMPLIANT_RFC),
    (_facebook("POL-P5"), Reason.VIRUS_DETECTED),
    (_facebook("POL-P7"), Reason.AUTH_FAILURE),
    (_facebook("POL-P[1-4]|POL-T[1-3]"), Reason.BLOCKED),
    (_facebook("DNS-P3|DNS-T2"), Reason.REQUIRE_PTR),
    (_facebook("DNS-P[12]|DNS-T1"), Reason.REJECTED),
    (_facebook("CON-T[23]"), Reason.TOO_MANY_CONNECTIONS),
    (_facebook("MSG-T1|CON-T4"), Reason.EXCEED_LIMIT),
    (_facebook("CON-T1|RCP-T1|INT-T\\d"), Reason.SYSTEM_ERROR),
    # iCloud (Apple): https://support.apple.com/en-us/102322
    (re.compile(r"inactive email address", re.I), Reason.SUSPENDED),
    (re.compile(r"\[(?:CS0\d|HM0\d)\] Message rejected due to local policy"), Reason.POLICY_VIOLATION),
    # Comcast: postmaster.comcast.net/smtp-error-codes.php
    (re.compile(r"smtp-error-codes\.php#BL0000\d\d|\bBL0000\d\d\b"), Reason.BLOCKED),
    (re.compile(r"smtp-error-codes\.php#RL0000\d\d|\bRL0000\d\d\b"), Reason.RATE_LIMITED),
    (re.compile(r"\bNot our Customer\b"), Reason.USER_UNKNOWN),
    # mail.ru
    (re.compile(r"Local mailbox \S+ is unavailable: account is disabled", re.I), Reason.SUSPENDED),
    (re.compile(r"Local mailbox \S+ is unavailable: user not found", re.I), Reason.USER_UNKNOWN),
    (re.compile(r"spam message rejected\. Please visit http://help\.mail\.ru", re.I), Reason.SPAM_DETECTED),
    # Yandex
    (re.compile(r"\b5\.7\.1 No such user!"), Reason.USER_UNKNOWN),
    (re.compile(r"Message rejected under suspicion of SPAM", re.I), Reason.SPAM_DETECTED),
)


def read(letter: Letter) -> Report | None:
    if letter.header("x-zohomail"):
        return _zoho(letter)
    if letter.header("x-gmx-antispam") or letter.header("x-ui-out-filterresults"):
        return _gmx(letter)
    sender = letter.parsed.from_address.lower()
    if sender == "post_master@vtext.com" or sender.endswith("@vzwpix.com"):
        return _verizon(letter)
    return None


_ZOHO_VERDICTS = {"invalid address": Reason.USER_UNKNOWN, "mailbox full": Reason.MAILBOX_FULL}
_ZOHO_LINE = re.compile(rf"^(?P<address>{ADDRESS})\s+(?P<rest>\S.*)$")
_ZOHO_STATUS = re.compile(rf"^\[Status:[^<\]]*<(?P<address>{ADDRESS})>,?(?P<rest>.*)\]\s*$")


def _zoho(letter: Letter) -> Report | None:
    recipients = []
    for line in lines_before_copy(letter):
        line = line.strip()
        if match := _ZOHO_LINE.match(line):
            # "Invalid Address, ERROR_CODE :550, ERROR_CODE :5.1.1 <…>... User Unknown": the reply is the codes
            codes = re.findall(r"ERROR_CODE\s*:\s*([^,]*)", match["rest"])
            reply = " ".join(code.strip() for code in codes) or match["rest"]
            verdict = match["rest"].split(",")[0].strip()  # Zoho's own word: "Invalid Address", "Mailbox Full"…
            reason = _ZOHO_VERDICTS.get(verdict.lower(), "")
            recipients.append(recipient(match["address"], f"{reply} ({verdict})", reason=reason))
        elif match := _ZOHO_STATUS.match(line):
            unreachable = re.search(r"host not reachable|connection timed out", match["rest"], re.I)
            reason, status = (Reason.EXPIRED, "4.4.7") if unreachable else ("", "")
            recipients.append(recipient(match["address"], match["rest"].strip(" ,"), status=status, reason=reason))
    return dsn(letter, recipients)


_GMX_ADDRESS = re.compile(rf'^(?:"(?P<quoted>{ADDRESS})":|<(?P<angled>{ADDRESS})>)\s*$')


def _gmx(letter: Letter) -> Report | None:
    found: dict[str, list[str]] = {}
    current = None
    for line in lines_before_copy(letter):
        line = line.strip()
        if match := _GMX_ADDRESS.match(line):
            current = found.setdefault(match["quoted"] or match["angled"], [])
        elif current is not None and line:
            current.append(line)
    recipients = []
    for address, lines in found.items():
        text = " ".join(lines)
        reply = re.search(r"(?:^|\s|reason:\s*)([245]\d\d[ -].*)$", text)
        diagnostic = reply.group(1) if reply else re.sub(r"^Reason:\s*", "", text)
        reason, status = "", ""
        if re.search(r"retry timeout exceeded", text, re.I):
            reason, status = Reason.EXPIRED, "4.4.7"
        recipients.append(recipient(address, diagnostic, status=status, reason=reason))
    return dsn(letter, recipients)


def _verizon(letter: Letter) -> Report | None:
    text = "\n".join(lines_before_copy(letter, limit=80) + _lines(letter.human)[:80])  # the copy names the number
    error = re.search(r"^Error:\s*(.+)$", text, re.M)
    to = re.search(r"^\s*(?:RCPT TO|To):\s*(.+)$", text, re.M)
    address = address_in(to.group(1)) if to else ""
    if not (error and address):
        return None
    diagnostic = error.group(1).strip()
    # vzwpix says no more than that the number takes no picture messages: the address is unknown to it
    reason = Reason.USER_UNKNOWN if re.search(r"no valid recipients|no such user", diagnostic, re.I) else ""
    status = "5.1.1" if reason else ""
    return dsn(letter, [recipient(address, diagnostic, status=status, reason=reason)])
