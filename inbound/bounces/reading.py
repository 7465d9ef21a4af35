"""Reading bounces and complaints: ``parse_report`` turns a message into a ``Report``.

None when it is neither a bounce nor a complaint. The readers of particular
MTAs and providers (``inbound.bounces.formats``) are asked first; then, in
this order, the generic readers:

1. **Feedback reports** (ARF, RFC 5965: a ``message/feedback-report`` part):
   the complaint loops of Yahoo, AOL, Microsoft (JMRP) and others, with the
   original as ``message/rfc822`` or ``text/rfc822-headers``; also JMRP's
   older form, an original carrying ``X-HmXmrOriginalRecipient``.
2. **Delivery status notifications** (RFC 3464: a ``message/delivery-status``
   or RFC 6533 ``message/global-delivery-status`` part), as Postfix, Exim,
   Sendmail, Exchange/Office 365, Gmail or Yahoo write them. Fields are read
   leniently (any case, folded, odd address types); a generic ``X.0.0`` status
   is refined from the Diagnostic-Code (Exim says 5.0.0 for everything). When
   the MIME structure is broken, the field blocks are looked for in the body.
3. **Plain-text bounces** without a machine-readable part: qmail's QSBMF,
   old Exim, Sendmail, Lotus Domino, Yahoo's "Sorry, we were unable to
   deliver…", old Gmail. They are known by their wording (or a mailer-daemon
   sender with a bounce subject); the recipients are the addresses standing
   on a line of their own (``user@host``, ``<user@host>:``) and the lines
   after one are its explanation.

Auto-replies (out of office…) are not bounces, even when they come back to
the return path. Every failed or delayed recipient is then classified
(``core.bounce_reasons.classify``): a reason, a refined status, hard or soft.
"""

import logging
import re
from dataclasses import dataclass, field, replace
from email.utils import getaddresses

from core.bounce_reasons import Reason, classify
from mailboxes.parsing import ParsedMessage, parse_message
from mailboxes.text import decode_bytes

logger = logging.getLogger("inbound.bounces")

ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded")
# Feedback types that are a person calling our mail unwanted (RFC 5965 §7.3);
# not-spam, auth-failure (DMARC forensic reports) and the rest are not.
COMPLAINT_TYPES = frozenset({"abuse", "fraud"})

# Reports are short; what they carry (the returned message) may not be. Only
# this much of any text is read, so hostile input costs little.
_SCAN_CHARS = 64 * 1024
_SCAN_LINES = 600
_LINE_CHARS = 400
_HEAD_BYTES = 256 * 1024

_STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")
_FEEDBACK_TYPES = ("message/feedback-report",)
_ORIGINAL_TYPES = (
    "message/rfc822",
    "message/global",
    "text/rfc822-headers",
    "message/rfc822-headers",
    "message/global-headers",
)


@dataclass(frozen=True)
class ReportedRecipient:
    """What a report says about one recipient.

    For a feedback report ``action`` and ``status`` are empty (a complaint is
    not a delivery outcome) and ``diagnostic`` is the reporter's explanation.
    """

    address: str  # Final-Recipient (else Original-Recipient), or the address a text bounce names
    action: str  # "failed", "delayed", "delivered", "relayed", "expanded" ("" for ARF)
    status: str  # RFC 3463 enhanced status, "5.1.1"…; "" if unknown
    diagnostic: str  # Diagnostic-Code text, or the human explanation
    remote_mta: str = ""
    original_address: str = ""  # Original-Recipient, when the report gives it
    # core.bounce_reasons.Reason. A format reader may set it when the format states it
    # outright (an ESP's bounce subtype); parse_report classifies every recipient.
    reason: str = ""
    hard: bool = False  # the address itself is gone: suppress it


@dataclass(frozen=True)
class Report:
    kind: str  # "dsn" (also plain-text bounces) or "arf"
    recipients: list[ReportedRecipient]
    original_message_id: str  # without angle brackets; "" if the report does not say
    feedback_type: str = ""  # ARF: "abuse", "fraud", "not-spam"…
    reporter: str = ""  # Reporting-MTA, or the feedback report's User-Agent


# --- reading ---------------------------------------------------------------------------


