"""Signing in and out of the webmail.

Failed sign-ins are counted per address and per client address in the cache;
past ``SIGNIN_MAX_FAILURES`` within ``SIGNIN_THROTTLE_WINDOW`` seconds the
form refuses to check passwords until the window has passed (a shared cache
such as Redis makes the limit hold across web processes).
"""

import hashlib

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


def _keys(request, username: str) -> list[str]:
    ip = request.META.get("REMOTE_ADDR", "")
    name = hashlib.sha256((username or "").strip().lower().encode()).hexdigest()[:32]
    return [f"signin-fail:user:{name}", f"signin-fail:ip:{ip}"]


def is_throttled(request, username: str) -> bool:
    return any((cache.get(key) or 0) >= settings.SIGNIN_MAX_FAILURES for key in _keys(request, username))


def record_failure(request, username: str) -> None:
    for key in _keys(request, username):
        cache.add(key, 0, settings.SIGNIN_THROTTLE_WINDOW)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, settings.SIGNIN_THROTTLE_WINDOW)


class SignInForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("That address and password do not match."),
        "throttled": _("Too many failed sign-ins. Wait a few minutes and try again."),
    }

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        if is_throttled(self.request, username):
            raise ValidationError(self.error_messages["throttled"], code="throttled")
        try:
            return super().clean()
        except ValidationError:
            record_failure(self.request, username)
            raise


class SignInView(auth_views.LoginView):
    form_class = SignInForm
    template_name = "accounts/sign_in.html"
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.has_error("__all__", code="throttled"):
            response.status_code = 429
        return response


sign_in = SignInView.as_view()
sign_out = auth_views.LogoutView.as_view()
