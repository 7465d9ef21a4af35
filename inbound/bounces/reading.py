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
        reason, hard = verdict.reason, verdict.hard
        if reason in _ADDRESS_REASONS and _SENDER_STAGE.search(reported.diagnostic):
            # A reply to MAIL FROM speaks of the sender's address ("553 5.1.0 … does not exist"): the
            # recipient was never asked about, so it is a rejection, not a reason to suppress it.
            reason, hard = Reason.REJECTED, False
        recipients.append(replace(reported, reason=reason, status=verdict.status, hard=hard))
    return replace(report, recipients=recipients)


_ADDRESS_REASONS = frozenset({Reason.USER_UNKNOWN, Reason.HOST_UNKNOWN, Reason.HAS_MOVED})
# Where a report says the failing reply answered MAIL FROM: Exim ("… after MAIL FROM:<a@b> SIZE=1024:"),
# Postfix ("(in reply to MAIL FROM command)").
_SENDER_STAGE = re.compile(r"\bafter MAIL FROM\b|\bin reply to MAIL FROM command\b", re.I)


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

    @classmethod
    def read(cls, raw: bytes) -> "Letter":
        # Bare CRs (old Macs, some gateways) end lines for the MIME parser but not for its
        # quoted-printable decoder ("=\r" is no soft break there): made LF, they end lines everywhere.
        if b"\r" in raw:
            raw = _BARE_CR.sub(b"\n", raw)
        parsed = parse_message(raw)
        offset = _body_offset(raw)
        head = _header_section(raw[:offset])
        human = parsed.body_text[:_SCAN_CHARS] or _unparsed_text(raw[offset:], _header(head, "content-type"))
        letter = cls(parsed=parsed, body=raw[offset:], human=human, head=head)
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

    def header(self, name: str) -> str:
        """The report's first ``name`` header, unfolded; "" if absent."""
        return _header(self.head, name)

    def headers(self, name: str) -> list[str]:
        """Every ``name`` header of the report (Received…), unfolded."""
        pattern = rf"^{re.escape(name)}[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)"
        return [" ".join(m.group(1).split()) for m in re.finditer(pattern, self.head, re.I | re.M)]

    def report_text(self, copy_marker: "re.Pattern[str] | None" = None) -> list[str]:
        """The lines of the human-readable text up to where the copy of the returned message starts."""
        marker = copy_marker or _COPY_FOLLOWS
        out = []
        for number, line in enumerate(_lines(self.human)):
            if number >= _SCAN_LINES or marker.search(line):
                break
            out.append(line[:_LINE_CHARS])
        return out


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
    # An X-Unix diagnostic is the local delivery program's (Postfix's pipe, Sendmail's prog mailer); with
    # X.3.0 ("other mail system problem") it is that program that failed ("Command died with status 1").
    diagnostic_type = block.get("diagnostic-code", "").partition(";")[0].strip().lower()
    mailer_failed = diagnostic_type == "x-unix" and status[1:] == ".3.0"
    return ReportedRecipient(
        address=address,
        action=action,
        status=status,
        diagnostic=_one_line(diagnostic),
        remote_mta=_dns_name(block.get("remote-mta", "")) or _remote_host(diagnostic),
        original_address=original,
        reason=Reason.MAILER_ERROR if mailer_failed else "",
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
    r"|could not be delivered to one or more recipients"
    r"|error has occurred while attempting to deliver a message"  # OpenSMTPD
    r"|there was an error delivering your mail to"  # DragonFly's dma
    r"|could not deliver mail to|message to the following recipients (?:cannot|could not) be delivered"
    r"|this is the (?:postfix program|mail system) at host|this is the mailer-daemon, please do not reply"
    r"|unable to deliver (?:the )?message to the following address|machine generated message from mail service"
    r"|was undeliverable to the following|could not be delivered because of|was undeliverable due to the following"
    r"|had (?:permanent fatal|transient \(non-fatal\)) delivery errors|the following message to \S+ was undeliverable"
    r"|(?:配信|配送|送信)できませんでした|届きませんでした|配信に失敗しました|-{3,}\s*failure reasons\s*-{3,}"
    r"|could not be delivered to the following recipient|the following addresses had delivery errors"
    r"|has been delayed:|this is a delivery status notification|running the courier mail server"
    r"|la remise a échoué|n'a pas pu être remis|fehler bei der zustellung|konnte nicht zugestellt werden"
    r"|delivery is delayed to these recipients|your message to \S+@\S+ couldn'?t be delivered"
    r"|your message to \S+@\S+ could not be delivered"
    r"|did not reach some or all of the intended recipients"  # hMailServer, Kerio
    r"|did not reach the following recipient"  # Exchange 2003 and older
    r"|the following recipient\(s\) could not be reached"
    r"|the following addresses had delivery problems"
    r"|-{3,} transcript of session follows -{3,}",  # Sendmail without a DSN part
    re.I,
)
_DAEMON_SENDER = re.compile(
    r"mailer-daemon|postmaster|mail delivery|mail administrator|mail system|mdaemon|microsoftexchange[0-9a-f]{32}"
    r"|courier mail server",
    re.I,
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|returned mail|delivery (?:status|failure|failed|problem|notification|delayed)"
    r"|error sending your mail|failure notice|mail delivery failed|delayed mail|warning: could not send"
    r"|non remis|unzustellbar"
    r"|送信エラー|配信エラー|配送エラー|エラーメール|未配達|不達",  # the Japanese carriers and ISPs
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
    r"|still trying|no action is required on your part|message is delayed for more than"
    r"|only a temporary failure report|transient \(non-fatal\) delivery errors|this is a warning only"
    r"|(?:i'll|will) keep trying|this is a temporary error",
    re.I,
)
_FAILURE_WORDING = re.compile(
    r"permanent(?:ly)?\s+(?:error|failure|fatal)|failed permanently|(?:could|can)\s?n[o']t\s+be\s+delivered"
    r"|could not deliver|was not delivered|wasn'?t delivered|unable to deliver|wasn'?t able to deliver"
    r"|undeliverable|delivery (?:has )?failed|address\(es\) failed|giving up|given up|delivery failure"
    r"|not listed in|error has occurred while attempting to deliver|error delivering your (?:mail|message)"
    r"|did not reach|could not be reached|recipients? failed|delivery (?:problems|errors)|transcript of session follows"
    r"|unsent message follows|届きませんでした|(?:配信|配送|送信)できませんでした|cannot be delivered"
    r"|échoué|n'a pas pu être remis|fehler bei der zustellung|nicht zugestellt|couldn'?t be delivered",
    re.I,
)
# Where the copy of the returned message starts: the report ends there.
_COPY_FOLLOWS = re.compile(
    r"below this line is a copy of the message|this is a copy of the (?:message|body)"
    r"|original message (?:follows|headers)|-{2,}\s*(?:original|returned) message\s*-{2,}"
    r"|enclosed are the original headers|the (?:body|headers) of the (?:original )?message"
    r"|unsent message follows|message headers follow|header of the original message"
    r"|^\s*(?:return-path|received):",
    re.I,
)
_ADDRESS = r"[^\s<>()\[\]\",;:@]{1,64}@[^\s<>()\[\]\",;:@]{1,253}\.[^\s<>()\[\]\",;:@.]{1,63}"
# An address on a line of its own, maybe in <>, maybe followed by ": explanation" (qmail, Postfix),
# "... explanation" (Sendmail), "(name)" or "<mailto:…>" (Exchange).
_ADDRESS_LINE = re.compile(
    rf"\s*(?:[*-]\s+)?<?(?P<address>{_ADDRESS})>?(?:\s*\((?P<comment>[^()]*)\))?(?:\s*\[(?P<bracket>[^\[\]]*)\])?"
    rf"(?:\s*<mailto:[^<>]*>)?\s*(?:(?::|\.\.\.)(?P<rest>.*))?"
)
# An address after a short lead-in: "Recipient: <a@b>", "Could not be delivered to: <a@b>" (KDDI),
# "Unknown user: a@b" (IMail: the lead-in is the explanation), "undeliverable to a@b".
_LEAD_IN_LINE = re.compile(
    rf"\s*(?P<lead>[A-Za-z][\w' ()-]{{1,60}}?)(?::|\s+to|\s+by)\s*[<\[]?(?:smtp:)?(?P<address>{_ADDRESS})(?!\.\w)"
    rf"[>\]]?\s*(?:[:.](?P<rest>.*))?",
    re.I,
)
# Lead-ins that are header fields of a quoted message or a report, not a failure.
# "… after MAIL FROM:<a@b> SIZE=1024:" (Exim) quotes an SMTP command: the sender, or the recipient already named.
_NOT_A_LEAD_IN_END = re.compile(r"\b(?:reply|contact|send|write|forward|e-?mail|mail|at|mail from|rcpt to)\s*$", re.I)
_NOT_A_LEAD_IN = re.compile(
    r"(?:to|from|cc|bcc|sender|reply-to|return-path|envelope-to|delivered-to|original sender|message-id|x-[\w-]+"
    r"|subject|by|for|sent|date|contact|please contact|reply to|send mail to|mailto|email|e-mail)",
    re.I,
)
# An address in a sentence: "There was an error delivering your mail to <a@b>." (dma),
# "The following message to <a@b> was undeliverable." (Exchange 2000 and relatives).
_SENTENCE_ADDRESS = re.compile(
    rf"(?:delivering your (?:mail|message) to|the following message to|your message to|rejected recipient"
    rf"|(?:could not|couldn'?t|unable to) deliver (?:mail|your message|the message) to)"
    rf"\s+<?(?P<address>{_ADDRESS})>?(?P<rest>(?:[\s,.;:!)].*)?)",
    re.I,
)
# Exchange 2003 and older: "a@b on Tue, 14 May 2024 10:00:05 +0200", "a@b on 4/29/99 9:19:59 AM".
_ADDRESS_ON_DATE = re.compile(rf"\s*<?(?P<address>{_ADDRESS})>?\s+on\s+(?:[A-Z][a-z]{{2}},|\d{{1,4}}[./-]\d).*")
# Sendmail's transcript: "550 5.1.1 <a@b>... User unknown", "<a@b>... Deferred: Connection refused".
_TRANSCRIPT_LINE = re.compile(
    rf"\s*(?P<code>[245]\d\d(?:[ -][245]\.\d{{1,3}}\.\d{{1,3}})?)?\s*<(?P<address>{_ADDRESS})>\.\.\.\s*(?P<rest>.*)"
)
_NOT_A_RECIPIENT = re.compile(r"(?:mailer-daemon|postmaster|bounces(?:\+[^@]*)?)@", re.I)