def parse_report(raw: bytes) -> Report | None:
    """The bounce or complaint in ``raw``, or None if it is neither. Never raises."""
    try:
        report = _read_report(raw)
    except Exception:  # hostile input must never stop the inbound pipeline
        logger.warning("could not read a possible bounce or complaint", exc_info=True)
        return None
    return _classified(report) if report is not None else None


def _classified(report: Report) -> Report:
    if report.kind == "arf":
        return replace(report, recipients=[replace(r, reason=Reason.FEEDBACK, hard=False) for r in report.recipients])
    recipients = []
    for reported in report.recipients:
        verdict = classify(reported.status, reported.diagnostic, action=reported.action, hint=reported.reason)
        recipients.append(replace(reported, reason=verdict.reason, status=verdict.status, hard=verdict.hard))
    return replace(report, recipients=recipients)


@dataclass
class Letter:
    """The pieces of a message that tell what kind of report it is."""

    parsed: ParsedMessage
    body: bytes  # the raw body, for when the MIME structure is broken
    human: str  # the human-readable text, capped
    status_parts: list[str] = field(default_factory=list)
    feedback_parts: list[str] = field(default_factory=list)
    original_headers: str = ""  # header section of the returned message, unfolded lines
    own_addresses: frozenset[str] = frozenset()
    head: str = ""  # the report's own header section ("\n" line ends), for vendor readers' marks

    def header(self, name: str) -> str:
        """The report's first ``name`` header, unfolded; "" if absent."""
        return _header(self.head, name)

    @classmethod
    def read(cls, raw: bytes) -> "Letter":
        parsed = parse_message(raw)
        offset = _body_offset(raw)
        letter = cls(parsed=parsed, body=raw[offset:], human=parsed.body_text[:_SCAN_CHARS])
        letter.head = _header_section(raw[:offset])
        for attachment in parsed.attachments:
            if attachment.content_type in _STATUS_TYPES:
                letter.status_parts.append(_text_of(attachment.content))
            elif attachment.content_type in _FEEDBACK_TYPES:
                letter.feedback_parts.append(_text_of(attachment.content))
            elif attachment.content_type in _ORIGINAL_TYPES and not letter.original_headers:
                letter.original_headers = _header_section(attachment.content)
        own = [parsed.from_address, *(a["address"] for a in parsed.to)]
        letter.own_addresses = frozenset(a.lower() for a in own if a)
        return letter

    @property
    def sender(self) -> str:
        return f"{self.parsed.from_name} <{self.parsed.from_address}>"


def _read_report(raw: bytes) -> Report | None:
    from inbound.bounces.formats import READERS, with_vendor_codes  # the formats use this module's readers

    if not raw:
        return None
    letter = Letter.read(raw)
    for reader in READERS:
        if (report := reader(letter)) is not None:
            return with_vendor_codes(report)
    return with_vendor_codes(generic_report(letter))


def generic_report(letter: "Letter") -> Report | None:
    """The report as the standards (ARF, RFC 3464) and common plain-text wording describe it."""
    return _feedback_report(letter) or _status_report(letter) or _legacy_jmrp(letter) or _text_bounce(letter)


# --- ARF (RFC 5965) --------------------------------------------------------------------


def _feedback_report(letter: Letter) -> Report | None:
    if not letter.feedback_parts:
        return None
    fields: dict[str, str] = {}
    for block in _field_blocks(letter.feedback_parts[0]):
        for name, value in block.items():
            fields.setdefault(name, value)
    headers = letter.original_headers
    address = (
        _address_field(fields.get("original-rcpt-to", ""))
        or _address_field(fields.get("removal-recipient", ""))
        or _address_field(_header(headers, "x-hmxmroriginalrecipient"))
        or _first_address(_header(headers, "to"))
    )
    feedback_type = fields.get("feedback-type", "").split(maxsplit=1)
    return Report(
        kind="arf",
        recipients=[_complaint_recipient(address, letter)],
        original_message_id=_message_id(_header(headers, "message-id")),
        feedback_type=feedback_type[0].lower() if feedback_type else "",
        reporter=fields.get("user-agent") or _dns_name(fields.get("reporting-mta", "")) or _domain(letter),
    )


