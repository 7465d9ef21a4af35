"""Lenient parsing of raw RFC 5322 messages into the fields the store keeps.

Real mail is messy, so nothing here raises on bad input: every field falls
back to something sensible and problems are reported as ``defects``. The raw
bytes stay the source of truth; this is only a view of them.

Hostile input is bounded. The message is parsed with the compat32 policy,
whose header access is plain string work; ``policy.default``'s structured
header parser is quadratic in time and memory (a megabyte of encoded-words
takes gigabytes) and makes the feed parser itself ~15 times slower per MIME
part. It is used only for address headers up to ``MAX_PARSED_HEADER``
characters; text headers, MIME parameters and longer address lists are read
with linear rules here, and the feed parser never sees more than that many
characters of one header.
"""

import binascii
import contextlib
import hashlib
import mimetypes
import quopri
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.feedparser import BytesFeedParser
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import Compat32
from email.utils import decode_params, getaddresses, parsedate_to_datetime, unquote

from mailboxes.header_text import (
    decode_encoded_words,
    mask_encoded_words,
    safe_filename,
    unmask_address,
    unmask_name,
)
from mailboxes.text import clean_header_text, decode_bytes, html_to_text, make_snippet

MAX_REFERENCES = 50
MAX_ID_LENGTH = 998
MAX_DEFECTS = 20
MAX_ATTACHMENTS = 500
MAX_PARSED_HEADER = 16 * 1024
_FEED_CHUNK = 1024 * 1024
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
# Headers that servers add or rewrite on the way (RFC 5321 trace, authentication, list exploders,
# X- headers): two copies of one message differ in them only, so its content fingerprint leaves them out.
TRACE_HEADERS = frozenset(
    ["received", "return-path", "delivered-to", "authentication-results", "received-spf", "dkim-signature"]
)
TRACE_HEADER_PREFIXES = ("x-", "arc-", "list-")
# Headers holding Message-IDs: encoded-words there are not text to decode.
_ID_HEADERS = ("message-id", "in-reply-to", "references", "content-id")

_ID_IN_BRACKETS = re.compile(r"<\s*([^<>\s]{1,998})\s*>")  # 998: the RFC 5322 line limit
_FOLDING = re.compile(r"\r\n|\r|\n")
_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NOT_BASE64 = bytes(b for b in range(256) if b not in _BASE64_ALPHABET and b != ord("="))
# One MIME parameter: name, then a quoted string (maybe unterminated) or a token.
_PARAM = re.compile(r';\s*([^\s=;]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"?|[^;]*))?')
# How the standard library's feed parser tells header lines and boundary lines.
_HEADER_LINE = re.compile(rb"From |[\x21-\x39\x3b-\x7e]*:|[\t ]")
# The same with the obsolete syntax (RFC 5322 §4.5.8): white space between a field's name and its colon.
_OBSOLETE_HEADER_LINE = re.compile(rb"From |[\x21-\x39\x3b-\x7e]*[\t ]*:|[\t ]")
_BLANK_LINE = re.compile(rb"\n[\r\n]|\r\r")  # a line break, then a line that is empty (whatever its break)
_SPACE_BEFORE_COLON = re.compile(rb"(?:^|(?<=[\r\n]))([\x21-\x39\x3b-\x7e]+)[\t ]+:")
_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)?")
_DELIMITER_TAIL = re.compile(rb"(--)?[ \t]*(?:\r\n|\r|\n|\Z)")


class _BoundedPolicy(Compat32):
    """compat32, whose parameter parsing never sees more than ``MAX_PARSED_HEADER`` characters.

    The feed parser itself reads Content-Type (boundary, type) through it, and
    the standard parameter splitter is quadratic in the number of parameters.
    """

    def header_fetch_parse(self, name, value):
        if isinstance(value, str) and len(value) > MAX_PARSED_HEADER:
            value = value[:MAX_PARSED_HEADER]
        return super().header_fetch_parse(name, value)


_POLICY = _BoundedPolicy()


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
    fingerprint: str = ""  # see content_fingerprint

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
    parse_body = True
    raw = _without_space_before_colons(raw)
    try:
        msg = _parse_bytes(raw)
    except Exception as exc:  # the parser should not raise, but input is hostile (or nested too deep)
        result.defects.append(f"unparseable: {exc.__class__.__name__}")
        try:  # keep at least the headers
            msg = BytesParser(policy=_POLICY).parsebytes(raw, headersonly=True)
        except Exception:
            result.fingerprint = hashlib.sha256(raw).hexdigest()
            return result
        parse_body = False

    result.fingerprint = content_fingerprint(msg, raw)
    _read_headers(result, _first_raw_headers(msg))

    if parse_body:
        _collect_parts(msg, raw, result)
        result.defects += _defects_of(msg)
    result.defects = list(dict.fromkeys(result.defects))[:MAX_DEFECTS]
    return result