# Marks only auto-responders set (RFC 3834's Auto-Submitted is also on genuine bounces, so it is no sign).
_AUTO_REPLY_HEADERS = ("x-autoreply", "x-autorespond", "x-ms-exchange-organization-autoreply")


def _is_auto_reply(letter: Letter) -> bool:
    if any(letter.header(name) for name in _AUTO_REPLY_HEADERS):
        return True
    return letter.header("precedence").lower() == "auto_reply" or bool(
        _AUTO_REPLY_SUBJECT.search(letter.parsed.subject)
    )


def _text_bounce(letter: Letter) -> Report | None:
    human = letter.human
    if _is_auto_reply(letter):  # an out-of-office may well say "… could not be delivered …"
        return None
    if not _BOUNCE_WORDING.search(human):
        if _AUTO_REPLY_SUBJECT.search(letter.parsed.subject):
            return None
        if not (_DAEMON_SENDER.search(letter.sender) and _BOUNCE_SUBJECT.search(letter.parsed.subject)):
            return None
    action = _text_action("\n".join(letter.report_text())) or _subject_action(letter.parsed.subject)
    found = _text_recipients(letter)
    if not found and (listed := letter.header("x-failed-recipients")):  # Exim names them in a header too
        explanation = _one_line(" ".join(letter.report_text()))
        found = [(address, explanation) for _, address in getaddresses([listed]) if "@" in address]
    recipients = [_text_recipient(address, diagnostic, action) for address, diagnostic in found]
    if not action or not recipients:
        return None
    return Report(
        kind="dsn",
        recipients=recipients,
        original_message_id=_original_message_id(letter),
        reporter=_reporting_host(letter),
    )


