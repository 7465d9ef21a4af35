"""Lenient parsing of raw RFC 5322 messages into the fields the store keeps.

Real mail is messy, so nothing here raises on bad input: every field falls
back to something sensible and problems are reported as ``defects``. The raw
bytes stay the source of truth; this is only a view of them.
"""

import contextlib
import mimetypes
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from mailboxes.text import clean_header_text, decode_bytes, html_to_text, make_snippet

MAX_REFERENCES = 50
MAX_ID_LENGTH = 998
MAX_DEFECTS = 20
# Decoded headers worth keeping on the row (lists, automation, authentication).
KEPT_HEADERS = (
    "reply-to",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "auto-submitted",
    "precedence",
    "x-mailer",
    "user-agent",
    "return-path",
    "authentication-results",
    "content-language",
)

_ID_IN_BRACKETS = re.compile(r"<\s*([^<>\s]{1,998})\s*>")  # 998: the RFC 5322 line limit
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_FOLDING = re.compile(r"\r?\n[ \t]")
_FILENAME_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    content: bytes
    content_id: str = ""
    is_inline: bool = False


@dataclass
class ParsedMessage:
    message_id: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    subject: str = ""
    from_name: str = ""
    from_address: str = ""
    to: list[dict] = field(default_factory=list)
    cc: list[dict] = field(default_factory=list)
    bcc: list[dict] = field(default_factory=list)
    date: datetime | None = None
    text: str = ""
    html: str = ""
    attachments: list[ParsedAttachment] = field(default_factory=list)
    headers: dict = field(default_factory=dict)
    defects: list[str] = field(default_factory=list)

    @property
    def body_text(self) -> str:
        """The readable text: the text part, else the HTML part converted."""
        return self.text or html_to_text(self.html)

    @property
    def snippet(self) -> str:
        return make_snippet(self.body_text)

    @property
    def thread_keys(self) -> list[str]:
        """Message-IDs that tie this message to a conversation: its own and those it refers to."""
        keys = [self.message_id, self.in_reply_to, *self.references]
        return list(dict.fromkeys(k for k in keys if k))


def parse_message(raw: bytes) -> ParsedMessage:
    result = ParsedMessage()
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as exc:  # the parser should not raise, but input is hostile
        result.defects.append(f"unparseable: {exc.__class__.__name__}")
        return result

    result.message_id = _first_id(_header_text(msg, "message-id"))
    result.in_reply_to = _first_id(_header_text(msg, "in-reply-to"))
    result.references = _all_ids(_header_text(msg, "references"))[-MAX_REFERENCES:]
    result.subject = _header_text(msg, "subject")
    from_list = _address_list(msg, "from")
    if from_list:
        result.from_name, result.from_address = from_list[0]["name"], from_list[0]["address"]
    result.to = _address_list(msg, "to")
    result.cc = _address_list(msg, "cc")
    result.bcc = _address_list(msg, "bcc")
    result.date = _parse_date(_header_text(msg, "date"))
    for name in KEPT_HEADERS:
        value = _header_text(msg, name)
        if value:
            result.headers[name] = value[:2000]

    _collect_parts(msg, result)
    result.defects += _defects_of(msg)
    result.defects = result.defects[:MAX_DEFECTS]
    return result


# --- headers -----------------------------------------------------------------


def _header_text(msg: Message, name: str) -> str:
    """The decoded value of the first ``name`` header, or "" — never raises."""
    raw = next((value for key, value in msg.raw_items() if key.lower() == name), None)
    if raw is None:
        return ""
    if not _has_raw_8bit(raw):
        with contextlib.suppress(Exception):  # header classes raise on some malformed values
            return clean_header_text(str(msg.get(name)))
    # Undeclared 8-bit bytes (the parser would turn them into U+FFFD) or a
    # header the registry rejects: decode the bytes and encoded-words here.
    text = decode_bytes(raw.encode("ascii", "surrogateescape"), "utf-8") if _has_raw_8bit(raw) else raw
    text = _FOLDING.sub(" ", text)
    return clean_header_text(_decode_encoded_words(text))


