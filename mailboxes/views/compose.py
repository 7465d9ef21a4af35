"""Writing mail: compose, reply, reply all, forward, drafts saved as you type, uploads, send with Undo."""

import re
from email.utils import getaddresses

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.selectors import addresses_of
from delivery.services.suppression import bounce_warnings
from mailboxes import selectors
from mailboxes.blobstore import read_blob
from mailboxes.models import MailboxItem, Message
from mailboxes.parsing import parse_message
from mailboxes.sanitize import sanitize_html
from mailboxes.services.drafts import discard_draft, draft_attachments, save_draft
from mailboxes.services.identities import default_identity, identities_of, signature_block
from mailboxes.services.undo import cancel_send, schedule_send, send_due_draft
from mailboxes.services.uploads import attachments_from_uploads, create_upload
from mailboxes.views.common import safe_next, sidebar_context, user_errors
from webmail.errors import NotFound, UserError

_REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|回复)\s*[:：]", re.IGNORECASE)
_FORWARD_PREFIX = re.compile(r"^\s*(fwd?|wg|转发)\s*[:：]", re.IGNORECASE)


def _format_pairs(entries) -> str:
    out = []
    for e in entries:
        name, address = (e.get("name"), e.get("address")) if isinstance(e, dict) else e
        if name:
            quoted = name.replace("\\", "\\\\").replace('"', '\\"')
            out.append(f'"{quoted}" <{address}>')
        else:
            out.append(address)
    return ", ".join(out)


def _uploads_from_attachments(user, attachments) -> list[dict]:
    """Copies of a draft's or forwarded message's files as the user's uploads, so every attachment of
    the form is an upload reference that stays valid however often the draft is saved."""
    rows = []
    for a in attachments:
        upload = create_upload(user=user, filename=a.filename, content=a.content, content_type=a.content_type)
        rows.append(_upload_row(upload))
    return rows


def _upload_row(upload) -> dict:
    return {"id": upload.pk, "filename": upload.filename, "size": upload.size, "content_type": upload.content_type}


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in (text or "").strip("\n").splitlines())


def _initial(request) -> dict:
    """The form's starting values: a fresh message, a draft to resume, or a reply/forward of a message."""
    user, params = request.user, request.GET
    own = {a.lower() for a in addresses_of(user)}
    identities = _identities(request)
    default = default_identity(identities)
    initial = {"to": params.get("to", ""), "cc": "", "bcc": "", "subject": "", "body": "", "attachments": []}
    initial["from_address"] = default.address.email if default else ""
    if params.get("draft"):
        item = selectors.get_item_for_user(user=user, item_id=params["draft"])
        if item.message.status != Message.Status.DRAFT:
            raise NotFound("No such draft.")
        parsed = parse_message(read_blob(item.message.blob))
        initial.update(
            draft_id=item.pk,
            from_address=parsed.from_address,
            to=_format_pairs(parsed.to),
            cc=_format_pairs(parsed.cc),
            bcc=_format_pairs(parsed.bcc),
            subject=parsed.subject,
            body=parsed.text,
            html=sanitize_html(parsed.html).html if parsed.html.strip() else "",
            attachments=_uploads_from_attachments(user, draft_attachments(item.message)),
        )
        parent = MailboxItem.objects.filter(user=user, message__message_id=item.message.in_reply_to).first()
        initial["in_reply_to"] = parent.pk if parent and item.message.in_reply_to else ""
        return initial
    for mode in ("reply", "reply_all", "forward"):
        if params.get(mode):
            item = selectors.get_item_for_user(user=user, item_id=params[mode])
            initial.update(_answer(user, item, mode, own))
            break
    # Reply as the address the message came to; the signature goes above the quote.
    chosen = next((i for i in identities if i.address.email == initial.get("answer_as")), default)
    initial["from_address"] = chosen.address.email if chosen else ""
    block = signature_block(chosen.signature) if chosen else ""
    initial["body"] = (f"\n\n{block}" if block else "") + initial["body"]
    return initial


