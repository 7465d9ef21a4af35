"""One conversation: its messages, their bodies (sanitised, in a sandboxed frame), attachments, source."""

import mimetypes

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_POST

from core.bounce_reasons import reason_label
from delivery.services.events import failure_reasons_of
from delivery.services.notices import still_trying
from delivery.services.suppression import refusals_of
from inbound.selectors import spam_checks_for_user
from mailboxes import selectors, services
from mailboxes.blobstore import open_blob, read_blob
from mailboxes.images import image_policies, image_policy
from mailboxes.models import Attachment, Folder, Label, MailboxItem, Message, Recipient
from mailboxes.parsing import parse_message
from mailboxes.sanitize import inline_image_urls, sanitize_html
from mailboxes.services.snooze import snooze_choices
from mailboxes.services.trusted_senders import trust_image_sender, untrust_image_sender
from mailboxes.views.actions import applicable_item_ids, bulk_actions_for, perform_action, perform_conversation_action
from mailboxes.views.common import (
    attachment_token,
    read_attachment_token,
    redirect_after_post,
    safe_next,
    sidebar_context,
    user_errors,
)
from mailboxes.views.lists import snooze_until
from mailboxes.views.undo import answer_done, done_message
from webmail.errors import NotFound

# Why the suppression list refused a recipient, as its delivery badge says it.
_REFUSAL_REASONS = {
    "hard_bounce": gettext_lazy("bounced"),
    "complaint": gettext_lazy("reported as spam"),
    "unsubscribe": gettext_lazy("unsubscribed"),
    "manual": gettext_lazy("blocked by an admin"),
}

# Recipients whose delivery status shows why it failed or waits.
_TROUBLED_STATUSES = (Recipient.Status.BOUNCED, Recipient.Status.FAILED, Recipient.Status.DEFERRED)

# Shown inline in the page (never SVG: it can carry script).
PREVIEW_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

# The message frame: no script at all, styles inline or in <style> (both sanitised), images from here,
# or from anywhere once the reader asked for them.
_BODY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:{remote}; frame-ancestors 'self'; "
    # The same sandbox as the frame's attribute, so the URL opened on its own is no less contained.
    "sandbox allow-same-origin allow-popups allow-popups-to-escape-sandbox"
)


@login_required
@require_GET
@user_errors
def thread(request, thread_id: int):
    conversation = selectors.get_thread_for_user(user=request.user, thread_id=thread_id)
    items = list(
        selectors.thread_items(user=request.user, thread_id=conversation.pk)
        .select_related("message__blob")
        .prefetch_related(
            Prefetch("message__attachments", queryset=Attachment.objects.order_by("position")),
            Prefetch("message__recipients", queryset=Recipient.objects.order_by("pk")),
        )
    )
    if (
        request.GET.get("view") == Folder.DRAFTS
        and len(items) == 1
        and items[0].message.status == Message.Status.DRAFT
        and not items[0].send_at
    ):
        # A draft on its own opens ready to edit, as mail clients do (a reply draft shows with its conversation).
        return redirect(f"{reverse('mailboxes:compose')}?draft={items[0].pk}")
    showing_trash = request.GET.get("view") in (Folder.TRASH, Folder.SPAM)
    if not showing_trash and any(i.folder != Folder.TRASH for i in items):
        items = [i for i in items if i.folder != Folder.TRASH]
    unread = [i.pk for i in items if not i.is_read]
    if unread:
        services.mark_read(user=request.user, item_ids=unread)
    received = [i.message_id for i in items if i.origin == MailboxItem.Origin.RECEIVED]
    spam_checks = spam_checks_for_user(user=request.user, message_ids=received) if received else {}
    # Why the suppression list refused any of the conversation's recipients: one query for them all.
    refused = [r.pk for i in items for r in i.message.recipients.all() if r.status == Recipient.Status.SUPPRESSED]
    refusals = refusals_of(refused) if refused else {}
    # Why a recipient failed or waits, as judged from the remote server's reply: one query for them all.
    troubled = [r.pk for i in items for r in i.message.recipients.all() if r.status in _TROUBLED_STATUSES]
    failure_reasons = failure_reasons_of(troubled) if troubled else {}
    policies = image_policies(user=request.user, items=items)
    now = timezone.now()
    for position, item in enumerate(items):
        item.images = policies.get(item.pk)
        item.spam_check = spam_checks.get(item.message_id) if item.origin == MailboxItem.Origin.RECEIVED else None
        # The latest message, unread ones, and mail of yours that failed to reach someone open expanded.
        failed = item.origin == MailboxItem.Origin.SENT and any(
            r.status in Recipient.FAILED_STATUSES for r in item.message.recipients.all()
        )
        item.expanded = position == len(items) - 1 or item.pk in unread or failed
        _prepare(request, item, refusals, failure_reasons, now=now)
    view, label = _list_of(request, view=request.GET.get("view"), label_id=request.GET.get("label"))
    newer, older = selectors.neighbour_threads(
        user=request.user, view=view, thread=conversation, label_id=label.pk if label else None
    )
    suffix = urlencode({"view": view, **({"label": label.pk} if label else {})})
    context = {
        **sidebar_context(request.user),
        "thread": conversation,
        "view": view,
        "label": label,
        "newer_url": f"{reverse('mailboxes:thread', args=[newer])}?{suffix}" if newer else "",
        "older_url": f"{reverse('mailboxes:thread', args=[older])}?{suffix}" if older else "",
        "items": items,
        "back_url": _back_url(view, label),
        "user_labels": selectors.labels_of(user=request.user),
        # The conversation is open, so read; stars belong to single messages (``s`` stars the latest).
        "conversation_actions": [a for a in bulk_actions_for(view) if a[0] not in ("read", "star", "unstar")],
        # Snooze is offered while the conversation has mail in the Inbox (unsnoozed).
        "snooze_choices": snooze_choices(user=request.user)
        if any(i.folder == Folder.INBOX and i.snoozed_until is None for i in items)
        else [],
    }
    return render(request, "mailboxes/thread.html", context)


