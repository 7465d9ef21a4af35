"""Import and export: the settings page, the import's progress, mbox and .eml downloads."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.settings_sections import settings_context
from mailboxes import selectors
from mailboxes.blobstore import read_blob
from mailboxes.exports import export_filename, items_to_export, mbox_stream
from mailboxes.models import Folder
from mailboxes.services.transfer import IMPORT_FOLDERS, get_import_job, recent_import_jobs, start_import
from mailboxes.views.common import user_errors
from mailboxes.views.lists import FOLDER_TITLES
from webmail.errors import UserError


def _page(request, *, error: UserError | None = None, status: int = 200):
    jobs = recent_import_jobs(user=request.user)
    context = {
        **settings_context(request.user, "import-export"),
        "jobs": jobs,
        "import_folders": [(folder, FOLDER_TITLES[folder]) for folder in IMPORT_FOLDERS],
        "export_folders": [(view, FOLDER_TITLES[view]) for view in (*Folder.values, selectors.STARRED)],
        "user_labels": selectors.labels_of(user=request.user),
        "error": error,
    }
    return render(request, "mailboxes/import_export.html", context, status=status)


@login_required
@require_GET
def import_export(request):
    return _page(request)


@login_required
@require_POST
def start_import_view(request):
    file = request.FILES.get("file")
    try:
        if file is None:
            raise UserError(_("Choose a file to import."), field="file")
        start_import(user=request.user, file=file, folder=request.POST.get("folder") or Folder.INBOX)
    except UserError as exc:
        return _page(request, error=exc, status=exc.status)
    messages.success(request, _("Import started. You can leave this page: it goes on in the background."))
    return redirect("mailboxes:import_export")


@login_required
@require_GET
@user_errors(fallback="mailboxes:import_export")
def import_status(request, job_id: int):
    """The job's progress (htmx polls it while it runs; the fragment stops polling once it is over)."""
    job = get_import_job(user=request.user, job_id=job_id)
    return render(request, "mailboxes/import_export.html#job", {"job": job})


@login_required
@require_GET
@user_errors(fallback="mailboxes:import_export")
def export_mbox(request):
    """A folder (``?view=inbox``), a label (``?view=label&label=3``) or a search (``?view=search&q=…``) as mbox."""
    item_ids, name = items_to_export(
        user=request.user,
        view=request.GET.get("view", ""),
        label_id=request.GET.get("label"),
        query=request.GET.get("q", ""),
    )
    response = StreamingHttpResponse(mbox_stream(user=request.user, item_ids=item_ids), content_type="application/mbox")
    response["Content-Disposition"] = content_disposition_header(True, export_filename(name, extension="mbox"))
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_GET
@user_errors
def download_message(request, item_id: int):
    """One message as a .eml file: the exact stored bytes."""
    item = selectors.get_item_for_user(user=request.user, item_id=item_id)
    response = HttpResponse(read_blob(item.message.blob), content_type="message/rfc822")
    name = export_filename(item.message.subject or _("message"), extension="eml", dated=False)
    response["Content-Disposition"] = content_disposition_header(True, name)
    response["X-Content-Type-Options"] = "nosniff"
    return response