def _decode_encoded_words(text: str) -> str:
    """RFC 2047 words decoded one by one, so raw text beside them survives."""

    def decode(match: re.Match) -> str:
        try:
            return str(make_header(decode_header(match.group(0))))
        except Exception:  # a broken word stays as it was written
            return match.group(0)

    # Whitespace between two adjacent encoded words is not part of the text.
    text = re.sub(r"(\?=)\s+(=\?)", r"\1\2", text)
    return _ENCODED_WORD.sub(decode, text)


def _has_raw_8bit(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def _first_id(value: str) -> str:
    ids = _all_ids(value)
    return ids[0] if ids else ""


def _all_ids(value: str) -> list[str]:
    """Message-IDs in a header, with or without the angle brackets senders forget."""
    if not value:
        return []
    found = _ID_IN_BRACKETS.findall(value)
    if not found:
        found = [token.strip("<>") for token in value.split() if "@" in token]
    return list(dict.fromkeys(i[:MAX_ID_LENGTH] for i in found if i))


def _address_list(msg: Message, name: str) -> list[dict]:
    addresses = []
    try:
        header = msg.get(name)
        if header is not None:
            for addr in header.addresses:
                if addr.addr_spec and addr.addr_spec != "<>":
                    addresses.append(
                        {
                            "name": clean_header_text(addr.display_name or ""),
                            "address": clean_header_text(addr.addr_spec),
                        }
                    )
            return addresses
    except Exception:  # fall back to the forgiving parser below
        addresses = []
    raw = _header_text(msg, name)
    for display, addr in getaddresses([raw]):
        if addr and "@" in addr:
            addresses.append({"name": display.strip(), "address": addr.strip()})
    return addresses


def _parse_date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if not 1970 <= parsed.year <= 2200:
        return None
    return parsed


def _defects_of(msg: Message) -> list[str]:
    names = []
    for part in msg.walk():
        names += [d.__class__.__name__ for d in getattr(part, "defects", [])]
    return list(dict.fromkeys(names))


# --- body and attachments ------------------------------------------------------


def _collect_parts(part: Message, result: ParsedMessage) -> None:
    content_type = _content_type(part)
    if content_type == "message/rfc822" or (part.is_multipart() and content_type.startswith("message/")):
        _add_attachment(part, result, content=_embedded_message_bytes(part), content_type="message/rfc822")
        return
    if part.is_multipart():
        payload = part.get_payload()
        for child in payload if isinstance(payload, list) else []:
            _collect_parts(child, result)
        return

    disposition = _disposition(part)
    filename = _filename(part)
    is_body_text = content_type in ("text/plain", "text/html") and disposition != "attachment" and not filename
    if is_body_text:
        text = decode_bytes(_payload_bytes(part, result), _charset(part)).replace("\r\n", "\n").replace("\x00", "")
        if content_type == "text/plain":
            result.text = f"{result.text}\n{text}" if result.text else text
        elif not result.html:
            result.html = text
        else:
            result.html += text
        return
    _add_attachment(part, result, content=_payload_bytes(part, result), content_type=content_type)


def _add_attachment(part: Message, result: ParsedMessage, *, content: bytes, content_type: str) -> None:
    filename = _filename(part)
    if not filename:
        extension = ".eml" if content_type == "message/rfc822" else (mimetypes.guess_extension(content_type) or "")
        filename = f"attachment-{len(result.attachments) + 1}{extension}"
    content_id = _first_id(_header_text(part, "content-id"))
    result.attachments.append(
        ParsedAttachment(
            filename=filename,
            content_type=content_type,
            content=content,
            content_id=content_id,
            is_inline=_disposition(part) == "inline" or (bool(content_id) and _disposition(part) != "attachment"),
        )
    )


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "application/octet-stream"


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        return None


def _charset(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:
        return None


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:
        name = ""
    name = clean_header_text(str(name))
    name = _FILENAME_UNSAFE.sub("_", name).strip(" ._")
    return name[-255:]


def _payload_bytes(part: Message, result: ParsedMessage) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:  # undecodable transfer encoding: keep the raw text
        result.defects.append(f"undecodable part: {exc.__class__.__name__}")
        data = None
    if data is None:
        raw = part.get_payload()
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    return data


def _embedded_message_bytes(part: Message) -> bytes:
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if isinstance(inner, EmailMessage | Message):
        with contextlib.suppress(Exception):
            return inner.as_bytes(policy=policy.compat32)
    raw = part.get_payload(decode=False)
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