def parse_built_message(raw: bytes, headers: list[tuple[str, str]], bodies: list[tuple[str, bytes]]) -> ParsedMessage:
    """``parse_message(raw)`` for a message this program has just built, without the feed parser.

    For a batch send, where parsing each message back cost more than
    building it. ``raw`` must be exactly: ``headers`` (``(name, value)``,
    a value folded only with CRLF and a space, no other control character but
    tab), a blank line, and a multipart body of ``bodies`` in order, each
    ``(text/plain or text/html, its quoted-printable payload)`` declared
    ``charset="utf-8"``, between boundary lines the payloads cannot contain.
    The header fields, text, snippet and fingerprint then come from the same
    functions as ``parse_message``'s, fed what the feed parser would have
    given them; tests/mailboxes compare the two on varied messages.
    """
    result = ParsedMessage()
    items = [(name, value.lstrip(" \t").rstrip("\r\n")) for name, value in headers]  # as compat32 reads them
    # Every line up to the first blank one is a header line (the values hold no other line breaks).
    result.fingerprint = _fingerprint(items, raw, raw.index(b"\r\n\r\n") + 4)
    index: dict[str, str] = {}
    for name, value in items:
        index.setdefault(name.lower(), value)
    _read_headers(result, index)
    for content_type, payload in bodies:
        text = _body_text(quopri.decodestring(payload), "utf-8")
        if content_type == "text/plain":
            result.text = f"{result.text}\n{text}" if result.text else text
        else:
            result.html += text
    return result


def _read_headers(result: ParsedMessage, index: dict[str, str]) -> None:
    """The fields of ``result`` read from the headers (``_first_raw_headers``)."""
    result.message_id = _first_id(_header_text(None, index, "message-id"))
    result.in_reply_to = _first_id(_header_text(None, index, "in-reply-to"))
    references = _all_ids(_header_text(None, index, "references"))
    if len(references) > MAX_REFERENCES:  # keep the thread's root, as RFC 5537 asks when trimming
        references = [references[0], *references[-(MAX_REFERENCES - 1) :]]
    result.references = references
    result.subject = _header_text(None, index, "subject")
    from_list = _address_list(None, index, "from")
    if from_list:
        result.from_name, result.from_address = from_list[0]["name"], from_list[0]["address"]
    result.to = _address_list(None, index, "to")
    result.cc = _address_list(None, index, "cc")
    result.bcc = _address_list(None, index, "bcc")
    result.date = _parse_date(_header_text(None, index, "date"))
    for name in KEPT_HEADERS:
        value = _header_text(None, index, name)
        if value:
            result.headers[name] = value[:2000]


def content_fingerprint(msg: Message, raw: bytes) -> str:
    """A SHA-256 of what the author wrote: two copies of one message share it, however they travelled.

    It covers every header but the trace ones (``TRACE_HEADERS``), canonicalised
    leniently (names lower-cased, values unfolded with their runs of white space
    made one space, in name order: a relay may reorder them), and the body
    bytes with their line breaks made LF and the trailing ones dropped (some
    relays normalise line endings or add a final CRLF).
    """
    return _fingerprint(msg.raw_items(), raw)


def _fingerprint(raw_items, raw: bytes, body_offset: int | None = None) -> str:
    """``content_fingerprint`` of the headers ``raw_items`` (``(name, value)`` as written) and ``raw``'s body.

    ``body_offset``, where the body starts, when the caller knows it (``_body_offset(raw)`` otherwise).
    """
    digest = hashlib.sha256()
    headers = []
    for name, value in raw_items:
        name = name.strip().lower()
        if name not in TRACE_HEADERS and not name.startswith(TRACE_HEADER_PREFIXES):
            headers.append((name, " ".join(str(value).split())))
    for name, value in sorted(headers):
        digest.update(f"{name}:{value}\n".encode("utf-8", "surrogatepass"))
    digest.update(b"\n")
    body = raw[_body_offset(raw) if body_offset is None else body_offset :]
    digest.update(body.replace(b"\r\n", b"\n").replace(b"\r", b"\n").rstrip(b"\n"))
    return digest.hexdigest()


