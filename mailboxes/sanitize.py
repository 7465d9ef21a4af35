"""HTML mail made safe to show: one sanitiser for the webmail and the REST API.

bleach keeps the listed tags and attributes and drops the rest (scripts,
event handlers, forms, frames, ``<base>``, ``<meta>``); script, style and the
like go together with their text. Links keep only http(s) and mailto and open
in a new tab without a referrer; bare addresses in the text become links.
Inline styles keep only listed properties, and a declaration that could fetch
or evaluate something (``url()``, ``image-set``, ``expression()``, escapes) is
removed whatever its property. Images: remote ones (a tracking pixel is one)
are dropped, address and all, unless the reader asked for them; ``cid:``
images point at the URL ``cid_url`` gives for that part, or are dropped; any
other source (``data:``, relative) is dropped.

For display (``keep_styles=True``: the message frame and the REST API, never the composer,
where a style would restyle the whole page) ``<style>`` blocks stay, rebuilt from what tinycss2
parsed: qualified rules and ``@media`` only (no ``@import``, ``@font-face``, ``@keyframes``…),
the same properties as inline styles plus a few newsletters use, no function but colours and
arithmetic (so no ``url()``, ``image()``, ``expression()``, whatever escapes spell them), no
``position`` (nothing fixed or sticky, no z-index games). Rules aimed at ``html``, ``body``,
``:root`` or ``*`` keep only how the page looks, not whether it shows (no display, height,
overflow), so a message cannot hide itself entirely; see docs/HTML-MAIL.md.

The webmail still shows the result in a sandboxed frame with its own
Content-Security-Policy, so even a sanitiser bug runs no script and loads
nothing remote.
"""

import re
from collections.abc import Callable
from functools import partial
from typing import NamedTuple
from urllib.parse import unquote

import bleach
import tinycss2
from bleach.css_sanitizer import CSSSanitizer
from bleach.html5lib_shim import Filter
from bleach.linkifier import LinkifyFilter

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "center", "code", "col", "colgroup", "dd", "del",
        "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd",
        "li", "ol", "p", "pre", "q", "s", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody",
        "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul",
    }
)  # fmt: skip
_COMMON = ["align", "class", "dir", "lang", "style", "title"]
_CELL = [*_COMMON, "bgcolor", "colspan", "height", "nowrap", "rowspan", "valign", "width"]
ALLOWED_ATTRIBUTES = {
    "*": _COMMON,
    "a": [*_COMMON, "href", "name"],
    "font": [*_COMMON, "color", "face", "size"],
    "img": [*_COMMON, "alt", "height", "src", "width"],
    "table": [*_COMMON, "bgcolor", "border", "cellpadding", "cellspacing", "width"],
    "td": _CELL,
    "th": _CELL,
    "tr": [*_COMMON, "bgcolor", "valign"],
    "col": [*_COMMON, "span", "width"],
    "colgroup": [*_COMMON, "span", "width"],
    "ol": [*_COMMON, "start", "type"],
    "li": [*_COMMON, "value"],
}
# cid: only for <img>, where _Images rewrites it; a link keeps http(s) and mailto only (_link_attrs).
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto", "cid"})
# Visual properties only: no position (a message could cover the page), no cursor (it can fetch an
# image), no unicode-bidi (text that reads differently than it is), none of CSS2's aural properties.
ALLOWED_CSS = frozenset(
    {
        "background-color", "border", "border-bottom", "border-bottom-color", "border-collapse", "border-color",
        "border-left", "border-left-color", "border-radius", "border-right", "border-right-color",
        "border-spacing", "border-style", "border-top", "border-top-color", "border-width", "clear", "color",
        "direction", "display", "float", "font", "font-family", "font-size", "font-style", "font-variant",
        "font-weight", "height", "letter-spacing", "line-height", "list-style-type", "margin", "margin-bottom",
        "margin-left", "margin-right", "margin-top", "max-height", "max-width", "min-height", "min-width",
        "overflow", "padding", "padding-bottom", "padding-left", "padding-right", "padding-top", "table-layout",
        "text-align", "text-decoration", "text-indent", "text-transform", "vertical-align", "white-space",
        "width", "word-spacing",
    }
)  # fmt: skip
# Let through the sanitiser only so that _DropWithContent can remove them with their text
# (stripping a tag keeps its text, and the text of these is code or noise).
DROPPED_WITH_CONTENT = frozenset(
    {
        "applet", "embed", "head", "iframe", "math", "noscript", "object", "script", "style", "svg", "template",
        "title", "xml",
    }
)  # fmt: skip
# Any declaration that could fetch or evaluate something, whatever its property.
_FETCHING_CSS = re.compile(r"url\s*\(|image-set|expression\s*\(|@import|\\", re.IGNORECASE)