# Wording that settles it: the sending MTA gave up, whatever delay words the text also quotes.
_PERMANENT_WORDING = re.compile(
    r"this is a permanent error|permanent fatal errors|i'?ve given up|failed permanently|permanent failure", re.I
)


def _text_action(text: str) -> str:
    if _PERMANENT_WORDING.search(text):
        return "failed"
    if _DELAY_WORDING.search(text):
        return "delayed"
    return "failed" if _FAILURE_WORDING.search(text) else ""


_DELAY_SUBJECT = re.compile(r"delay|warning|temporar|transient|still (?:being )?retried", re.I)


def _subject_action(subject: str) -> str:
    """The outcome a bounce subject names, for the terse bounces whose text only lists the addresses."""
    if not _BOUNCE_SUBJECT.search(subject):
        return ""
    return "delayed" if _DELAY_SUBJECT.search(subject) else "failed"


def _text_recipient(address: str, diagnostic: str, action: str) -> ReportedRecipient:
    return ReportedRecipient(
        address=address,
        action=action,
        status=_resolve_status("", diagnostic, action),
        diagnostic=diagnostic,
        remote_mta=_remote_host(diagnostic),
    )


def _text_recipients(letter: Letter) -> list[tuple[str, str]]:
    """(address, explanation) for each address a line names before the returned copy.

    An address stands on a line of its own (maybe with ": explanation"), after
    a short lead-in ("Unknown user: a@b"), in a Sendmail transcript line, or in
    a sentence ("…error delivering your mail to <a@b>."). The explanation is
    what follows the address, paragraph by paragraph, up to the first paragraph
    quoting a server's reply (or only the first paragraph when none does), so
    the boilerplate after it is left out.
    """
    found: dict[str, tuple[str, list[list[str]]]] = {}
    paragraphs = None
    preamble: list[list[str]] = [[]]  # the text before the first address
    for number, line in enumerate(_lines(letter.human)):
        if number >= _SCAN_LINES or _COPY_FOLLOWS.search(line):
            break
        address, first = _address_on(line[:_LINE_CHARS])
        if address and address.lower() not in letter.own_addresses and not _NOT_A_RECIPIENT.match(address):
            paragraphs = found.setdefault(address.lower(), (address, []))[1]
            paragraphs.append([first] if first else [])
        elif paragraphs is not None:
            if line.strip():
                paragraphs[-1].append(line.strip())
            elif paragraphs[-1] and not all(text.endswith(":") for text in paragraphs[-1]):
                paragraphs.append([])  # a blank line ends a paragraph, but not a lead-in ("because:")
        elif line.strip():
            preamble[-1].append(line.strip())
        elif preamble[-1]:
            preamble.append([])
    # Some formats explain before they list ("…due to the following reason: <why> <address>"): an
    # address with no explanation of its own gets the last paragraphs before the first address.
    before = _one_line(" ".join(" ".join(p) for p in [p for p in preamble if p][-2:]))
    return [(address, _with_preamble(_explanation(paragraphs), before)) for address, paragraphs in found.values()]