def _legacy_jmrp(letter: Letter) -> Report | None:
    """Microsoft's feedback loop before it spoke ARF: the original, marked with the complaining address."""
    address = _header(letter.original_headers, "x-hmxmroriginalrecipient")
    from_microsoft = re.search(r"@(?:[\w-]+\.)*(?:hotmail|outlook|msn|live)\.com$", letter.parsed.from_address, re.I)
    if not address or not (from_microsoft or re.match(r"complaint about message from", letter.parsed.subject, re.I)):
        return None
    return Report(
        kind="arf",
        recipients=[_complaint_recipient(_address_field(address), letter)],
        original_message_id=_message_id(_header(letter.original_headers, "message-id")),
        feedback_type="abuse",
        reporter=_domain(letter),
    )


def _complaint_recipient(address: str, letter: Letter) -> ReportedRecipient:
    if address.partition("@")[0].lower() in ("redacted", "") or "@" not in address:
        address = ""  # AOL and others hide who complained (RFC 6590)
    return ReportedRecipient(address=address, action="", status="", diagnostic=_summary(letter.human))


# --- DSN (RFC 3464) --------------------------------------------------------------------


def _status_report(letter: Letter) -> Report | None:
    blocks = [block for part in letter.status_parts for block in _field_blocks(part)]
    if not blocks:
        blocks = _blocks_in_body(letter)
    if not blocks:
        return None
    per_message = next((b for b in blocks if "reporting-mta" in b), {})
    from_text = _text_recipients(letter)
    recipients = []
    for block in blocks:
        if {"final-recipient", "original-recipient", "action", "status"} & block.keys():
            recipients.append(_block_recipient(block, from_text, position=len(recipients)))
    if not recipients:
        action = _text_action(letter.human) or "failed"
        recipients = [_text_recipient(address, diagnostic, action) for address, diagnostic in from_text]
    if not recipients:
        return None
    return Report(
        kind="dsn",
        recipients=recipients,
        original_message_id=_original_message_id(letter, per_message.get("x-original-message-id", "")),
        reporter=_dns_name(per_message.get("reporting-mta", "")) or _reporting_host(letter),
    )


def _block_recipient(block: dict[str, str], from_text: list[tuple[str, str]], position: int) -> ReportedRecipient:
    final = _address_field(block.get("final-recipient", ""))
    original = _address_field(block.get("original-recipient", ""))
    address = final or original or _address_field(block.get("x-actual-recipient", ""))
    text_diagnostics = {a.lower(): d for a, d in from_text}
    if not address and from_text:  # a block without its address: the text names it, in the same order
        address = from_text[min(position, len(from_text) - 1)][0]
    diagnostic = _without_type(block.get("diagnostic-code", "")) or text_diagnostics.get(address.lower(), "")
    declared = block.get("status", "")
    action = block.get("action", "").split(maxsplit=1)
    action = action[0].lower() if action else ""
    status = _resolve_status(declared, diagnostic, action)
    if action not in ACTIONS:
        action = {"5": "failed", "4": "delayed", "2": "delivered"}.get(status[:1], "")
    return ReportedRecipient(
        address=address,
        action=action,
        status=status,
        diagnostic=_one_line(diagnostic),
        remote_mta=_dns_name(block.get("remote-mta", "")) or _remote_host(diagnostic),
        original_address=original,
    )


_FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,60}")
_RECIPIENT_FIELD = re.compile(r"^(?:final|original)-recipient[ \t]*:", re.I | re.M)
_REPORTING_FIELD = re.compile(r"^reporting-mta[ \t]*:", re.I | re.M)
_ACTION_FIELD = re.compile(r"^action[ \t]*:", re.I | re.M)


def _field_blocks(text: str) -> list[dict[str, str]]:
    """RFC 3464/5965 field groups, separated by blank lines; names lower-case, values unfolded.

    Lines that are not fields are skipped, and a repeated field keeps its first value.
    """
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = None
    for line in _lines(text):
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, None
        elif line[0] in " \t":
            if last:
                current[last] = f"{current[last]} {line.strip()}"
        else:
            name, colon, value = line.partition(":")
            name = name.strip()
            if colon and _FIELD_NAME.fullmatch(name) and name.lower() not in current:
                last = name.lower()
                current[last] = value.strip()
            else:
                last = None
    if current:
        blocks.append(current)
    return blocks