def _answer(user, item: MailboxItem, mode: str, own: set[str]) -> dict:
    message = item.message
    parsed = parse_message(read_blob(message.blob))
    sender = {"name": message.from_name, "address": message.from_address}
    when = formats.date_format(message.date or item.received_at, "DATETIME_FORMAT")
    who = f"{message.from_name} <{message.from_address}>" if message.from_name else message.from_address
    subject = message.subject or ""
    values = {"in_reply_to": item.pk, "answer_as": _addressed_to(message, own)}
    if mode == "forward":
        values["subject"] = subject if _FORWARD_PREFIX.match(subject) else f"Fwd: {subject}"
        header = "\n".join(
            [
                _("---------- Forwarded message ----------"),
                _("From: %(who)s") % {"who": who},
                _("Date: %(when)s") % {"when": when},
                _("Subject: %(subject)s") % {"subject": subject},
                _("To: %(to)s") % {"to": _format_pairs(message.to)},
            ]
        )
        values["body"] = f"\n\n{header}\n\n{parsed.text}"
        values["quote_start"] = header.splitlines()[0]
        values["attachments"] = _uploads_from_attachments(user, draft_attachments(message))
        return values
    values["subject"] = subject if _REPLY_PREFIX.match(subject) else f"Re: {subject}"
    values["quote_start"] = _("On %(when)s, %(who)s wrote:") % {"when": when, "who": who}
    values["body"] = "\n\n" + values["quote_start"] + "\n" + _quote(parsed.text)
    mine = message.from_address.lower() in own
    to = list(message.to) if mine else [sender]
    cc = []
    if mode == "reply_all":
        if not mine:
            to += list(message.to)
        cc = list(message.cc)
    seen = set(own)

    def keep(entries):
        kept = []
        for e in entries:
            address = (e.get("address") or "").lower()
            if address and address not in seen:
                seen.add(address)
                kept.append(e)
        return kept

    values["to"] = _format_pairs(keep(to))
    values["cc"] = _format_pairs(keep(cc))
    return values


def _addressed_to(message: Message, own: set[str]) -> str:
    """The user's address to answer as: the one they sent the message from, else the first of theirs it was
    sent to (To, then Cc); "" when none (a Bcc, a list): the default identity then."""
    if message.from_address.lower() in own:
        return message.from_address.lower()
    for entry in [*message.to, *message.cc]:
        address = (entry.get("address") or "").lower()
        if address in own:
            return address
    return ""


def _bounce_warnings(*fields: str) -> list:
    """The recipients in the To/Cc/Bcc fields that bounced before: mail to them is tried anyway, with a warning."""
    addresses = [address for _name, address in getaddresses(list(fields)) if "@" in address]
    return bounce_warnings(addresses) if addresses else []


def _compose_context(request, initial: dict, error: UserError | None = None) -> dict:
    return {
        **sidebar_context(request.user),
        "view": "compose",
        "form": initial,
        "bounce_warnings": _bounce_warnings(initial.get("to", ""), initial.get("cc", ""), initial.get("bcc", "")),
        "identities": _identity_choices(request.user, _identities(request)),
        "address_fields": [(name, label, initial.get(name, "")) for name, label in _address_fields()],
        "error": error,
        "max_bytes": settings.MAIL_MAX_MESSAGE_BYTES,
    }


def _address_fields() -> list[tuple[str, str]]:
    return [("to", _("To")), ("cc", _("Cc")), ("bcc", _("Bcc"))]


def _identities(request) -> list:
    """The user's identities, read once per request."""
    if not hasattr(request, "_identities"):
        request._identities = identities_of(user=request.user)
    return request._identities


def _identity_choices(user, identities) -> list[dict]:
    """The From choices, each with the signature block compose inserts for it (the script switches them)."""
    return [
        {
            "address": i.address.email,
            "label": f"{i.display_name or user.display_name} <{i.address.email}>"
            if (i.display_name or user.display_name)
            else i.address.email,
            "signature": signature_block(i.signature),
        }
        for i in identities
    ]


def _is_panel(request) -> bool:
    # The desktop's docked compose panel asks for the form alone; the page stays for phones and no script.
    return request.headers.get("X-Compose-Panel") == "1"


@login_required
@require_GET
@user_errors
def compose(request):
    context = _compose_context(request, _initial(request))
    if _is_panel(request):
        response = render(request, "mailboxes/compose.html#compose-form", {**context, "panel": True})
    else:
        response = render(request, "mailboxes/compose.html", context)
    patch_vary_headers(response, ["X-Compose-Panel"])
    return response


def _address_list(value: str) -> str:
    # Accepting a suggestion leaves ", " after it, ready for the next address.
    return value.strip().rstrip(",").strip()


def _posted(request) -> dict:
    post = request.POST
    return {
        "draft_id": post.get("draft_id") or "",
        "from_address": post.get("from_address") or "",
        "to": _address_list(post.get("to", "")),
        "cc": _address_list(post.get("cc", "")),
        "bcc": _address_list(post.get("bcc", "")),
        "subject": post.get("subject", ""),
        "body": post.get("body", ""),
        # The rich-text editor's HTML, sanitised like received mail before it is stored or shown again.
        "html": sanitize_html(post.get("html", "")).html if post.get("rich") and post.get("html", "").strip() else "",
        "in_reply_to": post.get("in_reply_to") or "",
        "upload_ids": post.getlist("attachment"),
    }


