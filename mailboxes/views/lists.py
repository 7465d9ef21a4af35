"""The message list: conversations of a folder, of the starred mail, of a label, or of a search."""

import bleach
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from mailboxes import selectors, services
from mailboxes.services.snooze import snooze_choices, snooze_time
from mailboxes.views.actions import ACTION_LABELS, bulk_actions_for, perform_conversation_action, row_actions_for
from mailboxes.views.common import redirect_after_post, safe_next, sidebar_context, user_errors
from mailboxes.views.labels import palette_for
from mailboxes.views.undo import answer_done, done_message
from webmail.errors import UserError

LABEL_ACTIONS = ("label", "unlabel")
ROW_LABELS = {**ACTION_LABELS, "snooze": gettext_lazy("Snooze")}
ROW_ICONS = {
    "archive": "archive",
    "trash": "trash",
    "snooze": "snooze",
    "inbox": "inbox",
    "restore": "restore",
    "not_spam": "check",
    "unsnooze": "inbox",
}


def snooze_until(request):
    """The time the request's snooze choice (``until``, and ``snooze_at`` for a custom one) means."""
    custom = request.POST.get("snooze_at", "").strip()
    # A date typed in wins (Enter in that field submits the form with its first button, a preset).
    choice = "custom" if custom else request.POST.get("until", "")
    return snooze_time(user=request.user, choice=choice, custom=custom)


FOLDER_TITLES = {
    "inbox": gettext_lazy("Inbox"),
    "starred": gettext_lazy("Starred"),
    "sent": gettext_lazy("Sent"),
    "drafts": gettext_lazy("Drafts"),
    "archive": gettext_lazy("Archive"),
    "spam": gettext_lazy("Spam"),
    "trash": gettext_lazy("Trash"),
    "snoozed": gettext_lazy("Snoozed"),
}


# Lists whose conversations are not (only) in the Inbox: nothing there to snooze.
NO_SNOOZE_VIEWS = ("sent", "drafts", "archive", "spam", "trash", "snoozed")


def _render_list(request, *, view, page, title, label=None, extra=None):
    # The rows' links differ only by the id: one reverse() for the page, not one per row (75 µs each).
    thread_base = reverse("mailboxes:thread", args=[0]).removesuffix("0/")
    for thread in page.threads:
        thread.url = f"{thread_base}{thread.pk}/"
    context = {
        **sidebar_context(request.user),
        "view": view,
        "label": label,
        "title": title,
        "threads": page.threads,
        "next_cursor": page.next_cursor,
        "bulk_actions": bulk_actions_for(view),
        "row_actions": [(name, str(ROW_LABELS[name]), ROW_ICONS[name]) for name in row_actions_for(view)],
        "snooze_choices": snooze_choices(user=request.user) if view not in NO_SNOOZE_VIEWS else [],
        "user_labels": selectors.labels_of(user=request.user),
        "is_first_page": not request.GET.get("after"),
        # How a conversation opened from this list finds its way back and its neighbours.
        "from_list": urlencode({"view": view, **({"label": label.pk} if label else {})}),
        **(extra or {}),
    }
    if request.htmx and request.htmx.target == "conversation-list":  # the live refresh: just the list
        return render(request, "mailboxes/list.html#list", context)
    return render(request, "mailboxes/list.html", context)


@login_required
@require_GET
@user_errors
def folder(request, view: str):
    if view not in selectors.LIST_VIEWS:
        raise Http404("No such folder.")
    page = selectors.conversations(
        user=request.user, view=view, cursor=request.GET.get("after"), limit=settings.WEBMAIL_PAGE_SIZE
    )
    return _render_list(request, view=view, page=page, title=_title(view))


def _title(view: str) -> str:
    return str(FOLDER_TITLES[view])


