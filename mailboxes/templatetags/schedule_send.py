"""The Schedule send menu's choices, for the compose form (whichever view renders it)."""

from django import template
from django.utils import timezone

from accounts.preferences import time_zone_of
from mailboxes.services.scheduled import schedule_options

register = template.Library()


@register.simple_tag(takes_context=True)
def schedule_send_menu(context) -> dict:
    """The presets and the picker's bounds, on the user's clock, and the name of their time zone."""
    from django.conf import settings

    zone = time_zone_of(context["request"].user)
    now = timezone.now().astimezone(zone)
    latest = now + timezone.timedelta(days=settings.SCHEDULE_SEND_MAX_DAYS)
    return {
        "zone": zone.key,
        "options": schedule_options(zone=zone, now=now),
        "min": now.strftime("%Y-%m-%dT%H:%M"),
        "max": latest.strftime("%Y-%m-%dT%H:%M"),
    }