# After these the conversation is no longer in the list it was opened from (or, for
# "unread", opening it again would mark it read): back to that list.
_LEAVING_ACTIONS = frozenset(
    {"archive", "inbox", "trash", "spam", "not_spam", "restore", "delete", "unread", "snooze", "unsnooze"}
)


@login_required
@require_POST
@user_errors
def thread_action(request, thread_id: int):
    """The conversation's own buttons (and ``e``, ``#``): the whole conversation, as its list shows it."""
    conversation = selectors.get_thread_for_user(user=request.user, thread_id=thread_id)
    action = request.POST.get("action", "")
    view, label = _list_of(request, view=request.POST.get("view"), label_id=request.POST.get("view_label"))
    if action not in {name for name, _text in bulk_actions_for(view)} | {"label", "unlabel", "snooze"}:
        raise Http404("No such action.")
    label_obj = _label_of(request, action)
    until = snooze_until(request) if action == "snooze" else None
    done = perform_conversation_action(
        action,
        request.user,
        [conversation.pk],
        view=view if view != "search" else None,
        view_label=label.pk if label else None,
        label_id=label_obj.pk if label_obj else None,
        until=until,
    )
    if action in _LEAVING_ACTIONS:
        back = request.POST.get("back", "")
        target = back if _is_local(back) else reverse("mailboxes:inbox")
    else:
        target = safe_next(request, reverse("mailboxes:thread", args=[conversation.pk]))
    message = done_message(action, conversations=1, label_name=label_obj.name if label_obj else "", until=until)
    return answer_done(request, done, message=message, redirect_to=target)


def _label_of(request, action: str) -> Label | None:
    if action not in ("label", "unlabel"):
        return None
    return selectors.get_label_for_user(user=request.user, label_id=request.POST.get("label"))


def _list_of(request, *, view: str | None, label_id) -> tuple[str, Label | None]:
    """The list the conversation was opened from (``?view=…&label=…``); the inbox when unknown."""
    view = view or Folder.INBOX
    if view == selectors.LABEL:
        try:
            return view, selectors.get_label_for_user(user=request.user, label_id=label_id)
        except NotFound:
            return Folder.INBOX, None
    return view, None


def _back_url(view: str, label: Label | None) -> str:
    if label is not None:
        return reverse("mailboxes:label", args=[label.pk])
    if view in selectors.LIST_VIEWS and view != Folder.INBOX:
        return reverse("mailboxes:folder", args=[view])
    return reverse("mailboxes:inbox")


def _prepare(request, item: MailboxItem, refusals: dict, failure_reasons: dict, *, now) -> None:
    """What the template shows of one message: its text or a frame for its HTML, attachments, status."""
    message = item.message
    item.is_draft = message.status == Message.Status.DRAFT
    item.attachment_list = [
        {
            "attachment": a,
            "url": (
                reverse("mailboxes:attachment", args=[attachment_token(user=request.user, attachment_id=a.pk)])
                if a.is_available
                else None
            ),
            "preview": (
                reverse(
                    "mailboxes:attachment",
                    args=[attachment_token(user=request.user, attachment_id=a.pk, inline=True)],
                )
                if a.content_type in PREVIEW_TYPES and a.is_available
                else None
            ),
        }
        for a in message.attachments.all()
        # An inline part the scanner held back or flagged is listed too: the reader is told about it.
        if not a.is_inline or a.scan_status in (Attachment.ScanStatus.BLOCKED, Attachment.ScanStatus.WARNING)
    ]
    is_own_sent = item.origin == MailboxItem.Origin.SENT and message.sender_id == request.user.pk
    item.delivery = list(message.recipients.all()) if is_own_sent and not item.is_draft else []
    for recipient in item.delivery:  # a refused recipient's badge says why: which list, since when
        refusal = recipient.refusal = refusals.get(recipient.pk)
        if refusal:
            refusal["label"] = _REFUSAL_REASONS.get(refusal["reason"], refusal["reason"])
        recipient.failure_reason = reason_label(failure_reasons.get(recipient.pk, ""))
        recipient.still_trying = still_trying(recipient, message=message, now=now)
    # Collapsed messages are rendered too (a click on <details> opens them without a request);
    # their HTML frames load lazily, when opened.
    parsed = parse_message(read_blob(message.blob))
    item.has_html = bool(parsed.html.strip())
    item.text = parsed.text
    item.bcc = parsed.bcc if is_own_sent else []


