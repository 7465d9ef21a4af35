"""Settings sections owned by the accounts app besides API tokens: General (time zone, language,
density, reading pane), and the language switcher in the header, which keeps the preference in step."""

import zoneinfo
from functools import cache

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST
from django.views.i18n import set_language as django_set_language

from accounts.models import Preferences
from accounts.preferences import preferences_of
from accounts.services import update_preferences
from accounts.settings_sections import settings_context
from webmail.errors import UserError


@cache
def _time_zone_choices() -> list[tuple[str, str]]:
    names = sorted(n for n in zoneinfo.available_timezones() if "/" in n and not n.startswith(("Etc/", "SystemV/")))
    return [(n, n.replace("_", " ")) for n in [*names, "UTC"]]


class GeneralForm(forms.Form):
    time_zone = forms.ChoiceField(label=gettext_lazy("Time zone"), required=False)
    language = forms.ChoiceField(label=gettext_lazy("Language"), required=False)
    density = forms.ChoiceField(
        label=gettext_lazy("Display density"),
        widget=forms.RadioSelect,
        choices=[
            (Preferences.Density.COMFORTABLE, gettext_lazy("Comfortable")),
            (Preferences.Density.COMPACT, gettext_lazy("Compact")),
        ],
    )
    reading_pane = forms.ChoiceField(
        label=gettext_lazy("Reading pane"),
        widget=forms.RadioSelect,
        choices=[
            (Preferences.ReadingPane.OFF, gettext_lazy("No split: a conversation opens in place of the list")),
            (Preferences.ReadingPane.RIGHT, gettext_lazy("Right of the list (on wide screens)")),
        ],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        server_zone = _("Server's time zone (%(zone)s)") % {"zone": settings.TIME_ZONE}
        self.fields["time_zone"].choices = [("", server_zone), *_time_zone_choices()]
        self.fields["language"].choices = [("", _("The browser's language")), *settings.LANGUAGES]


def _render(request, form, status=200):
    context = {**settings_context(request.user, "general"), "form": form, "server_time_zone": settings.TIME_ZONE}
    return render(request, "accounts/settings/general.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def general(request):
    current = preferences_of(request.user)
    if request.method == "GET":
        initial = {f: getattr(current, f) for f in ("time_zone", "language", "density", "reading_pane")}
        return _render(request, GeneralForm(initial=initial))
    form = GeneralForm(request.POST)
    if not form.is_valid():
        return _render(request, form, status=400)
    try:
        saved = update_preferences(user=request.user, **form.cleaned_data)
    except UserError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return _render(request, form, status=400)
    language = saved.language or translation.get_language()
    with translation.override(language):  # the confirmation in the language just chosen
        messages.success(request, _("Settings saved."))
    response = HttpResponseRedirect(reverse("accounts:settings_general"))
    if saved.language:
        _set_language_cookie(response, saved.language)
    return response


def _set_language_cookie(response, language: str) -> None:
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


@require_POST
def set_language(request):
    """The header's language menu: Django's cookie, and for a signed-in user the saved preference
    too (which wins over the cookie on their next pages: see accounts.middleware)."""
    response = django_set_language(request)
    language = request.POST.get("language", "")
    if request.user.is_authenticated and language in dict(settings.LANGUAGES):
        update_preferences(user=request.user, language=language)
    return response
