"""Editing a label: its name and colour (from the sidebar's label menu and the label's own page)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from mailboxes import selectors, services
from mailboxes.services.labels import PALETTE
from mailboxes.views.common import safe_next, sidebar_context, user_errors
from webmail.errors import NotFound, UserError


def palette_for(label) -> list[tuple[str, str]]:
    """The palette, plus the label's own colour when it was set elsewhere (the API takes any)."""
    if any(color == label.color for color, _name in PALETTE):
        return PALETTE
    return [(label.color, _("Current colour")), *PALETTE]


@login_required
@require_http_methods(["GET", "POST"])
@user_errors
def edit_label(request, label_id: int):
    label = selectors.get_label_for_user(user=request.user, label_id=label_id)
    error = None
    if request.method == "POST":
        try:
            label = services.update_label(
                user=request.user,
                label_id=label.pk,
                name=request.POST.get("name", ""),
                color=request.POST.get("color") or None,
            )
        except NotFound:
            raise
        except UserError as exc:
            error = exc
        else:
            messages.success(request, _("Label “%(name)s” saved.") % {"name": label.name})
            return HttpResponseRedirect(safe_next(request, reverse("mailboxes:label", args=[label.pk])))
    context = {
        **sidebar_context(request.user),
        "title": _("Edit label"),
        "edited": label,
        "palette": palette_for(label),
        "error": error,
        "name": request.POST.get("name", label.name) if error else label.name,
        "chosen_color": (request.POST.get("color") or label.color) if error else label.color,
    }
    return render(request, "mailboxes/label_edit.html", context, status=400 if error else 200)
