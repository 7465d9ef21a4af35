"""New mail without reloading: pushed as server-sent events, and the page polls for its counts (htmx) as a fallback."""

import json

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from mailboxes import push, selectors
from mailboxes.views.common import sidebar_context


@login_required
@require_GET
def poll(request):
    """The sidebar with fresh unread counts, and an event telling the page whether new mail came."""
    raw_since = request.GET.get("since", "").strip()
    since = 0 if raw_since == "0" else selectors.parse_pk(raw_since)
    context = sidebar_context(request.user)
    latest = context["latest_change"]
    response = render(request, "mailboxes/_sidebar.html", context)
    response["HX-Trigger"] = json.dumps(
        {
            "mail:counts": {
                "unread": context["inbox_unread"],
                "latest": latest,
                "new": since is not None and latest > since,
            }
        }
    )
    return response


@login_required
@require_GET
async def events(request):
    """New mail as server-sent events (mailboxes.push); the poll above remains the fallback.

    Only an ASGI server can hold many streams open; under WSGI (runserver, a WSGI gunicorn)
    the answer is 204, which tells EventSource not to reconnect, so the page keeps polling.
    """
    if not isinstance(request, ASGIRequest):
        return HttpResponse(status=204)
    user = await request.auser()
    cursor = push.parse_cursor(request.headers.get("Last-Event-ID", ""))
    raw_since = request.GET.get("since", "").strip()
    since = 0 if raw_since == "0" else selectors.parse_pk(raw_since)
    stream = push.event_stream(user_id=user.pk, cursor=cursor, since=since)
    response = StreamingHttpResponse(_without_the_requests_connection(stream), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx would otherwise hold the events back in its buffer
    return response


async def _without_the_requests_connection(stream):
    """The stream, once the request's database connection is given back.

    The middleware queried on the request's thread, and may still write after the view has
    returned (the session's save, when "last seen" was refreshed). Django closes that connection
    only when the response ends: minutes for a stream, and with a pool of ten connections per
    process ten such streams would starve every other request. The first step of the iteration
    runs after the middleware, on the same thread (thread-sensitive, in the request's context),
    so it can close it; the stream's own reads borrow pooled connections briefly (mailboxes.push).
    """
    await sync_to_async(connections.close_all)()
    try:
        async for part in stream:
            yield part
    finally:
        await stream.aclose()  # its subscription ends with it, whenever the page goes away
