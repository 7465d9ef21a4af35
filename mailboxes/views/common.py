"""What the webmail views share: the sidebar, error handling, signed attachment links."""

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from mailboxes import selectors
from mailboxes.links import LinkKind, read_attachment_link, sign_attachment_link
from mailboxes.services.scheduled import scheduled_count
from webmail.errors import NotFound, UserError


def sidebar_context(user) -> dict:
    counts = selectors.sidebar_counts(user=user)
    labels = list(selectors.labels_of(user=user))
    for label in labels:
        label.unread = counts["labels"].get(label.pk, 0)
    return {
        "counts": counts,
        "labels": labels,
        "inbox_unread": counts["folders"]["inbox"]["unread"],
        "latest_change": selectors.latest_change_id(user=user),
        "scheduled_count": scheduled_count(user=user),
    }


def safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    # Only a path on this site: never another host, and never something redirect() would take for a view name.
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=False
    ):
        return target
    return fallback


def redirect_after_post(request, url: str) -> HttpResponse:
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return HttpResponseRedirect(url)


def user_errors(view=None, *, fallback: str = "mailboxes:inbox"):
    """A ``NotFound`` is a 404; any other ``UserError`` a message on the page the user came from.

    ``fallback`` names the page to go back to when the request does not say
    where it came from (``@user_errors(fallback="campaigns:contacts")``).
    """

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            try:
                return view(request, *args, **kwargs)
            except NotFound as exc:
                raise Http404(exc.message) from exc
            except UserError as exc:
                if request.htmx:
                    response = HttpResponse(exc.message, status=exc.status)
                    response["HX-Reswap"] = "none"
                    return trigger_client_event(response, "toast", exc.message)
                messages.error(request, exc.message)
                return HttpResponseRedirect(safe_next(request, reverse(fallback)))

        return wrapper

    return decorate(view) if view is not None else decorate


def attachment_token(*, user, attachment_id: int, inline: bool = False) -> str:
    return sign_attachment_link(kind=LinkKind.WEBMAIL, user_id=user.pk, attachment_id=attachment_id, inline=inline)


def read_attachment_token(token: str, *, user) -> tuple[int, bool]:
    """The attachment id and display mode of a link made for ``user``; 404 when expired, forged or not theirs."""
    try:
        link = read_attachment_link(token, kind=LinkKind.WEBMAIL, max_age=settings.WEBMAIL_ATTACHMENT_LINK_SECONDS)
    except UserError as exc:  # expired or forged: for a page, both are simply gone
        raise Http404(exc.message) from exc
    if link.user_id != user.pk:
        raise Http404("No such attachment.")
    return link.attachment_id, link.inline