def _save(request, data: dict) -> MailboxItem:
    return save_draft(
        user=request.user,
        draft_id=data["draft_id"] or None,
        from_address=data["from_address"] or None,
        to=data["to"],
        cc=data["cc"],
        bcc=data["bcc"],
        subject=data["subject"],
        text=data["body"],
        html=data["html"],
        attachments=attachments_from_uploads(user=request.user, upload_ids=data["upload_ids"]),
        in_reply_to_item_id=data["in_reply_to"] or None,
    )


def _form_again(request, data: dict, error: UserError, status: int) -> HttpResponse:
    uploads = request.user.uploads.filter(pk__in=[selectors.parse_pk(u) for u in data["upload_ids"]])
    data = {**data, "attachments": [_upload_row(u) for u in uploads]}
    return render(request, "mailboxes/compose.html", _compose_context(request, data, error), status=status)


@login_required
@require_POST
def save(request):
    """Autosave (htmx) or the "Save draft" button."""
    data = _posted(request)
    try:
        item = _save(request, data)
    except UserError as exc:
        if request.htmx:
            return render(request, "mailboxes/compose.html#save-status", {"error": exc}, status=200)
        if request.accepts("application/json") and not request.accepts("text/html"):
            return JsonResponse({"error": exc.message, "field": exc.field}, status=exc.status)
        return _form_again(request, data, exc, exc.status)
    if request.htmx:
        return render(request, "mailboxes/compose.html#save-status", {"draft_id": item.pk, "saved": True})
    if request.accepts("application/json") and not request.accepts("text/html"):
        return JsonResponse({"draft_id": item.pk})  # the panel, saving before it closes or expands
    messages.success(request, _("Draft saved."))
    return redirect(f"{reverse('mailboxes:compose')}?draft={item.pk}")


@login_required
@require_POST
def send(request):
    data = _posted(request)
    try:
        item = _save(request, data)
        data["draft_id"] = item.pk
        schedule_send(user=request.user, draft_id=item.pk)
    except UserError as exc:
        return _form_again(request, data, exc, exc.status)
    # Back where the user wrote it (the panel's page); every page shows the Undo toast while the message waits.
    return redirect(safe_next(request, reverse("mailboxes:inbox")))


@login_required
@require_POST
@user_errors
def discard(request):
    draft_id = request.POST.get("draft_id")
    if draft_id:
        discard_draft(user=request.user, draft_id=draft_id)
    messages.info(request, _("Draft discarded."))
    return redirect(safe_next(request, reverse("mailboxes:inbox")))


@login_required
@require_POST
def upload(request):
    """One attachment, sent by the compose page's script (with a progress bar); JSON in reply."""
    file = request.FILES.get("file")
    if file is None:
        return JsonResponse({"error": _("Choose a file to attach.")}, status=400)
    if file.size > settings.MAIL_MAX_MESSAGE_BYTES:
        limit = settings.MAIL_MAX_MESSAGE_BYTES // (1024 * 1024)
        return JsonResponse({"error": _("A file can be at most %(mb)d MB.") % {"mb": limit}}, status=413)
    try:
        created = create_upload(
            user=request.user, filename=file.name, content=file.read(), content_type=file.content_type or ""
        )
    except UserError as exc:
        return JsonResponse({"error": exc.message}, status=exc.status)
    return JsonResponse(_upload_row(created), status=201)


@login_required
@require_GET
def suggest(request):
    """Address suggestions for the last address of a field (``q``), from the people the user corresponds with."""
    last = request.GET.get("q", "").rpartition(",")[2]
    options = selectors.correspondents(user=request.user, prefix=last.strip())
    return JsonResponse(
        {"suggestions": [{"name": o["name"], "address": o["address"], "value": _format_pairs([o])} for o in options]}
    )


@login_required
@require_GET
def recipient_warnings(request):
    """The warnings under the address fields, again after they changed (htmx)."""
    fields = (request.GET.get(name, "") for name in ("to", "cc", "bcc"))
    return render(request, "mailboxes/compose.html#recipient-warnings", {"bounce_warnings": _bounce_warnings(*fields)})


@login_required
@require_POST
@user_errors
def undo(request, item_id: int):
    item = cancel_send(user=request.user, draft_id=item_id)
    messages.info(request, _("Sending undone. Your message is back in Drafts."))
    url = f"{reverse('mailboxes:compose')}?draft={item.pk}"
    if request.htmx:
        from django_htmx.http import HttpResponseClientRedirect

        return HttpResponseClientRedirect(url)
    return redirect(url)


@require_http_methods(["POST"])
@login_required
def send_now(request, item_id: int):
    """Called by the page when its undo countdown ends, so mail goes out without waiting for a worker."""
    message = send_due_draft(item_id=item_id, user=request.user)
    return JsonResponse({"sent": message is not None})
