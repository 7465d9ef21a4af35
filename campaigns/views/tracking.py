"""The tracking endpoints in a campaign's mail: the open pixel and the click redirect (public, no sign-in).

Both answer from the link alone, without reading the database, and leave the
writing to a worker (``campaigns.services.tracking.dispatch_hit``): a person
clicking is sent on at once, however busy the database is.
"""

import base64

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods

from campaigns.services.tracking import CLICK, OPEN, Hit, dispatch_hit
from campaigns.tracking import BadTrackingToken, read_click, read_open
from webmail.clients import client_address

# The smallest transparent GIF: 1×1, one transparent colour.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _hit(request, *, kind: str, campaign_recipient_id: int, url: str = "", link: int | None = None) -> Hit:
    return Hit(
        kind=kind, campaign_recipient_id=campaign_recipient_id, at=timezone.now().isoformat(),
        user_agent=request.headers.get("User-Agent", ""), ip=client_address(request) or None,
        method=request.method, url=url, link=link,
    )  # fmt: skip


@require_http_methods(["GET", "HEAD"])
def open_pixel(request, token: str):
    """The 1×1 GIF; never cached, so that each opening of the mail asks again."""
    try:
        campaign_recipient_id = read_open(token)
    except BadTrackingToken:
        return render(request, "campaigns/tracking/invalid.html", status=404)
    dispatch_hit(_hit(request, kind=OPEN, campaign_recipient_id=campaign_recipient_id))
    response = HttpResponse(PIXEL, content_type="image/gif")
    add_never_cache_headers(response)
    return response


@require_http_methods(["GET", "HEAD"])
def click_redirect(request, token: str):
    """302 to the link's URL, if the link was signed for this message; a made-up or changed one is refused."""
    try:
        click = read_click(token, request.GET.get("u", ""))
    except BadTrackingToken:
        return render(request, "campaigns/tracking/invalid.html", status=404)
    dispatch_hit(_hit(request, kind=CLICK, campaign_recipient_id=click.campaign_recipient_id, url=click.url,
                      link=click.link))  # fmt: skip
    response = HttpResponseRedirect(click.url)
    add_never_cache_headers(response)
    return response
