"""Microsoft Exchange's non-delivery reports, 2003 to 2019 (and Office 365, which writes them alike).

Exchange 2003 and older (Internet Mail Service, X-MS-Embedded-Report) write a
plain-text report: "Your message … did not reach the following recipient(s):",
then ``address on <date>`` and indented lines, with a status as
``<host #5.1.1>`` or an ``MSEXCH:IMS:… (000C05A6) Unknown Recipient`` code.

Exchange 2007 and later write "Delivery has failed to these recipients or
groups:" and "Diagnostic information for administrators:", where each
address is followed by ``#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##``
or ``Remote Server returned '550 5.1.1 …'``; usually with an RFC 3464 part
too, which the generic reader reads. Their own codes (RESOLVER.*, QUEUE.*,
STOREDRV.*, SMTPSEND.*) name the failure outright.
"""

import re
from dataclasses import replace

from core.bounce_reasons import Reason
from inbound.bounces.reading import (
    ADDRESS,
    Letter,
    Report,
    generic_report,
    one_line,
    recipient,
    text_report,
    with_reasons,
)

# Exchange's own failure codes (the "enhanced status code" text of its NDRs). RESOLVER.RST.AuthRequired
# (a group that takes mail only from authenticated senders) is left to microsoft.VENDOR_CODES: filtered.
_NDR_CODES = (
    (re.compile(r"RESOLVER\.ADR\.(?:Ex)?RecipNotFound|RESOLVER\.ADR\.RecipientNotFound", re.I), Reason.USER_UNKNOWN),
    (re.compile(r"SMTPSEND\.DNS\.NonExistentDomain", re.I), Reason.HOST_UNKNOWN),
    (re.compile(r"SMTPSEND\.DNS\.MxLoopback", re.I), Reason.NETWORK_ERROR),
    (re.compile(r"RESOLVER\.RST\.RecipSizeLimit|RESOLVER\.RST\.SendSizeLimit", re.I), Reason.MESSAGE_TOO_BIG),
    (re.compile(r"RESOLVER\.RST\.NotAuthorized", re.I), Reason.REJECTED),
    (re.compile(r"RESOLVER\.ADR\.RecipLimit", re.I), Reason.TOO_MANY_CONNECTIONS),
    (re.compile(r"QUEUE\.Expired", re.I), Reason.EXPIRED),
    (re.compile(r"STOREDRV\.Deliver.*QuotaExceeded|mailbox full", re.I), Reason.MAILBOX_FULL),
)
# Exchange 5.5/2000/2003 "MSEXCH:IMS" codes.
_MSEXCH_CODES = {
    "000C05A6": Reason.USER_UNKNOWN,  # Unknown Recipient
    "00120270": Reason.NETWORK_ERROR,  # Too Many Hops
    "00050311": Reason.CONTENT_ERROR,  # Conversion to Internet format failed
    "000502CC": Reason.CONTENT_ERROR,
    "000B0981": Reason.SECURITY_ERROR,  # 502 Server does not support AUTH
    "00010256": Reason.SYSTEM_ERROR,  # Too many recipients
    "000D06B5": Reason.SYSTEM_ERROR,  # No proxy for recipient
}
_MSEXCH = re.compile(r"MSEXCH:.*\(([0-9A-F]{8})\)", re.I)
# "jdoe@remote.example on Tue, 14 May 2024 …", "  John Doe (SMTP=jdoe@remote.example) on 4/29/99 9:19:59 AM"
_RECIPIENT_ON = re.compile(rf"\s*(?:.*?SMTP=)?<?(?P<address>{ADDRESS})>?\)?\s+on\s+\S.*", re.I)
_ADMIN_HEADING = re.compile(
    r"^\s*(?:Diagnostic information for administrators|Informations de diagnostic|Diagnoseinformationen für"
    r"|管理者向けの診断情報)",
    re.I | re.M,
)
_ADMIN_ADDRESS = re.compile(rf"\s*<?(?P<address>{ADDRESS})>?(?:<mailto:[^<>]*>)?\s*")


# Office 365 / Outlook.com write the same layout; microsoft.read (a provider's reader) takes those.
_MICROSOFT_CLOUD = re.compile(
    r"@(?:[\w-]+\.)*(?:onmicrosoft\.com|outlook\.com|hotmail\.[a-z.]+|live\.[a-z.]+|msn\.com)$", re.I
)


def read(letter: Letter) -> Report | None:
    if (
        letter.header("x-ms-exchange-crosstenant-originalarrivaltime")
        or letter.header("x-ms-exchange-crosstenant-fromentityheader")
        or _MICROSOFT_CLOUD.search(letter.parsed.from_address)
    ):
        return None
    if _is_exchange_2003(letter):
        return _exchange_2003(letter)
    if letter.header("x-ms-exchange-message-is-ndr") or (
        letter.header("content-language") and _ADMIN_HEADING.search(letter.human)
    ):
        return with_reasons(_with_admin_diagnostics(letter, generic_report(letter)), _reason_of)
    return None


def _with_admin_diagnostics(letter: Letter, report: Report | None) -> Report | None:
    """The report, each recipient's diagnostic taken from "Diagnostic information for administrators"
    where that says more than the delivery-status part (a delay's "400 4.4.7 Message delayed" is
    followed there by the reply that delayed it)."""
    if report is None or report.kind != "dsn":
        return report
    said = _admin_diagnostics(letter)
    recipients = []
    for reported in report.recipients:
        admin = said.get(reported.address.lower(), "")
        if len(admin) > len(reported.diagnostic):
            reported = replace(reported, diagnostic=admin)
        recipients.append(reported)
    return replace(report, recipients=recipients)


def _admin_diagnostics(letter: Letter) -> dict[str, str]:
    found: dict[str, list[str]] = {}
    current = None
    in_admin = False
    for line in letter.report_text():
        if _ADMIN_HEADING.match(line):
            in_admin = True
        elif not in_admin:
            continue
        elif match := _ADMIN_ADDRESS.fullmatch(line):
            current = found.setdefault(match["address"].lower(), [])
        elif current is not None and line.strip():
            current.append(line.strip())
        else:
            current = None
    return {address: one_line(" ".join(text)) for address, text in found.items() if text}


def _reason_of(reported) -> str:
    for pattern, reason in _NDR_CODES:
        if pattern.search(reported.diagnostic):
            return reason
    return ""


def _is_exchange_2003(letter: Letter) -> bool:
    if "did not reach the following recipient" not in letter.human:
        return False
    return bool(
        letter.head.lower().count("x-ms-embedded-report")
        or letter.header("x-mimeole").startswith("Produced By Microsoft Exchange")
        or letter.header("x-mailer").startswith(("Internet Mail Service", "Microsoft Exchange Server Internet Mail"))
        or any("with Internet Mail Service (" in r for r in letter.headers("received"))
    )


def _exchange_2003(letter: Letter) -> Report | None:
    found: list[tuple[str, list[str]]] = []
    reading = False
    for line in letter.report_text():
        if "did not reach the following recipient" in line:
            reading = True
        elif reading and (match := _RECIPIENT_ON.fullmatch(line)):
            found.append((match["address"], []))
        elif reading and found and line.strip():
            found[-1][1].append(line.strip())
    recipients = []
    for address, explanation in found:
        text = " ".join(explanation)
        code = _MSEXCH.search(text)
        reason = _MSEXCH_CODES.get(code.group(1).upper(), "") if code else ""
        recipients.append(recipient(address, text, reason=reason))
    return text_report(letter, recipients)