def _with_preamble(explanation: str, before: str) -> str:
    if not before or _QUOTES_A_REPLY.search(explanation) or _worded_status(explanation, "5"):
        return explanation
    return f"{before} {explanation}".strip()


def _is_lead_in(lead: str) -> bool:
    """Whether the words before an address introduce a failed recipient, not a quoted header or a contact."""
    return not _NOT_A_LEAD_IN.fullmatch(lead.strip()) and not _NOT_A_LEAD_IN_END.search(lead)


def _address_on(line: str) -> tuple[str, str]:
    """The recipient address a line of a text bounce names, and the explanation on the same line."""
    if match := _ADDRESS_LINE.fullmatch(line):
        said = (match["comment"], match["bracket"], match["rest"])
        return match["address"], " ".join(t.strip() for t in said if t and t.strip())
    if match := _ADDRESS_ON_DATE.fullmatch(line):
        return match["address"], ""
    if match := _TRANSCRIPT_LINE.fullmatch(line):
        return match["address"], " ".join(t for t in (match["code"], match["rest"].strip()) if t)
    if match := _SENTENCE_ADDRESS.search(line):
        return match["address"], match["rest"].strip(" .")
    if (match := _LEAD_IN_LINE.fullmatch(line)) and _is_lead_in(match["lead"]):
        return match["address"], " ".join(t.strip() for t in (match["lead"], match["rest"]) if t and t.strip())
    return "", ""


_QUOTES_A_REPLY = re.compile(r"(?<![\w.])[245]\.\d{1,3}\.\d{1,3}(?!\.?\d)|(?<![\w.])[45]\d\d(?![\w.])")