def _blocks_in_body(letter: Letter) -> list[dict[str, str]]:
    """DSN fields written in the body of a message whose MIME structure is broken (a wrong boundary)."""
    text = decode_bytes(letter.body[:_HEAD_BYTES], "utf-8")
    first = _RECIPIENT_FIELD.search(text)
    if first is None or not _ACTION_FIELD.search(text, first.start()):
        return []
    start = first.start()
    for reporting in _REPORTING_FIELD.finditer(text, max(0, start - 4096), start):
        start = reporting.start()
        break
    return _field_blocks(text[start : start + _SCAN_CHARS])


# --- plain-text bounces ----------------------------------------------------------------

# Wording that only bounces use; a match is enough to read the text as one.
_BOUNCE_WORDING = re.compile(
    r"this is the qmail-send program"
    r"|wasn'?t able to deliver your message to the following"
    r"|unable to deliver your message to the following"
    r"|this message was created automatically by mail delivery software"
    r"|was not delivered to:"
    r"|the following addresses had (?:permanent fatal|transient non-fatal) errors"
    r"|delivery to the following recipients? (?:failed|has been delayed)"
    r"|delivery has failed to these recipients"
    r"|could not be delivered to one or more recipients",
    re.I,
)
_DAEMON_SENDER = re.compile(r"mailer-daemon|postmaster|mail delivery|mail administrator|mail system|mdaemon", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|returned mail|delivery (?:status notification|failure|failed|problem|notification|delayed)"
    r"|failure notice|mail delivery failed|delayed mail|warning: could not send|non remis|unzustellbar",
    re.I,
)
_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(?:automatic reply|auto(?:matic)?[ -]?(?:reply|response|answer)|autoreply|out of (?:the )?office"
    r"|abwesen|automatische antwort|r[ée]ponse automatique|respuesta autom[áa]tica|vacation|auto:)",
    re.I,
)
_DELAY_WORDING = re.compile(
    r"this is a warning only|has not yet been delivered|not (?:yet )?been delivered yet|delivery attempts will continue"
    r"|will (?:continue to )?(?:be )?retr(?:y|ied)|transient non-fatal errors|has been delayed|delivery (?:is )?delayed"
    r"|still trying|no action is required on your part",
    re.I,
)
_FAILURE_WORDING = re.compile(
    r"permanent(?:ly)?\s+(?:error|failure|fatal)|failed permanently|(?:could|can)\s?n[o']t\s+be\s+delivered"
    r"|could not deliver|was not delivered|wasn'?t delivered|unable to deliver|wasn'?t able to deliver"
    r"|undeliverable|delivery (?:has )?failed|address\(es\) failed|giving up|given up|delivery failure"
    r"|not listed in",
    re.I,
)
# Where the copy of the returned message starts: the report ends there.
_COPY_FOLLOWS = re.compile(
    r"below this line is a copy of the message|this is a copy of the (?:message|body)"
    r"|original message (?:follows|headers)|-{2,}\s*original message\s*-{2,}"
    r"|enclosed are the original headers|the (?:body|headers) of the (?:original )?message"
    r"|^\s*(?:return-path|received):",
    re.I,
)
_ADDRESS = r"[^\s<>()\[\]\",;:@]{1,64}@[^\s<>()\[\]\",;:@]{1,253}\.[^\s<>()\[\]\",;:@.]{1,63}"
# An address on a line of its own, maybe in <>, maybe followed by ": explanation" (qmail, Postfix),
# "... explanation" (Sendmail), "(name)" or "<mailto:…>" (Exchange).
_ADDRESS_LINE = re.compile(
    rf"\s*<?(?P<address>{_ADDRESS})>?(?:\s*\([^()]*\))?(?:\s*<mailto:[^<>]*>)?\s*(?:(?::|\.\.\.)(?P<rest>.*))?"
)
_NOT_A_RECIPIENT = re.compile(r"(?:mailer-daemon|postmaster|bounces(?:\+[^@]*)?)@", re.I)


def _text_bounce(letter: Letter) -> Report | None:
    human = letter.human
    if not _BOUNCE_WORDING.search(human):
        if _AUTO_REPLY_SUBJECT.search(letter.parsed.subject):
            return None
        if not (_DAEMON_SENDER.search(letter.sender) and _BOUNCE_SUBJECT.search(letter.parsed.subject)):
            return None
    action = _text_action(human)
    recipients = [_text_recipient(address, diagnostic, action) for address, diagnostic in _text_recipients(letter)]
    if not action or not recipients:
        return None
    return Report(
        kind="dsn",
        recipients=recipients,
        original_message_id=_original_message_id(letter),
        reporter=_reporting_host(letter),
    )


