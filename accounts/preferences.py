"""A user's preferences (``accounts.models.Preferences``), with the defaults for a user who has none."""

import zoneinfo

from django.conf import settings

from accounts.models import Preferences


def preferences_of(user) -> Preferences:
    """The user's preferences; an unsaved row with the defaults when they never changed any."""
    try:
        return user.preferences
    except Preferences.DoesNotExist:
        return Preferences(user=user)


def time_zone_of(user) -> zoneinfo.ZoneInfo:
    """The user's time zone (the server's when unset or no longer known)."""
    name = preferences_of(user).time_zone or settings.TIME_ZONE
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)