def parse_body_text(raw: bytes) -> str:
    """``parse_message(raw).body_text`` without the headers' parsing (addresses cost most of it): for the indexer."""
    result = ParsedMessage()
    raw = _without_space_before_colons(raw)
    try:
        msg = _parse_bytes(raw)
    except Exception:  # hostile input: parse_message keeps only the headers then, so no body either
        return ""
    _collect_parts(msg, raw, result)
    return result.body_text


def _without_space_before_colons(raw: bytes) -> bytes:
    """``raw`` with its header fields written ``Subject :`` made ``Subject:``, for the parser only.

    That obsolete syntax is still sent (RFC 5322 §4.5.8 says to accept it); the
    standard parser takes the first such line for the start of the body. Only
    the message's own header block changes, so every body keeps its bytes.
    """
    blank_line = _BLANK_LINE.search(raw)  # the header block ends there at the latest
    if not _SPACE_BEFORE_COLON.search(raw, 0, blank_line.end() if blank_line else len(raw)):
        return raw
    end = _body_offset(raw, _OBSOLETE_HEADER_LINE)
    return _SPACE_BEFORE_COLON.sub(rb"\1:", raw[:end]) + raw[end:]


def _parse_bytes(raw: bytes) -> Message:
    """The feed parser, fed in slices: fed at once it splits the whole message into
    line objects up front, which costs about eight times the message size."""
    parser = BytesFeedParser(policy=_POLICY)
    view = memoryview(raw)
    for start in range(0, len(raw), _FEED_CHUNK):
        parser.feed(bytes(view[start : start + _FEED_CHUNK]))
    return parser.close()


# --- headers -----------------------------------------------------------------


def _raw_header(msg: Message, name: str, index: dict[str, str] | None = None) -> str | None:
    """The first ``name`` header as it was written (8-bit bytes as surrogates), unparsed.

    ``index``, ``_first_raw_headers(msg)``, answers without another pass over the headers.
    """
    if index is not None:
        return index.get(name)
    return next((value for key, value in msg.raw_items() if key.lower() == name), None)


def _first_raw_headers(msg: Message) -> dict[str, str]:
    """The first value of each header as it was written, by lower-case name."""
    index: dict[str, str] = {}
    for key, value in msg.raw_items():
        index.setdefault(key.lower(), value)
    return index


def _unfolded(raw: str) -> str:
    """A raw header value unfolded, its undeclared 8-bit bytes decoded (UTF-8, else Windows-1252)."""
    if _has_raw_8bit(raw):
        raw = decode_bytes(raw.encode("ascii", "surrogateescape"), "utf-8")
    return _FOLDING.sub("", raw)


def _header_text(msg: Message, index: dict[str, str] | None, name: str) -> str:
    """The decoded value of the first ``name`` header, or "" — never raises, linear in its length."""
    raw = _raw_header(msg, name, index)
    if raw is None:
        return ""
    if name in _ID_HEADERS or "=?" not in raw:
        return clean_header_text(_unfolded(raw))
    # Raw 8-bit bytes still as surrogates: inside an encoded-word they are the bytes of its charset.
    return clean_header_text(decode_encoded_words(_FOLDING.sub("", raw)))


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


def _address_list(msg: Message, index: dict[str, str] | None, name: str) -> list[dict]:
    raw = _raw_header(msg, name, index)
    if raw is None:
        return []
    if len(raw) <= MAX_PARSED_HEADER:  # the standard parser is best, but quadratic: small headers only
        value = _unfolded(raw)
        plain = _plain_addresses(value)
        if plain is not None:  # what the standard parser would make of it, at a fraction of the cost
            return [{"name": _display_name(display), "address": clean_header_text(addr)} for display, addr in plain]
        # Its encoded-words are decoded here, not by the standard parser: it puts a space between adjacent
        # words (RFC 2047 §6.2 says to drop it), breaks a character split across them and leaves raw 8-bit ones.
        masked, runs = mask_encoded_words(value)
        with contextlib.suppress(Exception):  # else fall back to the forgiving parser below
            return [
                {
                    "name": _display_name(addr.display_name or "", runs),
                    "address": clean_header_text(unmask_address(addr.addr_spec, runs)),
                }
                for addr in policy.default.header_factory(name, masked).addresses
                if addr.addr_spec and addr.addr_spec != "<>"
            ]
    # Split first, decode encoded-words after: a decoded name may hold a comma.
    return [
        {"name": _display_name(display), "address": clean_header_text(addr)}
        for display, addr in getaddresses([_unfolded(raw)])
        if addr and "@" in addr
    ]