@login_required
@require_POST
@user_errors
def item_action(request, item_id: int):
    """One message's own buttons (star, unread, trash…), the same services as the list's."""
    item = selectors.get_item_for_user(user=request.user, item_id=item_id)
    action = request.POST.get("action", "")
    allowed = {"read", "unread", "star", "unstar", "archive", "inbox", "trash", "restore", "spam", "not_spam"}
    allowed |= {"delete", "label", "unlabel"}
    if action not in allowed:
        raise Http404("No such action.")
    label_obj = _label_of(request, action)
    ids = applicable_item_ids(action, request.user, [item.pk])
    done = perform_action(action, request.user, ids, label_id=label_obj.pk if label_obj else None)
    if action in _LEAVING_ACTIONS:  # as for the whole conversation: back to the list it was opened from
        back = request.POST.get("back", "")
        target = back if _is_local(back) else reverse("mailboxes:inbox")
    else:
        target = safe_next(request, reverse("mailboxes:thread", args=[item.thread_id]))
    message = done_message(action, conversations=None, label_name=label_obj.name if label_obj else "")
    return answer_done(request, done, message=message, redirect_to=target)


def _is_local(url: str) -> bool:
    return url.startswith("/") and not url.startswith("//") and "\\" not in url


@login_required
@require_GET
@xframe_options_sameorigin
@user_errors
def body(request, item_id: int):
    """The sanitised HTML of a message, for the sandboxed frame of the conversation view."""
    item = selectors.get_item_for_user(user=request.user, item_id=item_id)
    parsed = parse_message(read_blob(item.message.blob))
    allow_remote = request.GET.get("images") == "1" or image_policy(user=request.user, item=item).trusted
    cid_url = inline_image_urls(
        [a for a in item.message.attachments.all() if a.content_type in PREVIEW_TYPES and a.is_available],
        lambda a: reverse(
            "mailboxes:attachment", args=[attachment_token(user=request.user, attachment_id=a.pk, inline=True)]
        ),
    )
    html, blocked = sanitize_html(parsed.html, allow_remote_images=allow_remote, cid_url=cid_url, keep_styles=True)
    response = render(request, "mailboxes/body.html", {"html": html, "blocked": blocked})
    response["Content-Security-Policy"] = _BODY_POLICY.format(remote=" https: http:" if allow_remote else "")
    response["X-Remote-Images-Blocked"] = "1" if blocked else "0"
    response["Referrer-Policy"] = "no-referrer"
    return response


@login_required
@require_POST
@user_errors
def images(request, item_id: int):
    """The images bar's forms: always show images from the sender (``trust``), or stop (``untrust``)."""
    item = selectors.get_item_for_user(user=request.user, item_id=item_id)
    if request.POST.get("action") == "trust":
        trust_image_sender(user=request.user, item=item)
        messages.success(
            request, _("Images from %(address)s will always be shown.") % {"address": item.message.from_address}
        )
    elif request.POST.get("action") == "untrust":
        untrust_image_sender(user=request.user, address=item.message.from_address)
        messages.success(
            request, _("Images from %(address)s will be asked for again.") % {"address": item.message.from_address}
        )
    else:
        raise Http404("No such action.")
    return redirect_after_post(request, safe_next(request, reverse("mailboxes:thread", args=[item.thread_id])))


@login_required
@require_GET
@user_errors
def original(request, item_id: int):
    """The exact stored bytes, as text (never rendered as HTML)."""
    raw = selectors.raw_message_for_user(user=request.user, item_id=item_id)
    response = HttpResponse(raw, content_type="text/plain; charset=utf-8")
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    if request.GET.get("download") == "1":
        response["Content-Disposition"] = f'attachment; filename="message-{int(item_id)}.eml"'
    return response


@login_required
@require_GET
def attachment(request, token: str):
    """An attachment through a signed link that expires and only works for the user it was made for."""
    attachment_id, inline = read_attachment_token(token, user=request.user)
    found = (
        Attachment.objects.select_related("blob")
        .filter(pk=attachment_id, message__items__user=request.user)
        .distinct()
        .first()
    )
    if found is None:
        raise Http404("No such attachment.")
    if not found.is_available:
        raise Http404("This attachment was held back by the virus scanner.")
    show_inline = inline and found.content_type in PREVIEW_TYPES
    content_type = found.content_type if show_inline else (found.content_type or "application/octet-stream")
    if not show_inline and content_type.startswith(("text/html", "image/svg", "application/xhtml")):
        content_type = "application/octet-stream"
    response = FileResponse(
        open_blob(found.blob),
        as_attachment=not show_inline,
        filename=found.filename or "attachment",
        content_type=content_type or mimetypes.guess_type(found.filename)[0],
    )
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response
