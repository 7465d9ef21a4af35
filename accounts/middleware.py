"""Per-request activation of the signed-in user's time zone (dates on pages, "send tomorrow 8:00") and language."""

from django.utils import timezone, translation

from accounts.preferences import preferences_of, time_zone_of


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


class UserLanguageMiddleware:
    """The signed-in user's chosen language (Preferences.language) wins over the cookie and the
    browser's, so that it follows them to every device; empty leaves Django's LocaleMiddleware choice."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            language = preferences_of(user).language
            if language and translation.check_for_language(language):
                translation.activate(language)
                request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)
