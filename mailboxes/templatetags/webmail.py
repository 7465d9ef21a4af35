from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def ago(value):
    """Short relative time for lists: "3 hours", "2 days" (one unit only)."""
    if not value:
        return ""
    return timesince(value, timezone.now(), depth=1)
