"""The public page of a double opt-in link (no sign-in): a GET shows a button, only the POST confirms.

Mail scanners and link previews open links; a GET that subscribed would sign
people up who never clicked.
"""

from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from campaigns.services.double_opt_in import confirm_subscription, pending_confirmation
from webmail.clients import client_address
from webmail.errors import UserError


@require_http_methods(["GET", "POST"])
def confirm(request, token):
    try:
        if request.method == "POST":
            result = confirm_subscription(
                token=token, ip=client_address(request) or None, user_agent=request.META.get("HTTP_USER_AGENT", "")
            )
            context = {"membership": result.membership, "confirmed": True, "newly": result.newly_confirmed}
        else:
            context = {"membership": pending_confirmation(token=token), "confirmed": False}
    except UserError as exc:
        return render(request, "campaigns/contacts/confirm.html", {"error": exc.message}, status=exc.status)
    return render(request, "campaigns/contacts/confirm.html", context)
