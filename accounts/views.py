"""Signing in and out of the webmail, and the user's settings page (API tokens).

Past its limits on failed sign-ins (accounts/signin.py) the form refuses to
check passwords until the window has passed, with a 429.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from accounts import two_factor
from accounts.security import forget_session
from accounts.selectors import api_tokens_of
from accounts.services import create_api_token, revoke_api_token
from accounts.settings_sections import settings_context
from accounts.signin import SignInAttempt, remember_device
from mailboxes.views.common import redirect_after_post, user_errors
from reputation.services.compromise import record_sign_in
from webmail.clients import client_address
from webmail.errors import UserError


class SignInForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": gettext_lazy("That address and password do not match."),
        "throttled": gettext_lazy("Too many failed sign-ins. Wait a few minutes and try again."),
    }

    def clean(self):
        attempt = SignInAttempt.of(self.request, self.cleaned_data.get("username") or "")
        if attempt.is_throttled():
            raise ValidationError(self.error_messages["throttled"], code="throttled")
        try:
            return super().clean()
        except ValidationError:
            attempt.record_failure()
            raise


def locked_out_context(request, address: str = "") -> dict:
    """What the sign-in pages say about being locked out: how long to wait, and whom to ask."""
    seconds = SignInAttempt.of(request, address).retry_after() if address else 0
    return {"retry_minutes": -(-seconds // 60), "admin_contact": settings.ADMIN_CONTACT}


def complete_sign_in(request, user, *, backend: str, address: str, redirect_to: str):
    """The last step of a sign-in (the password, or the code after it): the session is signed in from here.

    ``login`` sends ``user_logged_in``, whose receiver adds the session to the user's list (accounts/apps.py).
    """
    login(request, user, backend=backend)
    response = HttpResponseRedirect(redirect_to)
    remember_device(request, response, address)
    # The network it came from: a sign-in from a new one followed by mass sending is a sign of a hijack.
    record_sign_in(user=user, client=client_address(request))
    return response


class SignInView(auth_views.LoginView):
    form_class = SignInForm
    template_name = "accounts/sign_in.html"
    redirect_authenticated_user = True

    def form_valid(self, form):
        user = form.get_user()
        address = form.cleaned_data["username"]
        if two_factor.is_enabled(user):
            # Not signed in yet: the session only remembers whose code to ask for, for a few minutes.
            from accounts.security_views import start_second_step

            return start_second_step(self.request, user, address=address, redirect_to=self.get_success_url())
        return complete_sign_in(
            self.request, user, backend=user.backend, address=address, redirect_to=self.get_success_url()
        )

    def get_context_data(self, **kwargs):
        form = kwargs.get("form")
        address = form.data.get("username", "") if form is not None and form.is_bound else ""
        return {**super().get_context_data(**kwargs), **locked_out_context(self.request, address)}

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.has_error("__all__", code="throttled"):
            response.status_code = 429
        return response


sign_in = SignInView.as_view()


@require_POST
def sign_out(request):
    forget_session(request.session.session_key)
    return auth_views.LogoutView.as_view()(request)


# --- the user's settings: the index and API tokens ------------------------------------------------


def _settings_page(request, *, new_token: str = "", error: str = "", name: str = "", status: int = 200):
    context = {
        **settings_context(request.user, "tokens"),
        "tokens": api_tokens_of(request.user),
        "new_token": new_token,
        "error": error,
        "name": name,
    }
    response = render(request, "accounts/settings/api_tokens.html", context, status=status)
    if new_token:
        response["Cache-Control"] = "no-store"  # the token must not come back from the browser's cache
    return response


@login_required
@require_GET
def settings_index(request):
    """The first section of the settings."""
    sections = settings_context(request.user, "")["settings_sections"]
    return HttpResponseRedirect(sections[0]["url"])


@login_required
@require_GET
def api_tokens(request):
    return _settings_page(request)


@login_required
@require_POST
def create_token(request):
    """Makes a token and shows it in this response only: it is never stored, in the session or anywhere else."""
    name = request.POST.get("name", "")
    try:
        _record, token = create_api_token(user=request.user, name=name)
    except UserError as exc:
        return _settings_page(request, error=exc.message, name=name[:200], status=400)
    return _settings_page(request, new_token=token)


@login_required
@require_POST
@user_errors
def revoke_token(request, token_id: int):
    record = revoke_api_token(user=request.user, token_id=token_id)
    messages.success(request, _("Token “%(name)s” revoked.") % {"name": record.name or record.prefix})
    return redirect_after_post(request, reverse("accounts:api_tokens"))
