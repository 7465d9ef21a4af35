"""Per-request activation of the signed-in user's time zone (dates on pages, "send tomorrow 8:00")."""

from django.utils import timezone

from accounts.preferences import time_zone_of


class UserTimeZoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            timezone.activate(time_zone_of(user))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class UserSessionMiddleware:
    """Keeps the signed-in user's ``UserSession`` row (the sessions list) current, writing at most every few minutes."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from accounts.security import touch_session  # the models are not ready when middleware is imported

        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            touch_session(request)
        return self.get_response(request)
