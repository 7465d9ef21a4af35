"""New mail without reloading: the page polls for its counts (htmx) and refreshes what changed."""

import json

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from mailboxes import selectors
from mailboxes.views.common import sidebar_context


@login_required
@require_GET
def poll(request):
    """The sidebar with fresh unread counts, and an event telling the page whether new mail came."""
    since = selectors.parse_pk(request.GET.get("since")) or 0
    latest = selectors.latest_change_id(user=request.user)
    context = sidebar_context(request.user)
    response = render(request, "mailboxes/_sidebar.html", {**context, "latest_change": latest})
    response["HX-Trigger"] = json.dumps(
        {"mail:counts": {"unread": context["inbox_unread"], "latest": latest, "new": bool(since and latest > since)}}
    )
    return response
