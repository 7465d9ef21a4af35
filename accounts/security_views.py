"""Sign-in and security pages: the second sign-in step, a forgotten password, and the security settings.

Thin views over ``accounts.security`` and ``accounts.two_factor`` (docs/ACCOUNT-SECURITY.md).
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import security, two_factor
from accounts.models import User
from accounts.settings_sections import settings_context
from accounts.signin import SignInAttempt
from accounts.views import complete_sign_in, locked_out_context
from core import ratelimit
from webmail.clients import client_address
from webmail.errors import UserError

_PENDING = "_two_factor_pending"


# --- the second step of a sign-in ---------------------------------------------------------------


def start_second_step(request, user, *, address: str, redirect_to: str):
    request.session.cycle_key()
    request.session[_PENDING] = {
        "user": user.pk,
        "backend": user.backend,
        "address": address,
        "next": redirect_to,
        "until": ratelimit.clock() + settings.TWO_FACTOR_PENDING_SECONDS,
    }
    return HttpResponseRedirect(reverse("accounts:sign_in_code"))


def _pending(request) -> tuple[User, dict] | None:
    pending = request.session.get(_PENDING)
    if not isinstance(pending, dict) or pending.get("until", 0) < ratelimit.clock():
        return None
    user = User.objects.filter(pk=pending.get("user"), is_active=True).first()
    return (user, pending) if user is not None else None


@never_cache
@require_http_methods(["GET", "POST"])
def sign_in_code(request):
    found = _pending(request)
    if found is None:
        request.session.pop(_PENDING, None)
        messages.info(request, _("Sign in again: the first step is missing or took too long."))
        return HttpResponseRedirect(reverse("accounts:login"))
    user, pending = found
    attempt = SignInAttempt.of(request, pending["address"])
    context = {"title": _("Two-step sign-in"), "address": user.username, **locked_out_context(request)}
    if request.method == "GET":
        return render(request, "accounts/sign_in_code.html", context)
    if attempt.is_throttled():
        context.update(locked_out_context(request, pending["address"]), throttled=True)
        return render(request, "accounts/sign_in_code.html", context, status=429)
    if not two_factor.verify_second_step(user=user, code=request.POST.get("code", "")):
        attempt.record_failure()
        context["error"] = _("That code is not right. Try the newest code from your app, or a recovery code.")
        return render(request, "accounts/sign_in_code.html", context, status=400)
    del request.session[_PENDING]
    redirect_to = pending["next"]
    if not url_has_allowed_host_and_scheme(redirect_to, allowed_hosts={request.get_host()}):
        redirect_to = reverse(settings.LOGIN_REDIRECT_URL)
    return complete_sign_in(
        request, user, backend=pending["backend"], address=pending["address"], redirect_to=redirect_to
    )


# --- a forgotten password -------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def forgot_password(request):
    context = {"title": _("Forgot password"), "admin_contact": settings.ADMIN_CONTACT}
    if request.method == "GET":
        return render(request, "accounts/forgot_password.html", context)
    address = request.POST.get("address", "").strip()[:254]
    try:
        security.request_password_reset(address=address, client=client_address(request))
    except security.TooManyRequests as exc:
        context.update(error=exc.message, retry_minutes=-(-exc.retry_after // 60), address=address)
        return render(request, "accounts/forgot_password.html", context, status=429)
    return render(request, "accounts/forgot_password.html", {**context, "sent": True, "address": address})


@never_cache
@require_http_methods(["GET", "POST"])
def reset_password(request, uidb64: str, token: str):
    context = {"title": _("Choose a new password")}
    try:
        user = security.user_for_reset(uidb64=uidb64, token=token)
    except security.InvalidLink as exc:
        context["link_error"] = exc.message
        return render(request, "accounts/reset_password.html", context, status=400)
    context["address"] = user.username
    if request.method == "GET":
        return render(request, "accounts/reset_password.html", context)
    try:
        security.reset_password(
            uidb64=uidb64, token=token,
            new_password=request.POST.get("new_password1", ""), confirmation=request.POST.get("new_password2", ""),
        )  # fmt: skip
    except UserError as exc:
        context["errors"] = {exc.field or "new_password1": exc.message}
        return render(request, "accounts/reset_password.html", context, status=400)
    messages.success(request, _("Your password is changed and every session is signed out. Sign in with it now."))
    return HttpResponseRedirect(reverse("accounts:login"))


@never_cache
@require_http_methods(["GET", "POST"])
def verify_recovery_address(request, token: str):
    """GET only shows a button: mail scanners open links, and must not verify an address."""
    context = {"title": _("Confirm your recovery address")}
    try:
        record = (
            security.verify_recovery_address(token=token)
            if request.method == "POST"
            else security.read_recovery_token(token)
        )
    except security.InvalidLink as exc:
        return render(request, "accounts/verify_recovery.html", {**context, "link_error": exc.message}, status=400)
    done = request.method == "POST"
    return render(request, "accounts/verify_recovery.html", {**context, "record": record, "done": done})


# --- the security settings ------------------------------------------------------------------------


def _security_page(request, *, errors: dict | None = None, status: int = 200, recovery_codes=None):
    user = request.user
    context = {
        **settings_context(user, "security"),
        "errors": errors or {},
        "two_factor_on": two_factor.is_enabled(user),
        "recovery_codes_left": two_factor.remaining_recovery_codes(user),
        "new_recovery_codes": recovery_codes or [],
        "recovery": security.recovery_address_of(user),
        "sessions": [
            {
                "pk": s.pk,
                "session_key": s.session_key,
                "network": s.network,
                "created_at": s.created_at,
                "last_seen_at": s.last_seen_at,
                "device": security.describe_user_agent(s.user_agent),
            }
            for s in security.sessions_of(user)
        ],  # fmt: skip
        "current_session_key": request.session.session_key,
        "posted": request.POST if status != 200 else {},
    }
    response = render(request, "accounts/settings/security.html", context, status=status)
    if recovery_codes:
        response["Cache-Control"] = "no-store"  # the codes must not come back from the browser's cache
    return response


def _back(request):
    return HttpResponseRedirect(reverse("accounts:settings_security"))


@login_required
@require_GET
def settings_security(request):
    return _security_page(request)


@login_required
@require_POST
def change_password(request):
    try:
        ended = security.change_password(
            request=request,
            current_password=request.POST.get("old_password", ""),
            new_password=request.POST.get("new_password1", ""),
            confirmation=request.POST.get("new_password2", ""),
        )
    except UserError as exc:
        return _security_page(request, errors={exc.field or "old_password": exc.message}, status=400)
    messages.success(request, _("Password changed. Other sessions signed out: %(count)d.") % {"count": ended})
    return _back(request)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_setup(request):
    """GET makes a new secret and shows it; POST confirms it with a code and shows the recovery codes."""
    user = request.user
    error = ""
    if request.method == "POST":
        try:
            codes = two_factor.confirm_setup(user=user, code=request.POST.get("code", ""))
        except UserError as exc:
            error = exc.message
        else:
            messages.success(request, _("Two-step sign-in is on."))
            return _security_page(request, recovery_codes=codes)
        secret = two_factor.pending_secret(user)
    else:
        try:
            secret = two_factor.start_setup(user=user)
        except UserError as exc:
            messages.info(request, exc.message)
            return _back(request)
    if not secret:
        return _back(request)
    uri = two_factor.provisioning_uri(user, secret)
    context = {
        **settings_context(user, "security"),
        "secret": secret,
        "qr_svg": two_factor.qr_svg(uri),
        "error": error,
    }
    response = render(request, "accounts/settings/two_factor_setup.html", context, status=400 if error else 200)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def two_factor_disable(request):
    try:
        two_factor.disable(
            user=request.user, password=request.POST.get("password", ""), code=request.POST.get("code", "")
        )
    except UserError as exc:
        return _security_page(request, errors={"disable_" + (exc.field or "code"): exc.message}, status=400)
    messages.success(request, _("Two-step sign-in is off."))
    return _back(request)


@login_required
@require_POST
def regenerate_recovery_codes(request):
    try:
        codes = two_factor.regenerate_recovery_codes(user=request.user, password=request.POST.get("password", ""))
    except UserError as exc:
        return _security_page(request, errors={"codes_" + (exc.field or "password"): exc.message}, status=400)
    messages.success(request, _("New recovery codes made: the old ones no longer work."))
    return _security_page(request, recovery_codes=codes)


@login_required
@require_POST
def set_recovery_address(request):
    try:
        record = security.set_recovery_address(user=request.user, address=request.POST.get("address", ""))
    except UserError as exc:
        return _security_page(request, errors={"recovery_address": exc.message}, status=400)
    messages.success(
        request, _("We sent a link to %(address)s: open it to confirm the address.") % {"address": record.address}
    )
    return _back(request)


@login_required
@require_POST
def remove_recovery_address(request):
    security.remove_recovery_address(user=request.user)
    messages.success(request, _("Recovery address removed."))
    return _back(request)


@login_required
@require_POST
def end_session(request, session_id: int):
    try:
        security.end_session(user=request.user, session_id=session_id)
    except security.NotFound as exc:
        raise Http404(exc.message) from exc
    messages.success(request, _("That session is signed out."))
    return _back(request)


@login_required
@require_POST
def end_other_sessions(request):
    ended = security.end_other_sessions(user=request.user, keep_session_key=request.session.session_key)
    messages.success(request, _("Signed out everywhere else (%(count)d sessions).") % {"count": ended})
    return _back(request)
