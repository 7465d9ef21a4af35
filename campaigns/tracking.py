"""Open and click tracking of a campaign's mail: signed redirect links and an open pixel on our own domain.

``instrument`` rewrites a recipient's rendered HTML: every http(s) link of an
``<a>`` or ``<area>`` (not mailto:, not an anchor, not the unsubscribe link)
becomes ``/t/c/<token>?u=<the link>``, and with ``opens`` a 1×1 pixel
``/t/o/<token>.gif`` closes the body. The renderer calls it only for a
recipient whose ``CampaignRecipient.tracked`` is true (the campaign tracks and
the contact consented); everyone else gets the HTML as rendered.

The redirect must answer without reading the database, so its link carries
everything: the token is the campaign recipient's id, the link's position in
the message and an HMAC (``django.core.signing``, salt of its own) over those
and the target URL, which travels in clear in ``u``. A URL that was not in
the message has no signature: the redirect refuses it, so the endpoint is no
open redirect. Tokens are about fifty characters whatever the URL's length.

The HTML is parsed with lxml (a C parser, as inscriptis uses) and written
back with its HTML serializer: the input is css-inline's output, already a
serialized html5ever document, so what comes back is the same markup with
the links changed. Python's ``html.parser`` would keep the bytes exactly but
costs five times as much (``bench/tracking.py``).
"""

import re
from dataclasses import dataclass
from urllib.parse import quote

import lxml.html
from django.conf import settings
from django.core import signing
from django.urls import reverse
from lxml import etree

_DOCTYPE = re.compile(r"\s*<!doctype[^>]*>\s*", re.IGNORECASE)
_CLICK_SALT = "campaigns.tracking.click"
_OPEN_SALT = "campaigns.tracking.open"
_SEP = "."
_LINK_TAGS = ("a", "area")
_PIXEL_STYLE = "display:block;width:1px;height:1px;border:0;margin:0;padding:0"


class BadTrackingToken(Exception):
    """The token (or the URL given with it) was not signed here: changed, made up, or another message's."""


@dataclass(frozen=True)
class Click:
    campaign_recipient_id: int
    link: int  # the link's position among the message's tracked links, from 0
    url: str


def _click_signer() -> signing.Signer:
    return signing.Signer(salt=_CLICK_SALT, sep=_SEP)


def _open_signer() -> signing.Signer:
    return signing.Signer(salt=_OPEN_SALT, sep=_SEP)


def _base_url() -> str:
    return settings.WEBMAIL_BASE_URL.rstrip("/")


def click_url(*, campaign_recipient_id: int, link: int, url: str) -> str:
    """The signed redirect to ``url``, the ``link``-th tracked link of that recipient's message."""
    head = f"{signing.b62_encode(campaign_recipient_id)}{_SEP}{signing.b62_encode(link)}"
    signature = _click_signer().signature(f"{head}{_SEP}{url}")
    return f"{_base_url()}{reverse('track_click', args=[f'{head}{_SEP}{signature}'])}?u={quote(url, safe='/:')}"


def read_click(token: str, url: str) -> Click:
    """What a click link says, if ``url`` is the one signed with ``token``; else ``BadTrackingToken``."""
    try:
        recipient_part, link_part, signature = token.split(_SEP)
        _click_signer().unsign(f"{recipient_part}{_SEP}{link_part}{_SEP}{url}{_SEP}{signature}")
        return Click(signing.b62_decode(recipient_part), signing.b62_decode(link_part), url)
    except (ValueError, signing.BadSignature) as exc:
        raise BadTrackingToken(str(exc)) from exc


def open_url(*, campaign_recipient_id: int) -> str:
    token = _open_signer().sign(signing.b62_encode(campaign_recipient_id))
    return f"{_base_url()}{reverse('track_open', args=[token])}"


def read_open(token: str) -> int:
    """The campaign recipient id of a pixel's token; ``BadTrackingToken`` if it was not signed here."""
    try:
        return signing.b62_decode(_open_signer().unsign(token))
    except (ValueError, signing.BadSignature) as exc:
        raise BadTrackingToken(str(exc)) from exc


def _trackable(href: str, unsubscribe_prefix: str) -> bool:
    scheme = href[:8].lower()
    return (scheme.startswith("https://") or scheme.startswith("http://")) and not href.startswith(unsubscribe_prefix)


def instrument(html: str, *, campaign_recipient, opens: bool, clicks: bool) -> str:
    """``html`` with its http(s) links turned into click redirects (``clicks``) and an open pixel added (``opens``).

    Left alone: mailto: and other schemes, in-page anchors, and the
    unsubscribe link (a person leaving is recorded as an unsubscribe, and a
    redirect in front of it would only make it look less trustworthy).
    """
    if not (opens or clicks):
        return html
    document = lxml.html.document_fromstring(html)
    if clicks:
        unsubscribe_prefix = _base_url() + reverse("unsubscribe", args=["token"]).removesuffix("token/")
        position = 0
        for element in document.iter(_LINK_TAGS):
            href = (element.get("href") or "").strip()
            if _trackable(href, unsubscribe_prefix):
                element.set("href", click_url(campaign_recipient_id=campaign_recipient.pk, link=position, url=href))
                position += 1
    if opens:
        body = document.find("body")
        if body is None:
            body = etree.SubElement(document, "body")
        pixel = etree.SubElement(body, "img")
        for name, value in (
            ("src", open_url(campaign_recipient_id=campaign_recipient.pk)),
            ("width", "1"), ("height", "1"), ("alt", ""), ("style", _PIXEL_STYLE),
        ):  # fmt: skip
            pixel.set(name, value)
    # The element, not its tree: lxml would add an HTML 4 doctype to a document that had none.
    doctype = _DOCTYPE.match(html)
    instrumented = (doctype.group(0) if doctype else "") + etree.tostring(document, method="html", encoding="unicode")
    # A MIME part gives its content back with a final newline (``rendering._mime_body``): keep it.
    return instrumented + "\n" if html.endswith("\n") and not instrumented.endswith("\n") else instrumented
