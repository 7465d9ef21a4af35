"""Turning message content into plain text: HTML to text, snippets, charset decoding."""

import codecs
import re
from html.parser import HTMLParser

# Labels that mail commonly lies with: decode with the superset that real
# senders actually use (what browsers do per the WHATWG Encoding Standard).
_CHARSET_SUPERSETS = {
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
}


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Text from bytes whose declared charset may be missing, unknown or wrong.

    Never raises: tries the declared charset (or its common superset), then
    UTF-8, then Windows-1252, which maps every byte.
    """
    candidates = []
    if charset:
        label = charset.strip().strip("\"'").lower()
        candidates.append(_CHARSET_SUPERSETS.get(label, label))
    candidates += ["utf-8", "cp1252"]
    for name in candidates:
        try:
            codecs.lookup(name)
            return data.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("utf-8", errors="replace")


def clean_header_text(value: str) -> str:
    """Header text without raw 8-bit bytes (kept by the parser as surrogates) or control characters."""
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        value = decode_bytes(value.encode("utf-8", "surrogateescape"), "utf-8")
    value = re.sub(r"\r?\n[ \t]", " ", value)
    value = value.replace("\r", " ").replace("\n", " ").replace("\t", " ")
    return "".join(ch for ch in value if ch >= " " and not "\ud800" <= ch <= "\udfff").strip()


class _TextExtractor(HTMLParser):
    _SKIP = {"script", "style", "head", "title", "template", "noscript"}
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

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIP:
            self.skip_depth += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self._SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skip_depth:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except Exception:  # malformed markup must never stop ingestion
        return re.sub(r"<[^>]*>", " ", html)
    text = "".join(extractor.parts)
    text = re.sub(r"[ \t\xa0]+", " ", text)
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()


def make_snippet(text: str, length: int = 200) -> str:
    """The first words a reader sees: quoted replies and signatures dropped, whitespace folded."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(">"):
            continue
        if stripped == "--":  # signature separator
            break
        lines.append(stripped)
    folded = " ".join(" ".join(lines).split())
    folded = "".join(ch for ch in folded if ch.isprintable())
    if len(folded) <= length:
        return folded
    return folded[: length - 1].rstrip() + "…"
