"""Template context every webmail page needs."""

from django.conf import settings
from django.utils import timezone

from mailboxes.models import MailboxItem


def webmail(request) -> dict:
    """The message waiting in its undo window, if the user just sent one (shown once, as a toast)."""
    if not getattr(request, "user", None) or not request.user.is_authenticated or not hasattr(request, "session"):
        return {}
    item_id = request.session.pop("pending_send", None)
    if not item_id:
        return {}
    item = MailboxItem.objects.filter(user=request.user, pk=item_id, send_at__isnull=False).first()
    if item is None:
        return {}
    remaining = max(0, int((item.send_at - timezone.now()).total_seconds() + 0.999))
    return {"pending_send": {"item_id": item.pk, "seconds": remaining, "window": settings.WEBMAIL_UNDO_SECONDS}}