# Stylesheets (keep_styles) also keep these, harmless once no value can fetch anything.
STYLESHEET_CSS = ALLOWED_CSS | frozenset(
    {
        "background", "border-bottom-style", "border-bottom-width", "border-left-style", "border-left-width",
        "border-right-style", "border-right-width", "border-top-style", "border-top-width", "box-sizing",
        "list-style", "text-decoration-color", "text-decoration-line", "-ms-text-size-adjust", "text-size-adjust",
        "-webkit-text-size-adjust",
    }
)  # fmt: skip
# What a rule aimed at the whole document may not set: it could hide the message entirely.
_HIDING_CSS = frozenset({"display", "height", "max-height", "overflow"})
_SHRINKING_CSS = frozenset({"font", "font-size", "line-height"})  # hiding when zero
# The only functions a kept declaration may call: none of them can fetch or run anything.
_CSS_FUNCTIONS = frozenset({"rgb", "rgba", "hsl", "hsla", "calc", "min", "max", "clamp"})
# A type or universal selector for the whole document (html, body, :root, *), anywhere in the selector.
_DOCUMENT_SELECTOR = re.compile(r"(?:^|[\s,>+~(])(?:html|body|\*)(?![\w-])|:root", re.IGNORECASE)
# @media preludes: media types, features and numbers (``only screen and (max-width: 600px)``).
_MEDIA_QUERY = re.compile(r"^[a-z0-9\s(),:.\-/]*$", re.IGNORECASE)
_MAX_STYLESHEET = 256 * 1024


class SafeHtml(NamedTuple):
    html: str
    remote_images_blocked: bool


class _StrictCSSSanitizer(CSSSanitizer):
    """bleach's CSS sanitiser checks property names only; this one also drops declarations that fetch."""

    def sanitize_css(self, style: str) -> str:
        kept = []
        for token in tinycss2.parse_declaration_list(style, skip_comments=True, skip_whitespace=True):
            if token.type == "declaration" and token.lower_name in self.allowed_css_properties:
                declaration = token.serialize().strip()
                if not _FETCHING_CSS.search(declaration):
                    kept.append(declaration)
        return "; ".join(kept)


_CSS = _StrictCSSSanitizer(allowed_css_properties=ALLOWED_CSS, allowed_svg_properties=frozenset())


def _value_is_safe(tokens) -> bool:
    """No url, no function but colours and arithmetic, no ``<`` (it could close the style element)."""
    for token in tokens:
        if token.type in ("url", "error") or (token.type == "literal" and token.value == "<"):
            return False
        if token.type == "function":
            if token.lower_name not in _CSS_FUNCTIONS or not _value_is_safe(token.arguments):
                return False
        elif token.type in ("() block", "[] block", "{} block") and not _value_is_safe(token.content):
            return False
    return True


def _has_error(tokens) -> bool:  # an unterminated string or block: its end would swallow what follows
    for token in tokens:
        if token.type == "error":
            return True
        if token.type == "function" and _has_error(token.arguments):
            return True
        if token.type in ("() block", "[] block", "{} block") and _has_error(token.content):
            return True
    return False


