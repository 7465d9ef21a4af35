"""Making the HTML of a received message safe to show.

bleach keeps a list of harmless tags and attributes and drops the rest
(scripts, event handlers, forms, ``javascript:`` links); its CSS sanitiser
keeps only listed properties of inline styles, and any declaration that
fetches something (``url(...)``, ``image-set``, ``expression``) is removed
afterwards. Remote images are replaced by nothing until the reader asks for
them; images the message carries itself (``cid:``) point at our own signed
attachment links. The result is shown in a sandboxed frame with its own
Content-Security-Policy, so even a sanitiser bug runs no script and loads
nothing remote.
"""

import html as html_lib
import re
from collections.abc import Callable
from functools import partial

import bleach
from bleach.css_sanitizer import CSSSanitizer
from bleach.linkifier import LinkifyFilter
from django.utils.html import escape

ALLOWED_TAGS = frozenset(
    [
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "caption",
        "center",
        "code",
        "col",
        "colgroup",
        "dd",
        "del",
        "div",
        "dl",
        "dt",
        "em",
        "font",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "ins",
        "kbd",
        "li",
        "ol",
        "p",
        "pre",
        "q",
        "s",
        "small",
        "span",
        "strike",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "tt",
        "u",
        "ul",
    ]
)
_COMMON = ["align", "dir", "lang", "style", "title", "class"]
ALLOWED_ATTRIBUTES = {
    "*": _COMMON,
    "a": [*_COMMON, "href", "name"],
    "img": [*_COMMON, "src", "alt", "width", "height"],
    "font": [*_COMMON, "color", "face", "size"],
    "table": [*_COMMON, "border", "cellpadding", "cellspacing", "width", "bgcolor"],
    "td": [*_COMMON, "colspan", "rowspan", "width", "valign", "bgcolor", "nowrap"],
    "th": [*_COMMON, "colspan", "rowspan", "width", "valign", "bgcolor", "nowrap"],
    "tr": [*_COMMON, "valign", "bgcolor"],
    "col": [*_COMMON, "span", "width"],
    "colgroup": [*_COMMON, "span", "width"],
    "ol": [*_COMMON, "start", "type"],
    "li": [*_COMMON, "value"],
}
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto", "cid"})
ALLOWED_CSS = frozenset(
    [
        "color",
        "background-color",
        "font",
        "font-family",
        "font-size",
        "font-style",
        "font-weight",
        "font-variant",
        "text-align",
        "text-decoration",
        "text-transform",
        "text-indent",
        "line-height",
        "letter-spacing",
        "word-spacing",
        "white-space",
        "vertical-align",
        "direction",
        "border",
        "border-top",
        "border-right",
        "border-bottom",
        "border-left",
        "border-color",
        "border-style",
        "border-width",
        "border-collapse",
        "border-spacing",
        "border-radius",
        "margin",
        "margin-top",
        "margin-right",
        "margin-bottom",
        "margin-left",
        "padding",
        "padding-top",
        "padding-right",
        "padding-bottom",
        "padding-left",
        "width",
        "height",
        "max-width",
        "min-width",
        "max-height",
        "min-height",
        "display",
        "list-style-type",
        "table-layout",
    ]
)
_CSS_SANITIZER = CSSSanitizer(allowed_css_properties=ALLOWED_CSS)
# Any declaration that could fetch or evaluate something.
_FETCHING_CSS = re.compile(r"url\s*\(|image-set|expression\s*\(|@import|\\", re.IGNORECASE)
_CONTENT_TAGS_TO_DROP = re.compile(
    r"<(script|style|title|head|template|noscript|iframe|object|embed|svg|math|xml)\b.*?</\1\s*>",
    re.IGNORECASE | re.DOTALL,
)


_STYLE_ATTR = re.compile(r'\sstyle="([^"]*)"')
_IMG_TAG = re.compile(r"<img\b[^>]*>")
_SRC_ATTR = re.compile(r'\ssrc="([^"]*)"')


def _clean_style(match: re.Match) -> str:
    kept = [d.strip() for d in match.group(1).split(";") if d.strip() and not _FETCHING_CSS.search(d)]
    return f' style="{"; ".join(kept)}"' if kept else ""


def _link_attrs(attrs, new=False):
    href = attrs.get((None, "href"), "")
    if href.lower().startswith(("http:", "https:", "mailto:")):
        attrs[(None, "target")] = "_blank"
        attrs[(None, "rel")] = "noopener noreferrer nofollow"
    else:
        attrs.pop((None, "href"), None)
    return attrs


def sanitize_html(
    html: str, *, allow_remote_images: bool = False, cid_url: Callable[[str], str | None] | None = None
) -> tuple[str, bool]:
    """Safe HTML for the message frame, and whether remote images were held back.

    ``cid_url`` maps a Content-ID to the URL of that inline part (or None).
    """
    blocked = False

    def allow_attribute(tag, name, value):
        nonlocal blocked
        if name not in ALLOWED_ATTRIBUTES.get(tag, ()) and name not in ALLOWED_ATTRIBUTES["*"]:
            return False
        if tag == "img" and name == "src":
            lowered = value.strip().lower()
            if lowered.startswith(("http:", "https:")):
                blocked = blocked or not allow_remote_images
                return allow_remote_images
            return lowered.startswith("cid:") and cid_url is not None
        return True

    # bleach keeps the text of the tags it strips; the text of these would be code or noise.
    html = _CONTENT_TAGS_TO_DROP.sub("", html or "")
    cleaner = bleach.Cleaner(
        tags=ALLOWED_TAGS,
        attributes=allow_attribute,
        protocols=ALLOWED_PROTOCOLS,
        css_sanitizer=_CSS_SANITIZER,
        strip=True,
        strip_comments=True,
        filters=[partial(LinkifyFilter, callbacks=[_link_attrs], parse_email=False, skip_tags={"pre", "code"})],
    )
    cleaned = cleaner.clean(html)
    cleaned = _STYLE_ATTR.sub(_clean_style, cleaned)

    def rewrite_img(match: re.Match) -> str:
        def rewrite_src(src: re.Match) -> str:
            value = src.group(1)
            if value.lower().startswith("cid:"):
                url = cid_url(bleach_unescape(value[4:])) if cid_url else None
                return f' src="{escape(url)}"' if url else ""
            return src.group(0)

        return _SRC_ATTR.sub(rewrite_src, match.group(0))

    cleaned = _IMG_TAG.sub(rewrite_img, cleaned)
    return cleaned, blocked


def bleach_unescape(value: str) -> str:
    return html_lib.unescape(value)
