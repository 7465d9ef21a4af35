"""Header text as mail readers show it, where Python's ``email`` package reads it wrong.

- RFC 2047 encoded-words are decoded leniently: adjacent words are joined before
  decoding (the white space between them is not text, RFC 2047 §6.2, and a
  character may be split across them, in UTF-8 as in ISO-2022-JP or GB2312),
  raw 8-bit bytes inside a word (which the standard leaves as written) are
  decoded, a word missing its ``?=`` at the end of a token still counts, and
  unknown or lying charsets fall back as ``decode_bytes`` does.
- Address lists: the encoded-words are taken out before the standard parser
  splits the list (it puts spaces between adjacent words and breaks split
  characters) and decoded here.
- Attachment names: the last component of a path a sender's mailer left in,
  with what no file system or browser accepts made safe.

Everything here is linear in the length of its input and never raises.
"""

import binascii
import re
import unicodedata

from mailboxes.text import decode_bytes

# charset (an RFC 2231 language after "*" is dropped), encoding, payload, then "?=" — or, as readers forgive,
# nothing when a mailer forgot it on the last word of a header or of a display name.
ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)(?:\?=|(?=[ \t]*(?:$|<)))")
# Adjacent encoded-words, separated by linear white space only: one piece of text.
_ENCODED_WORD_RUN = re.compile(rf"{ENCODED_WORD.pattern}(?:[ \t]*{ENCODED_WORD.pattern})*")
_RAW_8BIT = re.compile(rb"([\x80-\xff]+)")
_UTF8_LABELS = frozenset(["utf-8", "utf8", "unicode-1-1-utf-8"])
_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NOT_BASE64 = bytes(b for b in range(256) if b not in _BASE64_ALPHABET and b != ord("="))
# Placeholders for encoded-word runs while the standard parser splits an address list: private-use
# characters, which the parser keeps as atom text and no mailer writes.
_MASK_OPEN, _MASK_CLOSE = "\ue000", "\ue001"
_MASK = re.compile(f"{_MASK_OPEN}([0-9]+){_MASK_CLOSE}")

MAX_FILENAME = 255
_PATH_SEPARATORS = re.compile(r"[/\\]")
_DRIVE = re.compile(r"^[A-Za-z]:")
# Refused by Windows in a file name; browsers replace them too.
_FILENAME_RESERVED = re.compile(r'[:*?"<>|]+')


def decode_encoded_words(text: str) -> str:
    """``text`` with its RFC 2047 words decoded and the text around them kept.

    ``text`` may hold raw 8-bit bytes as surrogates (as the compat32 parser
    keeps them) or as characters already decoded: outside the words they are
    read as UTF-8, else Windows-1252.
    """
    out: list[str] = []
    run: list[tuple[str, list[tuple[bytes, bool]]]] = []  # adjacent words: (charset, [(bytes, written raw)])
    pos = 0

    def flush() -> None:
        out.extend(_decode_run(charset, pieces) for charset, pieces in run)
        run.clear()

    for match in ENCODED_WORD.finditer(text):
        gap = text[pos : match.start()]
        pos = match.end()
        charset, encoding, payload = match.group(1).lower(), match.group(2).lower(), match.group(3)
        pieces = _word_pieces(encoding, payload)
        if not run or gap.strip():
            flush()
            out.append(_decoded_gap(gap))
        if run and run[-1][0] == charset:
            run[-1][1].extend(pieces)
        else:
            run.append((charset, pieces))
    flush()
    out.append(_decoded_gap(text[pos:]))
    return "".join(out)


def _decoded_gap(text: str) -> str:
    if text.isascii() or not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    return decode_bytes(_as_bytes(text), "utf-8")


def _as_bytes(text: str) -> bytes:
    """``text`` as UTF-8, its surrogates (raw bytes kept by the parser) given back as those bytes."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that stands for no byte
        return text.encode("utf-8", "replace")


def _word_pieces(encoding: str, payload: str) -> list[tuple[bytes, bool]]:
    """The bytes of one word's payload, as ``(bytes, written raw)`` pieces: raw 8-bit runs kept apart."""
    data = _as_bytes(payload)
    if encoding == "b":  # raw bytes are no base64: skipped, like any junk
        return [(_decode_base64(data), False)]
    if data.isascii():
        return [(_decode_q(data), False)]
    pieces = []
    for index, chunk in enumerate(_RAW_8BIT.split(data)):
        if index % 2:
            pieces.append((chunk, True))
        elif chunk:
            pieces.append((_decode_q(chunk), False))
    return pieces


def _decode_q(data: bytes) -> bytes:
    """RFC 2047 "Q": quoted-printable with "_" for a space; raw bytes pass through."""
    try:
        return binascii.a2b_qp(data, header=True)
    except (binascii.Error, ValueError):
        return data