def _explanation(paragraphs: list[list[str]]) -> str:
    texts = [" ".join(paragraph) for paragraph in paragraphs if paragraph]
    quoting = next((n for n, text in enumerate(texts) if _QUOTES_A_REPLY.search(text)), None)
    if quoting is None:
        return _one_line(texts[0] if texts else "")
    # The server's reply, after the short lead-ins before it ("because:", "Error Type: SMTP"), not the
    # boilerplate some formats put between ("The account or domain may not exist, … blacklisted").
    lead = [text for text in texts[:quoting] if len(text) <= _LEAD_CHARS]
    return _one_line(" ".join([*lead, texts[quoting]]))


_LEAD_CHARS = 60


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


# --- for the format readers ------------------------------------------------------------

# The status a format implies when it names the failure but quotes no code (RFC 3463).
IMPLIED_STATUS = {
    Reason.USER_UNKNOWN: "5.1.1",
    Reason.HOST_UNKNOWN: "5.1.2",
    Reason.MAILBOX_FULL: "5.2.2",
    Reason.SUSPENDED: "5.2.1",
    Reason.FILTERED: "5.2.0",
    Reason.EXCEED_LIMIT: "5.2.3",
    Reason.MESSAGE_TOO_BIG: "5.3.4",
    Reason.NO_RELAYING: "5.7.1",
    Reason.REJECTED: "5.7.1",
    Reason.SECURITY_ERROR: "5.7.0",
    Reason.EXPIRED: "4.4.7",
    Reason.NETWORK_ERROR: "4.4.1",
    Reason.SYSTEM_ERROR: "5.3.0",
    Reason.CONTENT_ERROR: "5.6.0",
}


def recipient(address: str, diagnostic: str, action: str = "failed", reason: str = "") -> ReportedRecipient:
    """A recipient a format reader found in text: its status from the diagnostic, else the one
    ``reason`` (a failure the format names outright) implies."""
    diagnostic = _one_line(diagnostic)
    status = _resolve_status("", diagnostic, action)
    if reason and (not status or status.endswith(".0.0")) and action == "failed":
        status = IMPLIED_STATUS.get(reason, status)
    return ReportedRecipient(
        address=address,
        action=action,
        status=status,
        diagnostic=diagnostic,
        remote_mta=_remote_host(diagnostic),
        reason=reason,
    )


def text_report(letter: Letter, recipients: list[ReportedRecipient]) -> Report | None:
    """A report from what a format reader found in the text; None when it found no recipient."""
    if not recipients:
        return None
    return Report(
        kind="dsn",
        recipients=recipients,
        original_message_id=_original_message_id(letter),
        reporter=_reporting_host(letter),
    )


def with_reasons(report: Report | None, reason_of) -> Report | None:
    """``report`` with the reason ``reason_of(recipient)`` names (a format's own error code) set as a hint."""
    if report is None or report.kind != "dsn":
        return report
    recipients = []
    for reported in report.recipients:
        reason = reason_of(reported) or reported.reason
        status = reported.status
        if reason and reported.action == "failed" and (not status or status.endswith(".0.0")):
            status = IMPLIED_STATUS.get(reason, status)
        recipients.append(replace(reported, reason=reason, status=status))
    return replace(report, recipients=recipients)


# --- statuses --------------------------------------------------------------------------

