"""The unsubscribe link of marketing mail: one-click POST (RFC 8058) and a small preference page, no sign-in.

The link is the token: whoever holds the message may use it, as RFC 8058
intends. What stops it being used to probe for addresses or forge tokens is
the signature, and a limit on bad tokens per client address. Valid requests
are not limited: a large mailbox provider posts everyone's one-click
unsubscribes from a few addresses, and each must work.
"""

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from campaigns.services.unsubscribe import Subscription, resubscribe, subscription_of, unsubscribe, unsubscribed_from
from campaigns.unsubscribe import BadToken, read_token
from core import ratelimit
from delivery.models import Suppression
from webmail.clients import client_address

# Bad tokens one client address may try in a window before every token it sends is refused for a while.
BAD_TOKEN_LIMIT = ratelimit.Limit("unsubscribe-bad-token", max_failures=20, window=600)
ONE_CLICK_BODY = ("List-Unsubscribe", "One-Click")


class _Refused(Exception):
    def __init__(self, response: HttpResponse):
        self.response = response


def _subscription(request, token: str) -> Subscription:
    """The token's subscription, or ``_Refused`` with the 400 (bad token) or 429 (too many bad ones) to answer."""
    checks = [(BAD_TOKEN_LIMIT, client_address(request))]
    now = ratelimit.clock()
    if ratelimit.exceeded(checks, now=now):
        response = render(request, "campaigns/unsubscribe/invalid.html", {"throttled": True}, status=429)
        response["Retry-After"] = str(BAD_TOKEN_LIMIT.retry_after(now))
        raise _Refused(response)
    try:
        return subscription_of(read_token(token))
    except BadToken:
        ratelimit.count_failure(checks, now=now)
        raise _Refused(render(request, "campaigns/unsubscribe/invalid.html", status=400)) from None


@csrf_exempt  # a mailbox provider posts with no cookie and no CSRF token (RFC 8058 §3.2); the token is the proof
@require_http_methods(["GET", "POST"])
def unsubscribe_link(request, token: str):
    """GET: the preference page, which changes nothing. POST ``List-Unsubscribe=One-Click``: unsubscribe at once."""
    try:
        subscription = _subscription(request, token)
    except _Refused as refused:
        return refused.response
    if request.method == "GET":
        return _preferences(request, token, subscription)
    if request.POST.get(ONE_CLICK_BODY[0]) != ONE_CLICK_BODY[1]:
        return HttpResponse("Expected List-Unsubscribe=One-Click (RFC 8058).\n", status=400, content_type="text/plain")
    unsubscribe(
        subscription=subscription, scope=Suppression.Scope.LIST, source=Suppression.Source.ONE_CLICK,
        ip=client_address(request) or None, user_agent=request.headers.get("User-Agent", ""),
    )  # fmt: skip
    return HttpResponse("Unsubscribed.\n", content_type="text/plain")


@require_POST
def unsubscribe_choice(request, token: str):
    """A choice made on the preference page (CSRF-protected, unlike the one-click POST): list, all, or resubscribe."""
    try:
        subscription = _subscription(request, token)
    except _Refused as refused:
        return refused.response
    choice = request.POST.get("choice")
    who = {"ip": client_address(request) or None, "user_agent": request.headers.get("User-Agent", "")}
    if choice == "resubscribe":
        resubscribe(subscription=subscription, source=Suppression.Source.PAGE, **who)
    elif choice in ("list", "all"):
        scope = Suppression.Scope.LIST if choice == "list" else Suppression.Scope.STREAM
        unsubscribe(subscription=subscription, scope=scope, source=Suppression.Source.PAGE, **who)
    else:
        return _preferences(request, token, subscription, status=400)
    return HttpResponseRedirect(reverse("unsubscribe", args=[token]) + f"?done={choice}")


def _preferences(request, token: str, subscription: Subscription, status: int = 200):
    return render(
        request,
        "campaigns/unsubscribe/preferences.html",
        {
            "token": token,
            "subscription": subscription,
            "left": unsubscribed_from(subscription),
            "done": request.GET.get("done", ""),
        },
        status=status,
    )
