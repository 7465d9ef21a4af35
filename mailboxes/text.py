"""Turning message content into plain text: HTML to text, snippets, charset decoding."""

import codecs
import functools
import html as html_lib
import re

# Labels that mail commonly lies with: decode with the superset that real
# senders actually use (what browsers do per the WHATWG Encoding Standard).
# Keys are labels as written and the names Python's codec registry gives them.
_CHARSET_SUPERSETS = {
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "euc_kr": "cp949",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "iso-2022-jp": "x-cp50221",
    "iso2022_jp": "x-cp50221",
    "csiso2022jp": "x-cp50221",
    "utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
}
# Codecs Python knows that are not charsets a message can be written in: they
# raise on any input, or turn escape sequences or IDNA labels into text.
_NOT_CHARSETS = {"undefined", "unicode-escape", "raw-unicode-escape", "idna", "punycode"}
_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_ESCAPED_BYTE = re.compile("[\ud800-\udc7f\udd00-\udfff]")


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Text from bytes whose declared charset may be missing, unknown or wrong.

    Never raises and never returns lone surrogates: tries the declared charset
    (or its common superset), then UTF-8, then the declared charset with
    replacement characters, then Windows-1252.
    """
    codec = _codec(charset)
    if codec:
        text = _decode(data, codec)
        if text is not None:
            return text
        if data.isascii() and codec != "utf-8":
            # A 7-bit charset (ISO-2022-JP, UTF-7) with one bad sequence: read
            # as UTF-8 it would be all escape sequences, so keep its reading.
            text = _decode(data, codec, errors="replace")
            if text is not None:
                return _SURROGATE.sub("\ufffd", text)
    text = _decode(data, "utf-8")
    if text is not None:
        return text
    if codec and codec != "utf-8":
        text = _decode(data, codec, errors="replace")
        if text is not None:
            return _SURROGATE.sub("\ufffd", text)
    # Five bytes are unassigned in Windows-1252; they become U+FFFD.
    return data.decode("cp1252", errors="replace")


@functools.lru_cache(maxsize=512)  # a message names few charsets, over and over (one per encoded-word)
def _codec(charset: str | None) -> str | None:
    """The codec to read a declared charset with, or None if it is unknown or not a text charset."""
    if not charset:
        return None
    label = charset.strip().strip("\"'").lower()
    label = _CHARSET_SUPERSETS.get(label, label)
    if label in _DECODERS:
        return label
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError, TypeError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return None
    return _CHARSET_SUPERSETS.get(info.name, info.name)


def _decode(data: bytes, codec: str, errors: str = "strict") -> str | None:
    try:
        decoder = _DECODERS.get(codec)
        text = decoder(data, errors) if decoder else data.decode(codec, errors)
    except (LookupError, ValueError, TypeError):  # UnicodeError is a ValueError
        return None
    if errors == "strict" and _SURROGATE.search(text):  # UTF-7 and friends can produce lone surrogates
        return None
    return text


_JIS_ESCAPE = re.compile(rb"\x1b(\(B|\(J|\(I|\$@|\$B|\$\(B|\$\(D)")


def _decode_cp50221(data: bytes, errors: str = "strict") -> str:
    """ISO-2022-JP as Windows and most Japanese mailers write it (CP50221).

    Python's iso2022_jp codec rejects the NEC and IBM extensions (circled
    digits such as ①, Roman numerals) and half-width katakana, which are
    common in real mail; this maps JIS X 0208 to Shift_JIS and reads it with
    CP932, which has them all.
    """
    out = []
    mode = b"(B"
    for index, piece in enumerate(_JIS_ESCAPE.split(data)):
        if index % 2:  # an escape sequence: switch mode
            mode = piece
        elif mode in (b"$@", b"$B", b"$(B"):  # JIS X 0208, with the NEC rows
            out.append(_convert_pairs(piece, _jis_to_sjis).decode("cp932", errors))
        elif mode == b"$(D":  # JIS X 0212, as EUC-JP writes it
            out.append(_convert_pairs(piece, _jis_to_euc_jp_0212).decode("euc_jp", errors))
        elif mode == b"(I":  # half-width katakana
            out.append(bytes(b + 0x80 if 0x21 <= b <= 0x5F else b for b in piece).decode("cp932", errors))
        else:  # ASCII and JIS-Roman
            out.append(piece.decode("ascii", errors))
    return "".join(out)


def _convert_pairs(piece: bytes, convert) -> bytes:
    """Two-byte JIS characters converted one by one; line breaks and stray bytes pass through."""
    out = bytearray()
    index = 0
    while index < len(piece):
        j1 = piece[index]
        if 0x21 <= j1 <= 0x7E and index + 1 < len(piece) and 0x21 <= piece[index + 1] <= 0x7E:
            out += convert(j1, piece[index + 1])
            index += 2
        else:
            out.append(j1)
            index += 1
    return bytes(out)


def _jis_to_euc_jp_0212(j1: int, j2: int) -> bytes:
    return bytes((0x8F, j1 | 0x80, j2 | 0x80))


def _jis_to_sjis(j1: int, j2: int) -> bytes:
    s1 = (j1 + 1) // 2 + (0x70 if j1 <= 0x5E else 0xB0)
    s2 = (j2 + 0x1F + (j2 >= 0x60)) if j1 % 2 else j2 + 0x7E
    return bytes((s1, s2))


_DECODERS = {"x-cp50221": _decode_cp50221}


def clean_header_text(value: str) -> str:
    """Header text without raw 8-bit bytes (kept by the parser as surrogates) or control characters."""
    if value.isascii() and value.isprintable():  # the common case, where every step below changes nothing
        return value.strip()
    value = _NOT_ESCAPED_BYTE.sub("", value)  # only U+DC80-U+DCFF stand for bytes
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        value = decode_bytes(value.encode("utf-8", "surrogateescape"), "utf-8")
    value = re.sub(r"\r?\n[ \t]", " ", value)
    value = value.replace("\r", " ").replace("\n", " ").replace("\t", " ")
    return "".join(ch for ch in value if ch >= " " and not "\ud800" <= ch <= "\udfff").strip()


# --- HTML to text ------------------------------------------------------------------
#
# A small linear-time tokenizer rather than html.parser: that one backtracks
# badly on hostile markup ("<a <a <a …" takes minutes for a few hundred KB),
# and every received HTML-only message goes through here for its snippet.

_SKIP = {"head", "template", "noscript"}  # not displayed
_RAW_TEXT = {"script", "style", "title", "textarea", "xmp"}  # content is not markup; all are skipped
_BLOCK = {
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "tr",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "hr",
    "section",
    "article",
    "header",
    "footer",
}
_TAG_NAME = re.compile(r"</?([a-zA-Z][^\s/>]*)")
_TAG_REST = re.compile(r"[^>\"']*")
_RAW_TEXT_END = {name: re.compile(rf"</{name}[\s/>]", re.IGNORECASE) for name in _RAW_TEXT}
_COLLAPSIBLE = re.compile(r"[ \t\r\n\f]+")


def html_to_text(html: str) -> str:
    """The text a reader would see, with block elements on their own lines."""
    parts: list[str] = []
    skip_depth = pre_depth = 0
    pos, end = 0, len(html)

    def add_text(chunk: str) -> None:
        if skip_depth or not chunk:
            return
        text = html_lib.unescape(chunk)
        parts.append(text if pre_depth else _COLLAPSIBLE.sub(" ", text))

    while pos < end:
        lt = html.find("<", pos)
        if lt < 0:
            add_text(html[pos:])
            break
        add_text(html[pos:lt])
        if html.startswith("<!--", lt):
            close = html.find("-->", lt + 4)
            pos = end if close < 0 else close + 3
            continue
        match = _TAG_NAME.match(html, lt)
        if match is None:
            if html.startswith(("<!", "</", "<?"), lt):  # doctype, CDATA, bogus comment
                close = html.find(">", lt)
                pos = end if close < 0 else close + 1
            else:  # a lone "<" is text
                add_text("<")
                pos = lt + 1
            continue
        tag_end = _tag_end(html, match.end())
        if tag_end < 0:  # a tag cut off by the end of the document is dropped
            break
        pos = tag_end
        name = match.group(1).lower()
        closing = html[lt + 1] == "/"
        if not closing and name in _RAW_TEXT:
            close_match = _RAW_TEXT_END[name].search(html, pos)
            pos = end if close_match is None else _tag_end(html, close_match.end() - 1)
            if pos < 0:
                break
            continue
        if name == "body":  # browsers close an unterminated <head> here
            skip_depth = 0
        elif name in _SKIP:
            skip_depth = max(0, skip_depth - 1) if closing else skip_depth + 1
        if name == "pre":
            pre_depth = max(0, pre_depth - 1) if closing else pre_depth + 1
        if name in _BLOCK and not skip_depth:
            parts.append("\n")
    text = "".join(parts)
    text = re.sub(r"[ \t\xa0]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _tag_end(html: str, pos: int) -> int:
    """The index after the ">" closing a tag whose attributes start at ``pos``, or -1."""
    while True:
        pos = _TAG_REST.match(html, pos).end()
        if pos >= len(html):
            return -1
        if html[pos] == ">":
            return pos + 1
        close = html.find(html[pos], pos + 1)  # a quoted attribute value
        if close < 0:
            return -1
        pos = close + 1


def make_snippet(text: str, length: int = 200) -> str:
    """The first words a reader sees: quoted replies and signatures dropped, whitespace folded.

    Reads only as many lines as it needs, so a huge body costs little.
    """
    pieces: list[str] = []
    size = 0
    for match in re.finditer(r"[^\r\n]+", text):
        stripped = match.group().strip()
        if stripped.startswith(">"):
            continue
        if stripped == "--":  # signature separator
            break
        if not stripped.isprintable():  # a character at a time only when some are not
            stripped = "".join(ch for ch in stripped if ch.isprintable() or ch.isspace())
        piece = " ".join(stripped.split())
        if piece:
            pieces.append(piece)
            size += len(piece) + 1
            if size > length:
                break
    folded = " ".join(pieces)
    if len(folded) <= length:
        return folded
    return folded[: length - 1].rstrip() + "…"