_ENHANCED = re.compile(r"(?<![\w.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
# A basic SMTP reply code where a diagnostic quotes the server: "550 …", "… said: 550 …".
_BASIC = re.compile(r"(?:^|said:|returned:?|error:?|<<<)\s*(?P<code>(?P<class>[245])\d\d)(?![\d.])", re.I)
# RFC 3463 details for explanations that carry no enhanced status: (pattern, ".subject.detail"), the
# first that matches wins (so "domain does not exist" is the host's, not the user's).
_WORDED_STATUSES = (
    (
        re.compile(
            r"host not found|domain not found|no such domain|host unknown|unrouteable address|unknown host"
            r"|domain (?:name )?does ?n[o']t exist|couldn'?t find any host|can ?not find (?:an? )?mx"
            r"|no mx or a record|mx records point to non-existent hosts|domain doesnt exist",
            re.I,
        ),
        ".1.2",
    ),
    (
        re.compile(
            r"user unknown|unknown user|no such (?:user|recipient|mailbox)|recipient unknown|does ?n[o']t exist"
            r"|not listed in (?:domino directory|public name)|no mailbox here by that name|mailbox not found"
            r"|invalid recipient|address couldn'?t be found|recipient not found|unknown recipient|user not found"
            r"|doesn'?t have an? \S+ account|invalid final delivery userid|unknown address|user doesn'?t exist"
            r"|存在しません|見つかりません",
            re.I,
        ),
        ".1.1",
    ),
    (
        re.compile(
            r"mailbox (?:is )?full|over ?quota|quota exceed|exceeded (?:the )?storage|disk quota|mailbox size"
            r"|mailbox exceeds|exceeds allowed size|mailbox exceeded|mailfolder is over|mailbox is over|容量",
            re.I,
        ),
        ".2.2",
    ),
    (
        re.compile(
            r"network error|connection (?:timed out|refused)|no route to host|unable to connect"
            r"|couldn'?t connect|could not connect|connect to \S+ failed",
            re.I,
        ),
        ".4.1",
    ),
)
# The sending MTA retried a temporary failure until it gave up: 4.4.7, whatever the last reply was.
_GAVE_UP = re.compile(
    r"retry timeout exceeded|in the queue too long|not (?:been )?delivered within|could not be delivered for \d+"
    r"|cannot send message for \d+|delivery time expired|message expired|delivery failed \d+ attempts"
    r"|(?:gave|giving) up after|expired after \d+|queue\.expired",
    re.I,
)
_HARD_WORDED = (".1.2", ".1.1")  # permanent causes, which no MTA retries: they stay what they are


def _resolve_status(declared: str, diagnostic: str, action: str) -> str:
    """The most specific RFC 3463 status the report supports; "" when it gives none."""
    diagnostic = diagnostic or ""
    status = _enhanced(declared)
    if not status and action == "failed" and _GAVE_UP.search(diagnostic):
        worded = _worded_status(diagnostic, "5")
        return worded if worded[1:] in _HARD_WORDED else "4.4.7"
    said = _enhanced_reply(diagnostic)
    if said and (not status or (status.endswith(".0.0") and said[0] == status[0])):
        status = said
    if status and not status.endswith(".0.0"):
        return status
    basic = _BASIC.search(diagnostic)
    status_class = status[:1] or (basic["class"] if basic else "") or {"failed": "5", "delayed": "4"}.get(action, "")
    if worded := _worded_status(diagnostic, status_class):
        return worded
    if status:
        return status
    return f"{basic['class']}.0.0" if basic else ""


def _worded_status(diagnostic: str, status_class: str) -> str:
    if status_class not in ("4", "5"):
        return ""
    for pattern, detail in _WORDED_STATUSES:
        if pattern.search(diagnostic):
            return status_class + detail
    return ""


def _enhanced_reply(text: str) -> str:
    """The enhanced status a diagnostic quotes; of several ("5.1.0 - Unknown address error 550-'5.1.1 …'"),
    the first specific one (an ``X.Y.0`` only says "other") of the first one's class."""
    found = [".".join(m.groups()) for m in _ENHANCED.finditer(text[:_SCAN_CHARS])]
    if not found:
        return ""
    return next((code for code in found if code[0] == found[0][0] and not code.endswith(".0")), found[0])


def _enhanced(text: str) -> str:
    match = _ENHANCED.search(text or "")
    return ".".join(match.groups()) if match else ""


# --- small readers ---------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return re.split(r"\r\n|\r|\n", text[:_SCAN_CHARS])


def _unparsed_text(body: bytes, content_type: str) -> str:
    """The text of a multipart body whose structure the MIME parser could not follow (a part's
    ``boundary=`` on an unfolded line, as Apache James writes it): its lines, less the MIME scaffolding."""
    if not content_type.lower().lstrip().startswith("multipart/"):
        return ""
    lines = _lines(_text_of(body))
    return "\n".join(line for line in lines if not _MIME_SCAFFOLDING.match(line))


_MIME_SCAFFOLDING = re.compile(r"--\S|content-[\w-]+:|boundary=|mime-version:|[ \t]+charset=", re.I)


def _text_of(content: bytes) -> str:
    return decode_bytes(content[:_SCAN_CHARS], "utf-8")


_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)?")
_BARE_CR = re.compile(rb"\r(?!\n)")


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


# The small readers the format readers share.
ADDRESS = _ADDRESS
lines = _lines
one_line = _one_line
