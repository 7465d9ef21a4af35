"""Schedule send: the menu beside Send, the Scheduled list, and Cancel send."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.preferences import time_zone_of
from mailboxes.services.scheduled import cancel_scheduled, parse_local_time, schedule_draft, scheduled_items
from mailboxes.views.common import sidebar_context, user_errors
from mailboxes.views.compose import _form_again, _posted, _save
from webmail.errors import UserError


@login_required
@require_POST
def schedule(request):
    """Save the compose form as a draft and have it sent at the chosen time (a preset or "Pick date & time")."""
    data = _posted(request)
    zone = time_zone_of(request.user)
    try:
        # A preset button posts its time in ``send_at``; the picker's own button posts ``custom``.
        value = request.POST.get("send_at_custom") if request.POST.get("custom") else request.POST.get("send_at")
        send_at = parse_local_time(value or "", zone=zone)
        item = _save(request, data)
        data["draft_id"] = item.pk
        schedule_draft(user=request.user, draft_id=item.pk, send_at=send_at)
    except UserError as exc:
        return _form_again(request, data, exc, exc.status)
    when = formats.date_format(timezone.localtime(send_at, zone), "DATETIME_FORMAT")
    messages.success(request, _("Scheduled for %(when)s (%(zone)s).") % {"when": when, "zone": zone.key})
    return redirect("mailboxes:scheduled")


@login_required
@require_GET
def scheduled(request):
    zone = time_zone_of(request.user)
    return render(
        request,
        "mailboxes/scheduled.html",
        {
            **sidebar_context(request.user),
            "view": "scheduled",
            "title": _("Scheduled"),
            "items": scheduled_items(user=request.user),
            "zone": zone.key,
        },
    )


@login_required
@require_POST
@user_errors(fallback="mailboxes:scheduled")
def cancel(request, item_id: int):
    item = cancel_scheduled(user=request.user, draft_id=item_id)
    messages.info(request, _("Scheduled send cancelled. Your message is back in Drafts."))
    return redirect(f"{reverse('mailboxes:compose')}?draft={item.pk}")
