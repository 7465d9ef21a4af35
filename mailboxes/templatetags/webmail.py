from django import template
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext_lazy as _

from mailboxes.dates import full_date, short_date

register = template.Library()


@register.filter
def ago(value):
    """Short relative time for lists: "3 hours", "2 days" (one unit only)."""
    if not value:
        return ""
    if (timezone.now() - value).total_seconds() < 60:
        return _("just now")
    return timesince(value, timezone.now(), depth=1)


@register.filter(expects_localtime=False)
def mail_date(value):
    """Short date for lists and messages: "14:05" today, "3 Dec" this year, "3 Dec 2025" before."""
    return short_date(value)


@register.filter(expects_localtime=False)
def mail_date_full(value):
    """The full date-time, for the ``title`` of a short one."""
    return full_date(value)


_STATUS_LABELS = {
    "queued": _("Queued"),
    "sending": _("Sending"),
    "sent": _("Sent"),
    "delivered": _("Delivered"),
    "deferred": _("Deferred"),
    "bounced": _("Bounced"),
    "suppressed": _("Suppressed"),
    "failed": _("Failed"),
}


@register.filter
def delivery_status(value):
    """A recipient's delivery status in the reader's language."""
    return _STATUS_LABELS.get(value, value)


@register.filter
def undo_url(message) -> str:
    """The "Undo" address a flash message carries (``extra_tags="undo:<url>"``, see mailboxes.views.undo)."""
    for tag in (getattr(message, "extra_tags", "") or "").split():
        if tag.startswith("undo:/"):
            return tag.removeprefix("undo:")
    return ""
