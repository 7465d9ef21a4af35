"""Template context every webmail page needs."""

from django.conf import settings
from django.utils import timezone

from mailboxes.models import MailboxItem


def webmail(request) -> dict:
    """The user's message waiting in its undo window, if any (shown as a toast with Undo on every page,
    so that leaving the page that sent it neither loses the Undo nor leaves the message unsent)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    # How long the toasts of archive, trash… show "Undo", and how long ``z`` still undoes (undo.js).
    context = {
        "action_undo": {
            "seconds": settings.WEBMAIL_ACTION_UNDO_SECONDS,
            "toast_seconds": settings.WEBMAIL_UNDO_TOAST_SECONDS,
        }
    }
    item = (
        MailboxItem.objects.filter(user=user, send_at__isnull=False, send_scheduled=False).order_by("send_at").first()
    )
    if item is None:
        return context
    remaining = max(0, int((item.send_at - timezone.now()).total_seconds() + 0.999))
    return {
        **context,
        "pending_send": {"item_id": item.pk, "seconds": remaining, "window": settings.WEBMAIL_UNDO_SECONDS},
    }