def _is_zero(tokens) -> bool:
    return any(token.type in ("number", "dimension", "percentage") and token.value == 0 for token in tokens)


def _declarations(content, *, whole_document: bool) -> str:
    kept = []
    for token in tinycss2.parse_blocks_contents(content or [], skip_comments=True, skip_whitespace=True):
        if token.type != "declaration" or token.lower_name not in STYLESHEET_CSS:
            continue
        if whole_document and (
            token.lower_name in _HIDING_CSS or (token.lower_name in _SHRINKING_CSS and _is_zero(token.value))
        ):
            continue
        declaration = token.serialize().strip()
        if _value_is_safe(token.value) and not _FETCHING_CSS.search(declaration) and "<" not in declaration:
            kept.append(declaration)
    return "; ".join(kept)


def _rules(rules, *, depth: int = 0) -> list[str]:
    kept = []
    for rule in rules:
        if rule.type == "qualified-rule":
            selector = tinycss2.serialize(rule.prelude).strip()
            if (
                not selector
                or "\\" in selector
                or "<" in selector
                or "url(" in selector.lower()
                or _has_error(rule.prelude)
            ):
                continue
            declarations = _declarations(rule.content, whole_document=bool(_DOCUMENT_SELECTOR.search(selector)))
            if declarations:
                kept.append(f"{selector} {{ {declarations} }}")
        elif rule.type == "at-rule" and rule.lower_at_keyword == "media" and rule.content is not None and depth < 2:
            query = tinycss2.serialize(rule.prelude).strip()
            inner = _rules(
                tinycss2.parse_rule_list(rule.content, skip_comments=True, skip_whitespace=True), depth=depth + 1
            )
            if inner and _MEDIA_QUERY.match(query) and _value_is_safe(rule.prelude) and not _has_error(rule.prelude):
                kept.append(f"@media {query} {{ {' '.join(inner)} }}")
        # Any other at-rule (@import, @font-face, @keyframes, @namespace, @charset…) goes.
    return kept


def sanitize_stylesheet(css: str) -> str:
    """The rules of a ``<style>`` block that are safe to keep, rebuilt (see the module's docstring)."""
    rules = tinycss2.parse_stylesheet(css[:_MAX_STYLESHEET], skip_comments=True, skip_whitespace=True)
    kept = "\n".join(_rules(rules))
    # Belt and braces: nothing kept may close the element it goes back into.
    return "" if "<" in kept else kept


def _is_remote(url: str) -> bool:
    return url.strip().lower().startswith(("http:", "https:", "//"))


def _attribute_allowed(tag: str, name: str, value: str, *, ids: bool = False) -> bool:
    if name == "id":  # only in a document of its own, where it can clash with nothing (stylesheets use them)
        return ids
    if name not in ALLOWED_ATTRIBUTES.get(tag, ()) and name not in ALLOWED_ATTRIBUTES["*"]:
        return False
    if tag == "img" and name == "src":
        return _is_remote(value) or value.strip().lower().startswith("cid:")
    return True


class _DropWithContent(Filter):
    """Removes script, style and the like together with their content.

    With ``styles`` (a list), the text of each ``<style>`` outside those elements goes there instead.
    """

    def __init__(self, source, *, styles: list | None = None):
        super().__init__(source)
        self.styles = styles

    def __iter__(self):
        depth = 0
        collecting = None
        for token in super().__iter__():
            if collecting is not None:
                if token["type"] == "EndTag" and token["name"] == "style":
                    self.styles.append("".join(collecting))
                    collecting = None
                elif token["type"] in ("Characters", "SpaceCharacters"):
                    collecting.append(token["data"])
                elif token["type"] == "Entity":  # bleach splits "&…;" out of text; CSS meant it literally
                    collecting.append(f"&{token['data']};")
                continue
            if depth == 0 and self.styles is not None and token["type"] == "StartTag" and token["name"] == "style":
                collecting = []
                continue
            if token.get("name") in DROPPED_WITH_CONTENT and token["type"] in ("StartTag", "EndTag", "EmptyTag"):
                if token["type"] == "StartTag":
                    depth += 1
                elif token["type"] == "EndTag":
                    depth = max(depth - 1, 0)
                continue
            if depth == 0:
                yield token


