"""HTML mail made safe to show: bleach with its CSS sanitizer.

Scripts, event handlers, forms, frames and anything not on the allow lists
are removed; links keep only http(s)/mailto; styles keep only harmless
properties. Remote images (a tracking pixel is one) are blocked unless the
reader asks for them: their ``src`` is dropped, and the original address is
kept in ``data-remote-src`` so a page can offer to load it.
"""

import bleach
from bleach.css_sanitizer import ALLOWED_CSS_PROPERTIES, CSSSanitizer
from bleach.html5lib_shim import Filter

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "center", "code", "col", "colgroup", "dd", "del",
        "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "li",
        "ol", "p", "pre", "q", "s", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody",
        "td", "tfoot", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
_COMMON = ["align", "class", "dir", "lang", "style", "title"]
_CELL = [*_COMMON, "bgcolor", "colspan", "height", "rowspan", "valign", "width"]
ALLOWED_ATTRIBUTES = {
    "*": _COMMON,
    "a": [*_COMMON, "href", "name"],
    "font": [*_COMMON, "color", "face", "size"],
    "img": [*_COMMON, "alt", "height", "src", "width", "data-remote-src"],
    "table": [*_COMMON, "bgcolor", "border", "cellpadding", "cellspacing", "width"],
    "td": _CELL,
    "th": _CELL,
    "tr": [*_COMMON, "bgcolor", "valign"],
    "col": [*_COMMON, "span", "width"],
    "ol": [*_COMMON, "start", "type"],
}
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto", "cid", "data"})
_CSS = CSSSanitizer(allowed_css_properties=ALLOWED_CSS_PROPERTIES)


def _is_remote(url: str) -> bool:
    return url.strip().lower().startswith(("http:", "https:", "//"))


def _is_inline_image(url: str) -> bool:
    url = url.strip().lower()
    return url.startswith("cid:") or url.startswith("data:image/")


def _attribute_allowed(tag: str, name: str, value: str) -> bool:
    if name not in ALLOWED_ATTRIBUTES.get(tag, []) + ALLOWED_ATTRIBUTES["*"]:
        return False
    if tag == "img" and name == "src":
        return _is_inline_image(value) or _is_remote(value)
    if tag == "img" and name == "data-remote-src":
        return False  # only ever set by _BlockRemoteImages, after sanitising
    if tag == "a" and name == "href":
        return not value.strip().lower().startswith("data:")
    return True


class _BlockRemoteImages(Filter):
    """Runs after the sanitiser: a remote image keeps its address in ``data-remote-src``, not ``src``."""

    def __iter__(self):
        for token in super().__iter__():
            if token["type"] in ("StartTag", "EmptyTag") and token["name"] == "img":
                src = token["data"].get((None, "src"))
                if src is not None and _is_remote(src):
                    data = dict(token["data"])
                    data[(None, "data-remote-src")] = data.pop((None, "src"))
                    token["data"] = data
            yield token


# Let through the sanitiser only so that _DropWithContent can remove them with their text.
DROPPED_WITH_CONTENT = frozenset(
    {"applet", "embed", "head", "iframe", "math", "noscript", "object", "script", "style", "svg", "template", "title"}
)


class _DropWithContent(Filter):
    """Removes script, style and the like together with their content (stripping keeps the text)."""

    def __iter__(self):
        depth = 0
        for token in super().__iter__():
            kind = token["type"]
            name = token.get("name")
            if name in DROPPED_WITH_CONTENT and kind in ("StartTag", "EndTag", "EmptyTag"):
                if kind == "StartTag":
                    depth += 1
                elif kind == "EndTag":
                    depth = max(depth - 1, 0)
                continue
            if depth == 0:
                yield token


def _cleaner(*, allow_remote_images: bool) -> bleach.Cleaner:
    return bleach.Cleaner(
        tags=ALLOWED_TAGS | DROPPED_WITH_CONTENT,
        attributes=_attribute_allowed,
        protocols=ALLOWED_PROTOCOLS,
        strip=True,
        strip_comments=True,
        css_sanitizer=_CSS,
        filters=[_DropWithContent] if allow_remote_images else [_DropWithContent, _BlockRemoteImages],
    )


def sanitize_html(html: str, *, allow_remote_images: bool = False) -> str:
    """HTML that is safe to put in a page: no script, no active content, remote images only if allowed."""
    if not html:
        return ""
    return _cleaner(allow_remote_images=allow_remote_images).clean(html)
