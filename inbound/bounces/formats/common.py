"""What the provider readers share: the report's lines, recipients built from text, vendor code tables."""

import re
from dataclasses import replace

from inbound.bounces.reading import (
    ADDRESS,
    Letter,
    Report,
    ReportedRecipient,
    _address_field,
    _first_address,
    _header,
    _lines,
    _one_line,
    _original_message_id,
    _remote_host,
    _resolve_status,
)

__all__ = [
    "Letter",
    "Report",
    "ReportedRecipient",
    "address_in",
    "dsn",
    "first_address",
    "hinted",
    "lines_before_copy",
    "one_line",
    "original_header",
    "recipient",
]

_ADDRESS = re.compile(ADDRESS)
# Where a report's own text ends and the returned message begins.
_COPY = re.compile(
    r"^\s*(?:-{2,}\s*)?(?:original message(?:\s*-|\s+follows|\s+headers|\s*:?\s*$)|below this line is a copy"
    r"|the header of the original message"
    r"|message header follows|original message follows|this is a copy of)"
    r"|^\s*content-type:\s*(?:message/rfc822|text/rfc822-headers)",
    re.I,
)


def lines_before_copy(letter: Letter, limit: int = 400) -> list[str]:
    """The human text's lines, stripped on the right, up to the returned copy."""
    found = []
    for line in _lines(letter.human)[:limit]:
        if _COPY.search(line):
            break
        found.append(line.rstrip())
    return found


def address_in(text: str) -> str:
    match = _ADDRESS.search(text or "")
    return match.group().strip(".") if match else ""


def first_address(value: str) -> str:
    return _first_address(value) or _address_field(value)


def original_header(letter: Letter, name: str) -> str:
    """A header of the returned message: from its attached part, else from a copy inlined in the text."""
    found = _header(letter.original_headers, name)
    if found:
        return found
    text = "\n".join(_lines(letter.human))
    copy = _COPY.search(text) or re.search(r"^-{3,}.*original.*-{3,}$", text, re.I | re.M)
    return _header(text[copy.end() :], name) if copy else ""


def one_line(text: str) -> str:
    return _one_line(text)


def recipient(address: str, diagnostic: str, *, action: str = "failed", status: str = "", reason: str = "",
              remote_mta: str = "") -> ReportedRecipient:  # fmt: skip
    diagnostic = _one_line(diagnostic)
    return ReportedRecipient(
        address=address,
        action=action,
        status=_detailed(_resolve_status(status, diagnostic, action), reason),
        diagnostic=diagnostic,
        remote_mta=remote_mta or _remote_host(diagnostic),
        reason=reason,
    )


def dsn(letter: Letter, recipients: list[ReportedRecipient], reporter: str = "") -> Report | None:
    if not recipients:
        return None
    return Report(
        kind="dsn",
        recipients=recipients,
        original_message_id=_original_message_id(letter),
        reporter=reporter or letter.parsed.from_address.rpartition("@")[2].lower(),
    )


# The RFC 3463 detail a reason implies, for a report that gave only X.0.0.
_DETAILS = {"user_unknown": ".1.1", "host_unknown": ".1.2", "mailbox_full": ".2.2"}


def _detailed(status: str, reason: str) -> str:
    """``status`` with the detail ``reason`` implies when it was only X.0.0 ("5.0.0 … user not found" is 5.1.1)."""
    if reason in _DETAILS and status[:1] in ("4", "5") and status.endswith(".0.0"):
        return status[0] + _DETAILS[reason]
    return status


def hinted(report: Report | None, table: tuple[tuple[re.Pattern, str], ...]) -> Report | None:
    """``report`` with each failed recipient's reason hinted from a vendor's own codes in its diagnostic."""
    if report is None or report.kind != "dsn":
        return report
    recipients = []
    for found in report.recipients:
        if not found.reason and found.action in ("failed", "delayed"):
            reason = next((reason for pattern, reason in table if pattern.search(found.diagnostic)), "")
            found = replace(found, reason=reason, status=_detailed(found.status, reason))
        recipients.append(found)
    return replace(report, recipients=recipients)
