"""Marketer pages of CSV imports: upload, column mapping, progress, report and refused rows."""

from django.conf import settings
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from campaigns.models import ContactImport
from campaigns.selectors import contacts as selectors
from campaigns.services import contacts as contact_values
from campaigns.services import imports as services
from campaigns.views.common import marketer_required
from campaigns.views.contacts import marketer_errors, posted_id
from webmail.errors import UserError

UNFINISHED = (ContactImport.Status.QUEUED, ContactImport.Status.RUNNING)


@require_http_methods(["GET", "POST"])
@marketer_required
@marketer_errors
def imports(request):
    error = None
    if request.method == "POST":
        upload = request.FILES.get("file")
        try:
            if upload is None:
                raise UserError(_("Choose a CSV file."), field="file")
            created = services.upload_contact_import(
                workspace=request.workspace,
                user=request.user,
                file=upload,
                contact_list_id=posted_id(request, "list_id", optional=True),
            )
        except UserError as exc:
            if exc.status == 404:
                raise
            error = exc.message
        else:
            return redirect("campaigns:import", created.pk)
    context = {
        "section": "imports", "title": _("Imports"), "error": error,
        "imports": selectors.imports_of(workspace=request.workspace)[:50],
        "lists": selectors.lists_with_counts(workspace=request.workspace),
        "max_mb": settings.CONTACT_IMPORT_MAX_BYTES // (1024 * 1024),
    }  # fmt: skip
    return render(request, "campaigns/contacts/imports.html", context, status=400 if error else 200)


@require_GET
@marketer_required
@marketer_errors
def contact_import(request, import_id):
    found = selectors.import_of(workspace=request.workspace, import_id=import_id)
    return render(request, "campaigns/contacts/import.html", _import_context(request, found))


def _import_context(request, found: ContactImport, error: str | None = None) -> dict:
    mapping = found.mapping or {}
    counts = (found.report or {}).get("counts", {})
    return {
        "section": "imports", "title": found.filename, "import": found, "error": error,
        "unfinished": found.status in UNFINISHED,
        "encoding_label": services.ENCODING_LABELS.get(found.encoding, found.encoding),
        "delimiter_label": services.DELIMITER_LABELS.get(mapping.get("delimiter"), ""),
        "columns": [(i, column, [row[i] if i < len(row) else "" for row in mapping.get("sample", [])])
                    for i, column in enumerate(mapping.get("columns", []))],
        "fields": services.FIELDS.items(), "types": contact_values.ATTRIBUTE_TYPES,
        "lists": selectors.lists_with_counts(workspace=request.workspace),
        "counts": [(name, counts.get(name, 0)) for name in services.COUNTS],
        "reasons": services.REASONS,
    }  # fmt: skip


@require_POST
@marketer_required
@marketer_errors
def start_import(request, import_id):
    found = selectors.import_of(workspace=request.workspace, import_id=import_id)
    columns = [
        {
            "field": request.POST.get(f"field_{i}", "ignore"),
            "attribute": request.POST.get(f"attribute_{i}", ""),
            "type": request.POST.get(f"type_{i}", "string"),
        }
        for i in range(len(found.mapping.get("header", [])))
    ]
    try:
        services.start_contact_import(
            workspace=request.workspace, import_id=import_id, columns=columns,
            contact_list_id=posted_id(request, "list_id", optional=True),
            consent_given=request.POST.get("consent") == "yes", consent_source=request.POST.get("consent_source", ""),
        )  # fmt: skip
    except UserError as exc:
        if exc.status == 404:
            raise
        context = _import_context(request, found, exc.message)
        return render(request, "campaigns/contacts/import.html", context, status=400)
    return redirect("campaigns:import", import_id)


@require_GET
@marketer_required
@marketer_errors
def import_progress(request, import_id):
    """The progress bar, polled every second; once the run is over the page reloads to show the report."""
    found = selectors.import_of(workspace=request.workspace, import_id=import_id)
    if found.status not in UNFINISHED:
        return HttpResponseClientRefresh()
    return render(request, "campaigns/contacts/import.html#progress", {"import": found, "unfinished": True})


@require_GET
@marketer_required
@marketer_errors
def refused_rows(request, import_id):
    found = selectors.import_of(workspace=request.workspace, import_id=import_id)
    handle = services.open_refused_rows(found)
    if handle is None:
        raise Http404(_("No row was refused."))
    return FileResponse(handle, as_attachment=True, filename=f"refused-rows-{found.pk}.csv", content_type="text/csv")