def _decode_base64(data: bytes) -> bytes:
    """Base64 as far as it goes: junk skipped, padding repaired, a lone last character dropped.

    Padding in the middle ends one encoding and starts the next (concatenated words).
    """
    decoded = []
    for chunk in data.translate(None, _NOT_BASE64).split(b"="):
        chunk = chunk[: len(chunk) - 1] if len(chunk) % 4 == 1 else chunk
        if chunk:
            decoded.append(binascii.a2b_base64(chunk + b"=" * (-len(chunk) % 4)))
    return b"".join(decoded)


def _decode_run(charset: str, pieces: list[tuple[bytes, bool]]) -> str:
    """Adjacent words of one charset, decoded together (a character may be split between them).

    Bytes written raw inside a word were typed by the sender's mailer in its own
    charset, which need not be the one declared: UTF-8 when they are valid
    UTF-8, else the declared one (Windows-1252 if that is UTF-8).
    """
    data = b"".join(chunk for chunk, _raw in pieces)
    if not any(raw for _chunk, raw in pieces):
        return decode_bytes(data, charset)
    pieces = _merged(pieces)
    raw_chunks = [chunk for chunk, raw in pieces if raw]
    raw_is_utf8 = all(_is_utf8(chunk) for chunk in raw_chunks)
    declared_utf8 = charset in _UTF8_LABELS
    if raw_is_utf8 and _is_utf8(data):
        return data.decode("utf-8")
    if not raw_is_utf8 and not declared_utf8:  # raw bytes in the declared charset, like the escaped ones
        return decode_bytes(data, charset)
    raw_charset = "utf-8" if raw_is_utf8 else "cp1252"
    return "".join(decode_bytes(chunk, raw_charset if raw else charset) for chunk, raw in pieces)


def _merged(pieces: list[tuple[bytes, bool]]) -> list[tuple[bytes, bool]]:
    """Neighbouring pieces of one kind joined (a character may be split between them)."""
    groups: list[tuple[list[bytes], bool]] = []
    for chunk, raw in pieces:
        if groups and groups[-1][1] == raw:
            groups[-1][0].append(chunk)
        elif chunk:
            groups.append(([chunk], raw))
    return [(b"".join(chunks), raw) for chunks, raw in groups]


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# --- address lists ---------------------------------------------------------------------


def mask_encoded_words(value: str) -> tuple[str, list[str]]:
    """``value`` with each run of adjacent encoded-words replaced by a placeholder atom, and the runs.

    The standard address parser then splits the list without seeing the words
    (it would decode them its own way); ``unmask_name`` and ``unmask_address``
    put them back. A value that already holds the placeholder characters is
    returned unchanged, with no runs.
    """
    if "=?" not in value or _MASK_OPEN in value or _MASK_CLOSE in value:
        return value, []
    runs: list[str] = []

    def placeholder(match: re.Match) -> str:
        runs.append(match.group())
        return f"{_MASK_OPEN}{len(runs) - 1}{_MASK_CLOSE}"

    return _ENCODED_WORD_RUN.sub(placeholder, value), runs


def unmask_name(text: str, runs: list[str]) -> str:
    """A display name with its encoded-word runs decoded."""
    if not runs or _MASK_OPEN not in text:
        return text
    return _MASK.sub(lambda m: decode_encoded_words(_run(runs, m)), text)


def unmask_address(text: str, runs: list[str]) -> str:
    """An address with its encoded-word-like text put back as written (addresses are not decoded)."""
    if not runs or _MASK_OPEN not in text:
        return text
    return _MASK.sub(lambda m: _run(runs, m), text)


def _run(runs: list[str], match: re.Match) -> str:
    index = int(match.group(1))
    return runs[index] if index < len(runs) else ""


# --- attachment names ----------------------------------------------------------------


def safe_filename(name: str) -> str:
    """An attachment name a user can save: the file name a sender's path ends in, readable characters kept.

    ``C:\\TEMP\\report.doc`` and ``/home/ann/report.doc`` become ``report.doc``;
    control characters are dropped, runs of white space made one space, the
    characters Windows refuses made "_", leading dots (hidden files, ``..``)
    and trailing dots and spaces dropped, and an overlong name is cut in its
    middle so that its extension stays.
    ``name`` is decoded text (no surrogates); "" if nothing readable is left.
    """
    # Control characters go; format characters stay (joiners are part of emoji and of Persian words, and
    # the virus scanner looks for a right-to-left override).
    name = "".join(ch for ch in name if ch == "\t" or unicodedata.category(ch) != "Cc")
    components = [c for c in _PATH_SEPARATORS.split(name) if c.strip(" .")]
    name = components[-1] if components else ""
    name = _DRIVE.sub("", name)
    name = _FILENAME_RESERVED.sub("_", name)
    name = " ".join(name.split()).lstrip(" .").rstrip(" .")
    if len(name) > MAX_FILENAME:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 16 and stem:
            name = stem[: MAX_FILENAME - len(extension) - 1].rstrip(" .") + "." + extension
        else:
            name = name[:MAX_FILENAME].rstrip(" .")
    return name
