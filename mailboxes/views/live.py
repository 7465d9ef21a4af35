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
