"""Marketer pages of contacts and lists, and their CSV exports."""

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from campaigns.contact_export import export_contacts
from campaigns.models import ListMembership
from campaigns.selectors import contacts as selectors
from campaigns.services import contacts as services
from campaigns.views.common import marketer_required
from mailboxes.views.common import safe_next, user_errors
from webmail.errors import NotFound

PAGE_SIZE = 50


# A NotFound is a 404; another UserError a message on the page the form was on.
marketer_errors = user_errors(fallback="campaigns:contacts")


def posted_id(request, name: str, *, optional: bool = False) -> int | None:
    """An id from a form; what is not one is an id that does not exist (or none, when ``optional``)."""
    value = request.POST.get(name, "").strip()
    if optional and not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise NotFound(_("Choose one.")) from None


def _page(request, queryset):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


def _render(request, template: str, context: dict):
    """The page, or only its ``rows`` partial for an htmx search."""
    if request.htmx and request.htmx.target == "rows":
        template += "#rows"
    return render(request, template, context)


# --- contacts ----------------------------------------------------------------------------


@require_GET
@marketer_required
def contacts(request):
    query = request.GET.get("q", "")
    page = _page(request, selectors.contacts_of(workspace=request.workspace, query=query))
    context = {"section": "contacts", "title": _("Contacts"), "page": page, "query": query}
    return _render(request, "campaigns/contacts/contacts.html", context)


@require_POST
@marketer_required
@marketer_errors
def create_contact(request):
    contact = services.create_contact(
        workspace=request.workspace, address=request.POST.get("address", ""), name=request.POST.get("name", "")
    )
    messages.success(request, _("Contact %(address)s added.") % {"address": contact.address})
    return redirect("campaigns:contact", contact.pk)


@require_http_methods(["GET", "POST"])
@marketer_required
@marketer_errors
def contact(request, contact_id):
    if request.method == "POST":
        services.update_contact(
            workspace=request.workspace, contact_id=contact_id, name=request.POST.get("name", ""),
            locale=request.POST.get("locale", ""), attributes=_attributes_from(request.POST),
            tracking_consent=request.POST.get("tracking_consent") == "yes",
        )  # fmt: skip
        messages.success(request, _("Saved."))
        return redirect("campaigns:contact", contact_id)
    found = selectors.contact_for_page(workspace=request.workspace, contact_id=contact_id)
    attributes = [(name, services.attribute_type(value), value) for name, value in sorted(found.attributes.items())]
    joined = {m.contact_list_id for m in found.memberships.all()}
    languages = list(settings.LANGUAGES)
    if found.locale and found.locale not in dict(languages):  # set by an import or the API: keep it selectable
        languages.append((found.locale, found.locale))
    context = {
        "section": "contacts", "title": found.address, "contact": found, "attributes": attributes,
        "attribute_types": services.ATTRIBUTE_TYPES, "languages": languages,
        "other_lists": [x for x in selectors.lists_with_counts(workspace=request.workspace) if x.pk not in joined],
    }  # fmt: skip
    return render(request, "campaigns/contacts/contact.html", context)


def _attributes_from(data) -> dict:
    """The attribute rows of the contact form (name, type, value; a row without a name is dropped)."""
    names, kinds, values = data.getlist("attr_name"), data.getlist("attr_type"), data.getlist("attr_value")
    attributes = {}
    for name, kind, value in zip(names, kinds, values, strict=False):
        if name.strip():
            attributes[name.strip()] = services.parse_typed_value(kind, value)
    return attributes


@require_POST
@marketer_required
@marketer_errors
def erase_contact(request, contact_id):
    services.erase_contact(workspace=request.workspace, contact_id=contact_id)
    messages.success(request, _("The contact and their list memberships were erased."))
    return redirect("campaigns:contacts")


@require_POST
@marketer_required
@marketer_errors
def join_list(request, contact_id):
    membership = services.add_to_list(
        workspace=request.workspace, list_id=posted_id(request, "list_id"), contact_id=contact_id,
        added_by=request.user, consent_given=request.POST.get("consent") == "yes",
    )  # fmt: skip
    messages.success(request, _membership_message(membership))
    return redirect(safe_next(request, reverse("campaigns:contact", args=[contact_id])))


def _membership_message(membership: ListMembership) -> str:
    values = {"address": membership.contact.address, "list": membership.contact_list.name}
    if membership.status == ListMembership.Status.PENDING:
        return _("%(address)s was sent a mail to confirm joining %(list)s.") % values
    return _("%(address)s is on %(list)s.") % values


@require_GET
@marketer_required
def export_all(request):
    return _csv_response(export_contacts(workspace=request.workspace), f"contacts-{request.workspace.name}.csv")


def _csv_response(chunks, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- lists -------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@marketer_required
@marketer_errors
def lists(request):
    if request.method == "POST":
        created = services.create_list(
            workspace=request.workspace, name=request.POST.get("name", ""),
            description=request.POST.get("description", ""), double_opt_in=request.POST.get("double_opt_in") == "on",
        )  # fmt: skip
        return redirect("campaigns:list", created.pk)
    found = selectors.lists_with_counts(workspace=request.workspace)
    context = {"section": "lists", "title": _("Lists"), "lists": found}
    return render(request, "campaigns/contacts/lists.html", context)


@require_http_methods(["GET", "POST"])
@marketer_required
@marketer_errors
def contact_list(request, list_id):
    if request.method == "POST":
        services.update_list(
            workspace=request.workspace, list_id=list_id, name=request.POST.get("name", ""),
            description=request.POST.get("description", ""), double_opt_in=request.POST.get("double_opt_in") == "on",
        )  # fmt: skip
        messages.success(request, _("Saved."))
        return redirect("campaigns:list", list_id)
    found = selectors.list_of(workspace=request.workspace, list_id=list_id)
    query, status = request.GET.get("q", ""), request.GET.get("status", "")
    page = _page(request, selectors.members_of(contact_list=found, query=query, status=status))
    context = {
        "section": "lists", "title": found.name, "list": found, "page": page, "query": query, "status": status,
        "statuses": ListMembership.Status.choices,
    }  # fmt: skip
    return _render(request, "campaigns/contacts/list.html", context)


@require_POST
@marketer_required
@marketer_errors
def delete_list(request, list_id):
    services.delete_list(workspace=request.workspace, list_id=list_id)
    messages.success(request, _("The list was deleted; its contacts stay."))
    return redirect("campaigns:lists")


@require_POST
@marketer_required
@marketer_errors
def add_member(request, list_id):
    membership = services.add_address_to_list(
        workspace=request.workspace, list_id=list_id, address=request.POST.get("address", ""),
        name=request.POST.get("name", ""), added_by=request.user, consent_given=request.POST.get("consent") == "yes",
    )  # fmt: skip
    messages.success(request, _membership_message(membership))
    return redirect("campaigns:list", list_id)


@require_POST
@marketer_required
@marketer_errors
def remove_member(request, list_id, contact_id):
    services.remove_from_list(workspace=request.workspace, list_id=list_id, contact_id=contact_id)
    messages.success(request, _("Removed from the list."))
    return redirect(safe_next(request, reverse("campaigns:list", args=[list_id])))


@require_GET
@marketer_required
@marketer_errors
def export_list(request, list_id):
    found = services.get_list(workspace=request.workspace, list_id=list_id)
    chunks = export_contacts(workspace=request.workspace, contact_list=found)
    return _csv_response(chunks, f"list-{found.pk}.csv")