@login_required
@require_GET
@user_errors
def label(request, label_id: int):
    label_obj = selectors.get_label_for_user(user=request.user, label_id=label_id)
    page = selectors.conversations(
        user=request.user,
        view=selectors.LABEL,
        label_id=label_obj.pk,
        cursor=request.GET.get("after"),
        limit=settings.WEBMAIL_PAGE_SIZE,
    )
    return _render_list(
        request,
        view=selectors.LABEL,
        page=page,
        title=label_obj.name,
        label=label_obj,
        extra={"label_palette": palette_for(label_obj)},
    )


@login_required
@require_GET
def search(request):
    query = request.GET.get("q", "").strip()
    context = {"query": query, "search_error": None, "search_unavailable": False}
    page = selectors.ConversationPage(threads=[], next_cursor=None)
    if query:
        try:
            from mailboxes.search.services import QuerySyntaxError
            from mailboxes.search.services import search as run_search
        except ImportError:
            context["search_unavailable"] = True
        else:
            try:
                result = run_search(
                    request.user, query, limit=settings.WEBMAIL_PAGE_SIZE, cursor=request.GET.get("after")
                )
            except QuerySyntaxError as exc:
                context["search_error"] = exc
            else:
                order, snippets = [], {}
                for hit in result.hits:
                    if hit.thread_id not in snippets:
                        order.append(hit.thread_id)
                        # The interface promises HTML-safe snippets; keep only <mark> whatever a backend sends.
                        snippets[hit.thread_id] = bleach.clean(hit.snippet or "", tags={"mark"}, strip=True)
                threads = selectors.conversations_by_ids(user=request.user, thread_ids=order)
                for thread in threads:
                    thread.search_snippet = snippets[thread.pk]
                page = selectors.ConversationPage(threads=threads, next_cursor=result.next_cursor)
    return _render_list(request, view="search", page=page, title=_("Search"), extra=context)


@login_required
@require_POST
@user_errors
def bulk_action(request):
    """The list's toolbar (checked conversations) and each row's own buttons (``row=<action>:<id>``)."""
    action, thread_ids = request.POST.get("action", ""), request.POST.getlist("thread")
    if request.POST.get("row"):  # a row's button acts on its row only, whatever is checked
        action, _sep, row_thread = request.POST["row"].partition(":")
        thread_ids = [row_thread]
    if action == "move":  # "Move to" a folder is the action that puts mail there
        action = {"inbox": "inbox", "archive": "archive", "spam": "spam", "trash": "trash"}.get(
            request.POST.get("move_to", ""), ""
        )
    fallback = safe_next(request, reverse("mailboxes:inbox"))
    if action not in ACTION_LABELS and action not in ("label", "unlabel", "snooze"):
        raise UserError(_("Choose an action."))
    if not thread_ids:
        raise UserError(_("Select at least one conversation."))
    label_id = request.POST.get("label") or None
    label_obj = selectors.get_label_for_user(user=request.user, label_id=label_id) if action in LABEL_ACTIONS else None
    until = snooze_until(request) if action == "snooze" else None
    done = perform_conversation_action(
        action,
        request.user,
        thread_ids,
        view=request.POST.get("view") or None,
        view_label=request.POST.get("view_label") or None,
        label_id=label_obj.pk if label_obj else None,
        until=until,
    )
    message = done_message(
        action, conversations=len(set(thread_ids)), label_name=label_obj.name if label_obj else "", until=until
    )
    return answer_done(request, done, message=message, redirect_to=fallback)


@login_required
@require_POST
@user_errors
def create_label(request):
    label_obj = services.create_label(user=request.user, name=request.POST.get("name", ""))
    messages.success(request, _("Label “%(name)s” created.") % {"name": label_obj.name})
    return redirect_after_post(request, reverse("mailboxes:label", args=[label_obj.pk]))


@login_required
@require_POST
@user_errors
def delete_label(request, label_id: int):
    """Delete a label; its conversations stay where they are."""
    label_obj = selectors.get_label_for_user(user=request.user, label_id=label_id)
    services.delete_label(user=request.user, label_id=label_obj.pk)
    messages.success(request, _("Label “%(name)s” deleted.") % {"name": label_obj.name})
    return redirect_after_post(request, reverse("mailboxes:inbox"))