class _Images(Filter):
    """Runs after the sanitiser: decides every ``<img src>`` and notes whether a remote one was held back."""

    def __init__(self, source, *, allow_remote: bool, cid_url, report: dict):
        super().__init__(source)
        self.allow_remote, self.cid_url, self.report = allow_remote, cid_url, report

    def _src(self, value: str) -> str | None:
        if _is_remote(value):
            if not self.allow_remote:
                self.report["blocked"] = True
                return None
            return value
        if value.strip().lower().startswith("cid:") and self.cid_url is not None:
            return self.cid_url(unquote(value.strip()[4:]))  # RFC 2392: the Content-ID is URL-encoded
        return None

    def __iter__(self):
        for token in super().__iter__():
            if token["type"] in ("StartTag", "EmptyTag") and token["name"] == "img":
                data = dict(token["data"])
                src = data.pop((None, "src"), None)
                new = self._src(src) if src is not None else None
                if new:
                    data[(None, "src")] = new
                token["data"] = data
            yield token


def _link_attrs(attrs, new=False):
    href = attrs.get((None, "href"), "")
    if href.strip().lower().startswith(("http:", "https:", "mailto:")):
        attrs[(None, "target")] = "_blank"
        attrs[(None, "rel")] = "noopener noreferrer nofollow"
    else:
        attrs.pop((None, "href"), None)
    return attrs


def inline_image_urls(attachments, url_for: Callable) -> Callable[[str], str | None]:
    """A ``cid_url`` for ``sanitize_html``: each attachment's Content-ID (with or without its
    angle brackets) to ``url_for(attachment)``; any other Content-ID to None (the image is dropped)."""
    by_cid = {a.content_id.strip("<>"): a for a in attachments if a.content_id}

    def cid_url(content_id: str) -> str | None:
        attachment = by_cid.get(content_id.strip("<>"))
        return url_for(attachment) if attachment is not None else None

    return cid_url


def sanitize_html(
    html: str,
    *,
    allow_remote_images: bool = False,
    cid_url: Callable[[str], str | None] | None = None,
    keep_styles: bool = False,
) -> SafeHtml:
    """HTML that is safe to show, and whether remote images were held back.

    ``cid_url`` maps the Content-ID of a ``cid:`` image to the URL of that part (or None);
    without it such images are dropped. ``keep_styles`` keeps the message's ``<style>`` blocks,
    sanitised, as one ``<style>`` element at the start: only for HTML shown on its own (a frame).
    """
    if not html:
        return SafeHtml("", False)
    report = {"blocked": False}
    styles: list[str] | None = [] if keep_styles else None
    cleaner = bleach.Cleaner(
        tags=ALLOWED_TAGS | DROPPED_WITH_CONTENT,
        attributes=partial(_attribute_allowed, ids=keep_styles),
        protocols=ALLOWED_PROTOCOLS,
        css_sanitizer=_CSS,
        strip=True,
        strip_comments=True,
        filters=[
            partial(_DropWithContent, styles=styles),
            partial(_Images, allow_remote=allow_remote_images, cid_url=cid_url, report=report),
            partial(LinkifyFilter, callbacks=[_link_attrs], parse_email=False, skip_tags={"pre", "code"}),
        ],
    )
    cleaned = cleaner.clean(html)
    stylesheet = sanitize_stylesheet("\n".join(styles)) if styles else ""
    if stylesheet:
        cleaned = f"<style>{stylesheet}</style>{cleaned}"
    return SafeHtml(cleaned, report["blocked"])
