"""Settings: the addresses a user sends as (display name, signature, default From)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts.settings_sections import settings_context
from mailboxes.services.identities import MAX_NAME, MAX_SIGNATURE, identities_of, update_identities
from mailboxes.views.common import user_errors
from webmail.errors import NotFound, UserError


@login_required
@require_http_methods(["GET", "POST"])
@user_errors  # another user's identity id: 404
def identities(request):
    rows = identities_of(user=request.user)
    error, status = None, 200
    if request.method == "POST":
        post = request.POST
        changes = {i.pk: (post.get(f"name-{i.pk}", ""), post.get(f"signature-{i.pk}", "")) for i in rows}
        try:
            update_identities(user=request.user, changes=changes, default_id=post.get("default") or None)
        except NotFound:
            raise
        except UserError as exc:  # a form error, shown in the page
            error, status = exc, exc.status
            for i in rows:  # show what was typed, not what is stored
                i.display_name, i.signature = changes[i.pk]
        else:
            messages.success(request, _("Addresses and signatures saved."))
            return redirect("mailboxes:identities")
    context = {
        **settings_context(request.user, "identities"),
        "identities": rows,
        "default_id": next((i.pk for i in rows if i.is_default), rows[0].pk if rows else None),
        "error": error,
        "max_name": MAX_NAME,
        "max_signature": MAX_SIGNATURE,
    }
    return render(request, "mailboxes/identities.html", context, status=status)