# Address lists in the plainest forms, which the standard parser reads the same way, only slower: mailboxes
# ``local@domain``, ``<local@domain>`` or ``Display Name <local@domain>`` separated by commas, the display name
# made of ASCII atoms (no ``=`` or ``?``) and quoted strings (printable ASCII, no backslash),
# the local part a dot-atom, the domain letters, digits and hyphens, and no ``=?`` anywhere (no encoded-words).
# Anything else goes to the standard parser.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_ADDR_SPEC = rf"{_ATEXT}+(?:\.{_ATEXT}+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_PHRASE_WORD = r"[A-Za-z0-9!#$%&'*+/^_`{|}~-]+|\"[\x20\x21\x23-\x5b\x5d-\x7e]*\""
_PLAIN_MAILBOX = re.compile(
    rf"[ \t]*(?:(?P<bare>{_ADDR_SPEC})"
    rf"|(?P<name>(?:{_PHRASE_WORD})(?:[ \t]+(?:{_PHRASE_WORD}))*)?[ \t]*<(?P<angle>{_ADDR_SPEC})>)[ \t]*"
)
_PHRASE_WORDS = re.compile(_PHRASE_WORD)


def _plain_addresses(value: str) -> list[tuple[str, str]] | None:
    """``[(display name, addr-spec)]`` of a plain address list (see above), or None for any other."""
    if "=?" in value:  # the standard parser decodes what looks like an encoded-word, even in a local part
        return None
    found, pos = [], 0
    while True:
        match = _PLAIN_MAILBOX.match(value, pos)
        if match is None:
            return None
        if match.group("bare"):
            found.append(("", match.group("bare")))
        else:
            words = _PHRASE_WORDS.findall(match.group("name") or "")
            found.append((" ".join(word.removeprefix('"').removesuffix('"') for word in words), match.group("angle")))
        pos = match.end()
        if pos == len(value):
            return found
        if value[pos] != "," or pos + 1 == len(value):
            return None
        pos += 1


def _display_name(name: str, runs: list[str] | None = None) -> str:
    """A display name for the list: ``runs``, the encoded-words ``mask_encoded_words`` took out of it, decoded."""
    if runs:
        name = unmask_name(name, runs)
    elif "=?" in name:  # words the standard parser could not decode (unknown or lying charset)
        name = decode_encoded_words(name)
    return clean_header_text(name)[:300]


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


def _children(part: Message) -> list[Message]:
    payload = _raw_payload(part)
    return payload if isinstance(payload, list) else []


def _defects_of(msg: Message) -> list[str]:
    """The parser's complaints about this message (not about messages attached to it)."""
    names = []
    stack = [msg]
    while stack:  # iterative: nesting depth is attacker-controlled
        part = stack.pop()
        names += [d.__class__.__name__ for d in getattr(part, "defects", [])]
        if not _content_type(part).startswith("message/"):
            stack.extend(reversed(_children(part)))
    return list(dict.fromkeys(names))


# --- body and attachments ------------------------------------------------------


def _collect_parts(msg: Message, raw: bytes, result: ParsedMessage) -> None:
    raw_bodies: dict[int, bytes] | None = None
    stack = [msg]
    while stack:  # iterative, depth-first in document order
        part = stack.pop()
        content_type = _content_type(part)
        if content_type.startswith("message/") and (part.is_multipart() or content_type == "message/rfc822"):
            if _has_room(result):
                if raw_bodies is None:
                    raw_bodies = _raw_bodies(raw, msg)
                content = _embedded_message_bytes(part, raw_bodies.get(id(part)))
                _add_attachment(part, result, content=content, content_type=content_type)
            continue
        if part.is_multipart():
            stack.extend(reversed(_children(part)))
            continue

        disposition = _disposition(part)
        filename = _filename(part)
        is_body_text = content_type in ("text/plain", "text/html") and disposition != "attachment" and not filename
        if is_body_text:
            text = _body_text(_payload_bytes(part, result), _charset(part))
            if content_type == "text/plain":
                result.text = f"{result.text}\n{text}" if result.text else text
            else:
                result.html += text
            continue
        if _has_room(result):
            _add_attachment(part, result, content=_payload_bytes(part, result), content_type=content_type)


