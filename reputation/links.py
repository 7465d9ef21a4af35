"""Links in outbound mail: finding them, and the shipped patterns of links that hide where they go.

Pure (no database): ``reputation.services.content`` adds the admins' blocklist.

- URL shorteners: a short link's destination is whatever its owner sets it to
  later, the favourite wrapper of spam and phishing links; providers score
  them, and a sending platform cannot vouch for them.
- Open redirects: a link on a reputable site that forwards to any URL given in
  its query (``google.com/url?q=…``, ``…/redirect?url=…``) borrows that site's
  reputation for the real destination, which is what the check looks at.
"""

import html as html_lib
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from inbound.filters.bayes import registrable_domain

URL_SHORTENERS = frozenset(
    {
        "bit.ly", "bitly.com", "j.mp", "tinyurl.com", "goo.gl", "ow.ly", "is.gd", "v.gd", "buff.ly", "rebrand.ly",
        "cutt.ly", "shorturl.at", "t.ly", "tiny.cc", "rb.gy", "t.co", "lnkd.in", "s.id", "bl.ink", "tr.im",
        "x.co", "qr.ae", "adf.ly", "shorte.st", "bc.vc", "soo.gd", "clck.ru", "u.to", "2.gy", "shorturl.com",
        "tiny.one", "urlz.fr", "short.gy", "snip.ly", "trib.al", "dlvr.it", "ift.tt", "fb.me",
        "surl.li", "t2m.io", "zpr.io", "1url.com", "po.st", "mcaf.ee", "su.pr", "qrco.de", "link.tl",
    }
)  # fmt: skip

# Query parameters that carry the destination of a redirect.
REDIRECT_PARAMETERS = frozenset(
    {
        "url", "u", "q", "redirect", "redirect_url", "redirect_uri", "redirecturl", "redir", "next", "target",
        "dest", "destination", "goto", "link", "out", "continue", "return", "returnurl", "return_to", "r", "to",
        "forward", "go", "jump", "location", "navigate",
    }
)  # fmt: skip
# A destination written into the path: /out/https://…, /redirect/http%3A%2F%2F…
_URL_IN_PATH = re.compile(r"(?i)/(?:https?:/{1,2}|https?%3a%2f%2f)")
_SCHEME_SLASHES = re.compile(r"(?i)^(https?):/+")
_URL = re.compile(r"""(?i)\bhttps?://[^\s<>"'`]{1,2000}""")
_TRAILING = ".,;:!?)]}'\""
MAX_LINKS = 500


def links_in(*parts: str) -> list[str]:
    """The http(s) links in text and HTML (entities decoded), each once, in order of appearance."""
    found = []
    for part in parts:
        if part:
            found += [match.rstrip(_TRAILING) for match in _URL.findall(html_lib.unescape(part))]
    return list(dict.fromkeys(found))[:MAX_LINKS]


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return ""


def parents(host: str) -> list[str]:
    """``a.b.example`` → ``["a.b.example", "b.example", "example"]``: what a blocklist entry may name."""
    labels = host.split(".")
    return [".".join(labels[index:]) for index in range(len(labels))]


def is_shortener(host: str) -> bool:
    return any(name in URL_SHORTENERS for name in parents(host))


@dataclass(frozen=True)
class Redirect:
    link: str
    host: str
    target: str  # the destination URL carried by the link
    target_host: str


def redirect_of(url: str) -> Redirect | None:
    """The destination a link forwards to, when it carries another site's URL in its query or path."""
    host = host_of(url)
    if not host:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    candidates = [value for name, value in parse_qsl(parts.query, keep_blank_values=False)
                  if name.lower() in REDIRECT_PARAMETERS]  # fmt: skip
    path = unquote(parts.path)
    if _URL_IN_PATH.search(parts.path):
        candidates.append(_SCHEME_SLASHES.sub(r"\1://", path[path.lower().find("http") :]))
    for candidate in candidates:
        candidate = unquote(candidate).strip()
        if not candidate.lower().startswith(("http://", "https://", "//")):
            continue
        target_host = host_of(candidate if not candidate.startswith("//") else "http:" + candidate)
        if target_host and registrable_domain(target_host) != registrable_domain(host):
            return Redirect(link=url, host=host, target=candidate, target_host=target_host)
    return None
