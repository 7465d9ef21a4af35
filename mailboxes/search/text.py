"""Turning text into search terms, the same way for what is indexed and what is asked.

Latin text is folded (NFKD, combining marks dropped, case-folded), so
``Crème`` finds ``creme`` and the other way round. CJK text has no spaces
between words, so a run of CJK characters is indexed as its overlapping
character bigrams plus its last character on its own: a word of two or more
characters is then found as a phrase of bigrams anywhere in a sentence, and a
single character as a prefix. Every backend receives terms made here, so the
databases and Elasticsearch agree on what matches.
"""

import html
import re
import unicodedata
from functools import lru_cache

# Han, kana, Hangul (syllables and the jamo NFKD decomposes them into), CJK compatibility ideographs.
CJK_CHARACTERS = "\u1100-\u11ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002fa1f"
_CJK_RUN = re.compile(f"[{CJK_CHARACTERS}]+")
_WORD = re.compile(r"[^\W_]+")
MAX_TERM_LENGTH = 100  # longer "words" (base64 junk, URLs' hashes) are not worth indexing
MAX_INDEXED_CHARS = 100_000
SNIPPET_LENGTH = 200
_SNIPPET_SCAN_CHARS = 20_000


def fold(text: str) -> str:
    """Compatibility-decomposed, without combining marks, case-folded."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _split_cjk(word: str):
    """The word's pieces, each (text, is_cjk), in order."""
    pos = 0
    for match in _CJK_RUN.finditer(word):
        if match.start() > pos:
            yield word[pos : match.start()], False
        yield match.group(), True
        pos = match.end()
    if pos < len(word):
        yield word[pos:], False


def _pieces(text: str):
    for match in _WORD.finditer(fold(text)):
        word = match.group()
        if word.isascii() or not _CJK_RUN.search(word):
            yield word, False
        else:
            yield from _split_cjk(word)


def index_terms(text: str) -> list[str]:
    """The terms of ``text`` in order, as stored in the index."""
    text = text[:MAX_INDEXED_CHARS]
    if text.isascii():  # most mail: no folding beyond lower case, no CJK (the indexer's hottest loop)
        return [word for word in _WORD.findall(text.lower()) if len(word) <= MAX_TERM_LENGTH]
    terms: list[str] = []
    for piece, is_cjk in _pieces(text):
        if is_cjk:
            terms.extend(piece[i : i + 2] for i in range(len(piece) - 1))
            terms.append(piece[-1])
        elif len(piece) <= MAX_TERM_LENGTH:
            terms.append(piece)
    return terms


def query_terms(text: str) -> tuple[list[str], bool]:
    """The terms to look for, to be matched as a phrase, and whether the last is a prefix.

    A lone CJK character is a prefix (it starts a bigram, or ends its run);
    longer CJK words become their bigrams, which the index holds in order.
    """
    terms: list[str] = []
    prefix = False
    for piece, is_cjk in _pieces(text):
        prefix = False
        if is_cjk and len(piece) == 1:
            terms.append(piece)
            prefix = True
        elif is_cjk:
            terms.extend(piece[i : i + 2] for i in range(len(piece) - 1))
        else:
            terms.append(piece[:MAX_TERM_LENGTH])
    return terms, prefix


def has_terms(text: str) -> bool:
    return _WORD.search(text) is not None


# --- Snippets ----------------------------------------------------------------


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    return fold(ch)


def _folded_with_offsets(text: str) -> tuple[str, list[int]]:
    """``fold(text)`` and, for each folded character, the offset of the character it came from."""
    if text.isascii():
        return text.lower(), list(range(len(text)))
    out: list[str] = []
    offsets: list[int] = []
    for i, ch in enumerate(text):
        folded = _fold_char(ch)
        out.append(folded)
        offsets.extend([i] * len(folded))
    return "".join(out), offsets


def _term_pattern(term: str, prefix: bool) -> str:
    escaped = re.escape(term)
    if _CJK_RUN.fullmatch(term):
        return escaped
    return rf"(?<![^\W_]){escaped}" + (r"[^\W_]*" if prefix else r"(?![^\W_])")


def highlight(text: str, terms: list[tuple[str, bool]], length: int = SNIPPET_LENGTH) -> str:
    """An HTML-safe excerpt of ``text`` around the first match, every match in it wrapped in ``<mark>``.

    ``terms`` are (term, is_prefix) pairs as made by ``query_terms``. Without a
    match in ``text`` the excerpt is its beginning.
    """
    text = " ".join(text[:_SNIPPET_SCAN_CHARS].split())
    if not text:
        return ""
    spans: list[tuple[int, int]] = []
    if terms:
        folded, offsets = _folded_with_offsets(text)
        pattern = "|".join(_term_pattern(t, p) for t, p in sorted(terms, key=lambda tp: -len(tp[0])))
        for match in re.finditer(pattern, folded):
            if match.end() > match.start():
                spans.append((offsets[match.start()], offsets[match.end() - 1] + 1))
    start = 0
    if spans:
        start = max(0, spans[0][0] - length // 4)
        if start:  # begin on a word boundary
            space = text.rfind(" ", 0, start)
            start = space + 1 if space != -1 and start - space < 20 else start
    end = min(len(text), start + length)
    pieces = ["…"] if start else []
    pos = start
    for span_start, span_end in spans:
        if span_start < pos or span_start >= end:
            continue
        span_end = min(span_end, end)
        pieces.append(html.escape(text[pos:span_start]))
        pieces.append(f"<mark>{html.escape(text[span_start:span_end])}</mark>")
        pos = span_end
    pieces.append(html.escape(text[pos:end]))
    if end < len(text):
        pieces.append("…")
    return "".join(pieces)
