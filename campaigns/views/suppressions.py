"""The marketer's suppression page: the workspace's entries, search and filters, manual entries; removal by an admin."""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from campaigns.models import ContactList
from campaigns.selectors.suppressions import (
    can_remove_suppressions,
    get_suppression_for_user,
    suppressions_for_workspace,
)
from campaigns.services.suppressions import add_workspace_suppression, remove_workspace_suppression
from campaigns.views.common import marketer_required
from delivery.models import Suppression
from webmail.errors import NotFound, UserError

PAGE_SIZE = 50


@require_GET
@marketer_required
def suppression_list(request):
    filters = {key: request.GET.get(key, "") for key in ("q", "scope", "reason")}
    entries = suppressions_for_workspace(
        user=request.user, workspace=request.workspace, query=filters["q"], scope=filters["scope"],
        reason=filters["reason"],
    )  # fmt: skip
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    query = urlencode({key: value for key, value in filters.items() if value})
    template = "campaigns/suppressions/list.html#rows" if request.htmx else "campaigns/suppressions/list.html"
    return render(request, template, {
        "section": "suppressions",
        "page": page,
        "filters": filters,
        "query": query,
        "scopes": Suppression.Scope.choices,
        "reasons": Suppression.Reason.choices,
        "lists": ContactList.objects.filter(domain=request.workspace).only("pk", "name"),
        "can_remove": can_remove_suppressions(request.user),
    })  # fmt: skip


@require_POST
@marketer_required
def suppression_add(request):
    try:
        entry = add_workspace_suppression(
            user=request.user, workspace=request.workspace, address=request.POST.get("address", ""),
            target=request.POST.get("target", ""), detail=request.POST.get("detail", "")[:500],
        )  # fmt: skip
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except UserError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("%(address)s was added to the suppression list.") % {"address": entry.address})
    return HttpResponseRedirect(reverse("campaigns:suppressions"))


@require_POST
@marketer_required
def suppression_remove(request, entry_id: int):
    if not can_remove_suppressions(request.user):
        raise PermissionDenied(_("Only an admin can remove entries from the suppression list."))
    try:
        entry = get_suppression_for_user(user=request.user, workspace=request.workspace, entry_id=entry_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    remove_workspace_suppression(user=request.user, entry=entry)
    messages.success(request, _("%(address)s was removed from the suppression list.") % {"address": entry.address})
    return HttpResponseRedirect(reverse("campaigns:suppressions"))