def _body_text(data: bytes, charset: str | None) -> str:
    text = decode_bytes(data, charset)
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def _has_room(result: ParsedMessage) -> bool:
    """Whether another attachment may be kept (each costs a stored blob and a row)."""
    if len(result.attachments) < MAX_ATTACHMENTS:
        return True
    if "TooManyAttachmentsDefect" not in result.defects:
        result.defects.append("TooManyAttachmentsDefect")
    return False


def _add_attachment(part: Message, result: ParsedMessage, *, content: bytes, content_type: str) -> None:
    filename = _filename(part)
    if not filename:
        if content_type in ("message/rfc822", "message/global"):
            extension = ".eml"
        else:
            extension = mimetypes.guess_extension(content_type) or ""
        filename = f"attachment-{len(result.attachments) + 1}{extension}"
    content_id = _first_id(_header_text(part, None, "content-id"))
    disposition = _disposition(part)
    result.attachments.append(
        ParsedAttachment(
            filename=filename,
            content_type=content_type,
            content=content,
            content_id=content_id,
            is_inline=disposition == "inline" or (bool(content_id) and disposition != "attachment"),
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
    name = _header_param(part, "content-disposition", "filename")
    if name is None:
        name = _header_param(part, "content-type", "name") or ""
    return safe_filename(clean_header_text(name))


def _header_param(part: Message, header: str, param: str) -> str | None:
    """A MIME parameter, decoded: RFC 2231 (continuations, charset), RFC 2047 in quotes, raw 8-bit.

    Read from the raw header, as compat32 would turn raw 8-bit bytes into U+FFFD
    and the standard decoders give up on unknown or lying charsets. Its raw
    8-bit bytes stay surrogates until the value is decoded, so that raw and
    percent-encoded bytes of one RFC 2231 value are read together.
    """
    raw = _raw_header(part, header)
    if raw is None:
        return None
    params = _PARAM.findall(";" + _FOLDING.sub("", raw[:MAX_PARSED_HEADER]).partition(";")[2])
    try:
        decoded = decode_params([("", ""), *((name.lower(), value.strip()) for name, value in params)])[1:]
    except Exception:  # hostile continuations: no parameters rather than a crash
        return None
    values = [value for name, value in decoded if name == param]
    # RFC 2231 form first: senders add a plain fallback beside it for old readers (RFC 6266).
    value = next((v for v in values if isinstance(v, tuple)), values[0] if values else None)
    if value is None:
        return None
    if isinstance(value, tuple):  # (charset, language, text whose characters are the percent-decoded bytes)
        charset, _language, text = value
        text = unquote(text)
        try:
            return decode_bytes(text.encode("latin-1", "surrogateescape"), charset)
        except UnicodeEncodeError:  # not from the parser: text already
            return text
    return decode_encoded_words(unquote(value))


def _transfer_encoding(part: Message) -> str:
    raw = _raw_header(part, "content-transfer-encoding") or ""
    match = re.match(r"\s*([\w-]+)", raw)
    return match.group(1).lower() if match else ""


def _raw_payload(part: Message):
    """The payload as parsed: a list of parts, or the body text with 8-bit bytes as surrogates.

    ``get_payload()`` is no substitute: on 8-bit content it decodes with the
    declared charset (and raises on some), so the bytes are no longer the ones sent.
    """
    return getattr(part, "_payload", None)


def _payload_bytes(part: Message, result: ParsedMessage) -> bytes:
    payload = _raw_payload(part)
    if not isinstance(payload, str):
        return b""
    if _transfer_encoding(part) == "base64":
        data, defects = _decode_base64(payload.encode("ascii", "surrogateescape"))
        result.defects += defects
        return data
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:  # undecodable transfer encoding: keep the raw text
        result.defects.append(f"undecodable part: {exc.__class__.__name__}")
        data = None
    if data is None:
        data = payload.encode("utf-8", "surrogateescape")
    return data


def _decode_base64(data: bytes) -> tuple[bytes, list[str]]:
    """Base64 decoded as far as it goes: junk skipped, padding repaired, a cut-off tail dropped.

    The standard library gives up on a body cut off mid-quantum and returns the
    encoded text as if it were the content. Concatenated encodings (padding in
    the middle) are decoded piece by piece. Linear, with one working copy, so a
    30 MB attachment stays affordable.
    """
    defects = []
    clean = data.translate(None, _NOT_BASE64)
    whitespace = sum(data.count(byte) for byte in (b" ", b"\t", b"\r", b"\n"))
    if len(data) - len(clean) != whitespace:
        defects.append("InvalidBase64CharactersDefect")
    view = memoryview(clean)
    decoded = []
    pos = 0
    while pos < len(clean):
        end = clean.find(b"=", pos)
        end = len(clean) if end < 0 else end
        whole = end - (end - pos) % 4
        decoded.append(binascii.a2b_base64(view[pos:whole]))
        tail = bytes(view[whole:end])
        if len(tail) == 1:
            defects.append("InvalidBase64LengthDefect")
        elif tail:
            decoded.append(binascii.a2b_base64(tail + b"=" * (4 - len(tail))))
        pos = end + 1
    return b"".join(decoded), defects


def _embedded_message_bytes(part: Message, raw_body: bytes | None) -> bytes:
    """A message/* part's content: the exact bytes it was sent with, when they can be located."""
    if raw_body is not None:
        encoding = _transfer_encoding(part)
        if encoding == "base64":
            return _decode_base64(raw_body)[0]
        if encoding == "quoted-printable":
            return binascii.a2b_qp(raw_body)
        return raw_body
    payload = _raw_payload(part)
    if isinstance(payload, list) and payload:  # regenerated: close to, but not exactly, the original
        try:
            return b"".join(
                inner.as_bytes(policy=policy.compat32) for inner in payload if isinstance(inner, EmailMessage | Message)
            )
        except Exception:
            return b""
    return payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""


# --- locating parts in the raw bytes -----------------------------------------------


def _raw_bodies(raw: bytes, msg: Message) -> dict[int, bytes]:
    """The exact body bytes of every part, found by re-splitting the raw message on its boundaries.

    The feed parser keeps no offsets, and regenerating a part changes its
    bytes (line endings, folding), which breaks the signatures of a forwarded
    message. This walks the same boundaries the parser did; a subtree where the
    two disagree is left out, and its parts fall back to regeneration.
    """
    bodies: dict[int, bytes] = {}
    stack = [(msg, raw)]
    while stack:
        part, data = stack.pop()
        body = data[_body_offset(data) :]
        bodies[id(part)] = body
        children = _children(part)
        content_type = _content_type(part)
        if content_type.startswith("message/"):
            if content_type == "message/rfc822" and len(children) == 1 and _starts_like(body, children[0]):
                stack.append((children[0], body))
            continue
        boundary = _boundary(part)
        if children and boundary:
            segments = _split_multipart(body, boundary)
            if len(segments) == len(children):
                stack.extend(zip(children, segments, strict=True))
    return bodies


def _body_offset(data: bytes, header_line: re.Pattern = _HEADER_LINE) -> int:
    """Where the body starts: after the first blank line, or at the first line that is not a header."""
    pos = 0
    while pos < len(data):
        line = _LINE.match(data, pos).group()
        if line in (b"\r\n", b"\n", b"\r"):
            return pos + len(line)
        if not header_line.match(line):
            return pos
        pos += len(line)
    return pos


def _split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """The parts between ``--boundary`` lines; the line break before a delimiter belongs to it."""
    try:
        separator = b"--" + boundary.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return []
    segments = []
    start = None
    pos = 0
    while (found := body.find(separator, pos)) >= 0:
        pos = found + 1
        if found and body[found - 1] not in b"\r\n":  # a delimiter starts a line
            continue
        tail = _DELIMITER_TAIL.match(body, found + len(separator))
        if tail is None:
            continue
        if start is not None:
            end = found
            end -= 2 if body[start:end].endswith(b"\r\n") else 1 if body[start:end].endswith((b"\n", b"\r")) else 0
            segments.append(body[start:end])
        if tail.group(1):  # the close delimiter
            return segments
        start = pos = tail.end()
    if start is not None:  # the close delimiter never came: the last part runs to the end
        segments.append(body[start:])
    return segments


def _boundary(part: Message) -> str | None:
    try:
        return part.get_boundary()
    except Exception:
        return None


def _starts_like(data: bytes, inner: Message) -> bool:
    """Whether ``data`` begins with the first header the parser found in ``inner``."""
    keys = inner.keys()
    if not keys:
        return True
    first = data[: len(keys[0]) + 1].decode("ascii", "surrogateescape")
    return first.lower() == f"{keys[0]}:".lower()
