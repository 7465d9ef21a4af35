"""Office 365 (Exchange Online) and Outlook.com / Hotmail.

Their non-delivery reports are ``multipart/report`` with a long HTML and
text part ("Your message to … couldn't be delivered", "Diagnostic
information for administrators", ``Remote Server returned '550 5.1.10
RESOLVER.ADR.RecipientNotFound…'``) and a ``message/delivery-status`` part,
which the generic reader reads. What this reader adds:

- the reason Microsoft's own codes state: ``RESOLVER.ADR.RecipientNotFound``,
  Directory-Based Edge Blocking's ``Access denied. AS(201806281)`` (the address
  does not exist, though the status is 5.4.1), ``QuotaExceededException``,
  ``QUEUE.Expired``, the 5.7.5xx/6xx/7xx blocks, Outlook.com's ``S3140``…;
- reports whose delivery-status part was lost (forwarded or converted), read
  from the text: "Recipient Address:" and "Reported error:", or an address
  followed by "Remote Server returned '…'".
"""

import re

from core.bounce_reasons import Reason
from inbound.bounces.formats.common import Letter, Report, dsn, hinted, lines_before_copy, recipient
from inbound.bounces.reading import _status_report, generic_report

_MICROSOFT_SENDER = re.compile(
    r"^microsoftexchange[0-9a-f]{32}@"  # Exchange Online's NDR sender, whatever the tenant's domain
    r"|^postmaster@(?:[\w-]+\.)*(?:onmicrosoft\.com|outlook\.com|hotmail\.[a-z.]+|live\.[a-z.]+|msn\.com)$",
    re.I,
)
MICROSOFT_HINTS = (
    (re.compile(r"RESOLVER\.ADR\.(?:Ex)?Recip(?:ient)?NotFound|AS\(201806281\)"), Reason.USER_UNKNOWN),
    (re.compile(r"QuotaExceeded|exceeded storage allocation|mailbox (?:is )?full", re.I), Reason.MAILBOX_FULL),
    (re.compile(r"RESOLVER\.RST\.RecipSizeLimit|RecipSizeLimit", re.I), Reason.MESSAGE_TOO_BIG),
    (re.compile(r"QUEUE\.Expired|\bmessage expired\b", re.I), Reason.EXPIRED),
    (re.compile(r"\b[45]\.4\.14\b|hop count exceeded", re.I), Reason.NETWORK_ERROR),
    (
        re.compile(r"\b5\.7\.(?:509|510|515)\b|does not pass DMARC|required authentication level", re.I),
        Reason.AUTH_FAILURE,
    ),
    (
        re.compile(
            r"\b5\.7\.(?:60[6-9]|6[1-4]\d|708|750)\b|banned sending IP|on our block list|\(S3140\)|\(S3150\)"
            r"|traffic not accepted from this IP|\bSC-00[1-4]\b|\bDY-00[12]\b|\bOU-001\b",
            re.I,
        ),
        Reason.BLOCKED,
    ),
    (
        re.compile(r"\(S77719\)|\b4\.7\.500 Server busy|\b5\.2\.12[12]\b|hourly message receive limit", re.I),
        Reason.RATE_LIMITED,
    ),
    (re.compile(r"\b5\.7\.520\b|does not allow external forwarding", re.I), Reason.POLICY_VIOLATION),
    (re.compile(r"\b5\.1\.8\b.{0,40}bad outbound sender", re.I), Reason.REJECTED),
    (re.compile(r"requested action not taken: mailbox unavailable", re.I), Reason.USER_UNKNOWN),
)


# Codes only Microsoft writes: they name the reason wherever its reply is quoted.
VENDOR_CODES = (
    (re.compile(r"RESOLVER\.ADR\.(?:Ex)?Recip(?:ient)?NotFound|AS\(201806281\)"), Reason.USER_UNKNOWN),
    (re.compile(r"QuotaExceededException"), Reason.MAILBOX_FULL),
    (re.compile(r"QUEUE\.Expired"), Reason.EXPIRED),
    (re.compile(r"\((?:S3140|S3150)\)|banned sending IP", re.I), Reason.BLOCKED),
    (re.compile(r"\(S77719\)"), Reason.RATE_LIMITED),
)


def read(letter: Letter) -> Report | None:
    if not (_MICROSOFT_SENDER.search(letter.parsed.from_address) or _is_exchange_ndr(letter)):
        return None
    if letter.status_parts:
        return hinted(generic_report(letter), MICROSOFT_HINTS)
    return hinted(_from_text(letter) or _status_report(letter), MICROSOFT_HINTS)


def _is_exchange_ndr(letter: Letter) -> bool:
    return bool(re.search(r"^x-ms-exchange-message-is-ndr[ \t]*:", letter.head, re.I | re.M))


def _from_text(letter: Letter) -> Report | None:
    lines = [line.strip() for line in lines_before_copy(letter, limit=600)]
    text = "\n".join(lines)
    delayed = re.search(r"delivery (?:has been|is) delayed|hasn't been delivered yet", text, re.I)
    action = "delayed" if delayed else "failed"
    found: dict[str, str] = {}
    for number, line in enumerate(lines):
        returned = re.match(r"Remote Server returned '(.+?)'?$", line, re.I)
        if returned and number and "@" in lines[number - 1]:
            found.setdefault(lines[number - 1].split("<")[0].strip(), returned.group(1))
    new_style = re.search(r"^Recipient Address:\s*(\S+@\S+)\s*$", text, re.I | re.M)
    reported = re.search(r"^Reported error:\s*(.+)$", text, re.I | re.M)
    if new_style and reported:
        found.setdefault(new_style.group(1), reported.group(1))
    recipients = [recipient(address, diagnostic, action=action) for address, diagnostic in found.items()]
    return dsn(letter, recipients)