def _text_action(text: str) -> str:
    if _DELAY_WORDING.search(text):
        return "delayed"
    return "failed" if _FAILURE_WORDING.search(text) else ""


def _text_recipient(address: str, diagnostic: str, action: str) -> ReportedRecipient:
    return ReportedRecipient(
        address=address,
        action=action,
        status=_resolve_status("", diagnostic, action),
        diagnostic=diagnostic,
        remote_mta=_remote_host(diagnostic),
    )


def _text_recipients(letter: Letter) -> list[tuple[str, str]]:
    """(address, explanation) for each address standing on its own line before the returned copy.

    The explanation is what follows the address, paragraph by paragraph, up to
    the first paragraph quoting a server's reply (or only the first paragraph
    when none does), so the boilerplate after it is left out.
    """
    found: dict[str, tuple[str, list[list[str]]]] = {}
    paragraphs = None
    for number, line in enumerate(_lines(letter.human)):
        if number >= _SCAN_LINES or _COPY_FOLLOWS.search(line):
            break
        match = _ADDRESS_LINE.fullmatch(line[:_LINE_CHARS])
        address = match["address"] if match else ""
        if address and address.lower() not in letter.own_addresses and not _NOT_A_RECIPIENT.match(address):
            paragraphs = found.setdefault(address.lower(), (address, []))[1]
            paragraphs.append([match["rest"].strip()] if match["rest"] and match["rest"].strip() else [])
        elif paragraphs is not None:
            if line.strip():
                paragraphs[-1].append(line.strip())
            elif paragraphs[-1] and not all(text.endswith(":") for text in paragraphs[-1]):
                paragraphs.append([])  # a blank line ends a paragraph, but not a lead-in ("because:")
    return [(address, _explanation(paragraphs)) for address, paragraphs in found.values()]


_QUOTES_A_REPLY = re.compile(r"(?<![\w.])[245]\.\d{1,3}\.\d{1,3}(?!\.?\d)|(?<![\w.])[45]\d\d(?![\w.])")


def _explanation(paragraphs: list[list[str]]) -> str:
    paragraphs = [p for p in paragraphs if p]
    quoting = (n for n, paragraph in enumerate(paragraphs, 1) if _QUOTES_A_REPLY.search(" ".join(paragraph)))
    return _one_line(" ".join(line for paragraph in paragraphs[: next(quoting, 1)] for line in paragraph))


def _original_message_id(letter: Letter, named: str = "") -> str:
    """The returned message's Message-ID: from its attached headers, a field naming it (Gmail's
    X-Original-Message-ID), a copy inlined in the text, else the report's own In-Reply-To."""
    found = _message_id(_header(letter.original_headers, "message-id")) or _message_id(named)
    if found:
        return found
    text = letter.parsed.body_text[: 16 * _SCAN_CHARS] or decode_bytes(letter.body[:_HEAD_BYTES], "utf-8")
    match = re.search(r"^[ \t]*message-id[ \t]*:[ \t]*(.+)$", text, re.I | re.M)
    if match and _message_id(match.group(1)):
        return _message_id(match.group(1))
    return letter.parsed.in_reply_to


def _reporting_host(letter: Letter) -> str:
    match = re.search(r"(?:qmail-send program|mail system) at (?:host )?([\w.-]+\w)", letter.human, re.I)
    return match.group(1) if match else _domain(letter)


# --- statuses --------------------------------------------------------------------------

_ENHANCED = re.compile(r"(?<![\w.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
# A basic SMTP reply code where a diagnostic quotes the server: "550 …", "… said: 550 …".
_BASIC = re.compile(r"(?:^|said:|returned:?|error:?)\s*(?P<code>(?P<class>[245])\d\d)(?![\d.])", re.I)
# RFC 3463 details for explanations that carry no enhanced status: (pattern, ".subject.detail")
_WORDED_STATUSES = (
    (
        re.compile(
            r"user unknown|unknown user|no such (?:user|recipient|mailbox)|recipient unknown|does ?n[o']t exist"
            r"|not listed in (?:domino directory|public name)|no mailbox here by that name|mailbox not found"
            r"|invalid recipient|address couldn'?t be found|recipient not found|unknown recipient"
            r"|doesn'?t have an? \S+ account",
            re.I,
        ),
        ".1.1",
    ),
    (re.compile(r"mailbox (?:is )?full|over ?quota|quota exceeded|exceeded (?:the )?storage", re.I), ".2.2"),
    (re.compile(r"host not found|domain not found|no such domain|host unknown", re.I), ".1.2"),
)


def _resolve_status(declared: str, diagnostic: str, action: str) -> str:
    """The most specific RFC 3463 status the report supports; "" when it gives none."""
    status = _enhanced(declared)
    said = _enhanced(diagnostic)
    if said and (not status or (status.endswith(".0.0") and said[0] == status[0])):
        status = said
    if status and not status.endswith(".0.0"):
        return status
    basic = _BASIC.search(diagnostic or "")
    status_class = status[:1] or (basic["class"] if basic else "") or {"failed": "5", "delayed": "4"}.get(action, "")
    if status_class in ("4", "5"):
        for pattern, detail in _WORDED_STATUSES:
            if pattern.search(diagnostic or ""):
                return status_class + detail
    if status:
        return status
    return f"{basic['class']}.0.0" if basic else ""


def _enhanced(text: str) -> str:
    match = _ENHANCED.search(text or "")
    return ".".join(match.groups()) if match else ""


# --- small readers ---------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return re.split(r"\r\n|\r|\n", text[:_SCAN_CHARS])


def _text_of(content: bytes) -> str:
    return decode_bytes(content[:_SCAN_CHARS], "utf-8")


_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)?")


def _body_offset(raw: bytes) -> int:
    """Where the body starts: after the first empty line in the first 256 KB; else there is no body."""
    pos, end = 0, min(len(raw), _HEAD_BYTES)
    while pos < end:
        line = _LINE.match(raw, pos).group()
        if line in (b"\r\n", b"\n", b"\r"):
            return pos + len(line)
        pos += len(line)
    return len(raw)


def _header_section(content: bytes) -> str:
    return _text_of(content[: _body_offset(content)]).replace("\r\n", "\n").replace("\r", "\n")


def _header(section: str, name: str) -> str:
    """The first ``name`` header of a header section, unfolded; "" if absent."""
    match = re.search(rf"^{re.escape(name)}[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)", section, re.I | re.M)
    return " ".join(match.group(1).split()) if match else ""


def _message_id(value: str) -> str:
    match = re.search(r"<\s*([^<>\s]{1,998})\s*>", value or "")
    if match:
        return match.group(1)
    token = next((t for t in (value or "").split() if "@" in t), "")
    return token.strip("<>")[:998]


def _address_field(value: str) -> str:
    """The address of an RFC 3464 address field (``rfc822; <user@host>``), or "" if it holds none."""
    kind, semicolon, address = (value or "").partition(";")
    address = (address if semicolon else kind).strip().strip("<>\"' ")
    return address if "@" in address and " " not in address else ""


def _first_address(value: str) -> str:
    return next((address for _, address in getaddresses([value]) if "@" in address), "")


def _without_type(value: str) -> str:
    """A Diagnostic-Code without its type (``smtp; 550 …`` is ``550 …``)."""
    return re.sub(r"^\s*[A-Za-z][\w-]{0,20}\s*;\s*", "", value or "")


def _dns_name(value: str) -> str:
    """The host of a ``dns; host.example (comment)`` field."""
    name = (value or "").partition(";")[2] if ";" in (value or "") else (value or "")
    parts = name.split()
    return parts[0].rstrip(".") if parts else ""


def _remote_host(diagnostic: str) -> str:
    match = re.search(r"\bhost\s+([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)", diagnostic or "")
    return match.group(1).rstrip(".") if match else ""


def _domain(letter: Letter) -> str:
    return letter.parsed.from_address.rpartition("@")[2].lower()


def _one_line(text: str, limit: int = 1000) -> str:
    return " ".join((text or "").split())[:limit]


def _summary(text: str) -> str:
    """The first paragraph of a human explanation, on one line."""
    for paragraph in re.split(r"\n\s*\n", (text or "")[:_SCAN_CHARS]):
        if paragraph.strip():
            return _one_line(paragraph, 500)
    return ""
