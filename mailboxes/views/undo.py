"""Telling what an action did, with "Undo"; undoing it; emptying Trash and Spam.

The protocol other pages rely on: an action done over htmx/fetch answers 204
with ``HX-Trigger: {"mail:done": {"message": "Conversation archived", "undo":
"<POST url>"}}`` ("undo" only when it can be undone); static/js/undo.js shows
the toast and binds ``z``. A plain form POST redirects, and the next page shows
the message with an "Undo" button (templates/_messages.html).
"""

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from mailboxes import services
from mailboxes.models import Folder
from mailboxes.views.actions import Done
from mailboxes.views.common import safe_next, user_errors

UNDO_TAG = "undo:"


def _conversation_message(action: str, count: int, *, label_name: str, until) -> str:
    texts = {
        "archive": lambda: ngettext("Conversation archived", "%(count)d conversations archived", count),
        "trash": lambda: ngettext("Conversation moved to Trash", "%(count)d conversations moved to Trash", count),
        "spam": lambda: ngettext("Conversation reported as spam", "%(count)d conversations reported as spam", count),
        "not_spam": lambda: ngettext(
            "Conversation marked as not spam", "%(count)d conversations marked as not spam", count
        ),
        "inbox": lambda: ngettext("Conversation moved to Inbox", "%(count)d conversations moved to Inbox", count),
        "restore": lambda: ngettext("Conversation restored", "%(count)d conversations restored", count),
        "read": lambda: ngettext("Conversation marked as read", "%(count)d conversations marked as read", count),
        "unread": lambda: ngettext("Conversation marked as unread", "%(count)d conversations marked as unread", count),
        "star": lambda: ngettext("Conversation starred", "%(count)d conversations starred", count),
        "unstar": lambda: ngettext("Star removed", "Stars removed from %(count)d conversations", count),
        "label": lambda: ngettext(
            "Label “%(label)s” applied", "Label “%(label)s” applied to %(count)d conversations", count
        ),
        "unlabel": lambda: ngettext(
            "Label “%(label)s” removed", "Label “%(label)s” removed from %(count)d conversations", count
        ),
        "snooze": lambda: ngettext(
            "Conversation snoozed until %(when)s", "%(count)d conversations snoozed until %(when)s", count
        ),
        "unsnooze": lambda: ngettext(
            "Conversation back in the Inbox", "%(count)d conversations back in the Inbox", count
        ),
        "delete": lambda: ngettext("Conversation deleted forever", "%(count)d conversations deleted forever", count),
    }
    when = formats.date_format(timezone.localtime(until), "DATETIME_FORMAT") if until else ""
    return texts[action]() % {"count": count, "label": label_name, "when": when}


def _message_message(action: str, *, label_name: str, until) -> str:
    """The same for one message (its own buttons in a conversation)."""
    texts = {
        "archive": lambda: _("Message archived"),
        "trash": lambda: _("Message moved to Trash"),
        "spam": lambda: _("Message reported as spam"),
        "not_spam": lambda: _("Message marked as not spam"),
        "inbox": lambda: _("Message moved to Inbox"),
        "restore": lambda: _("Message restored"),
        "read": lambda: _("Message marked as read"),
        "unread": lambda: _("Message marked as unread"),
        "star": lambda: _("Message starred"),
        "delete": lambda: _("Message deleted forever"),
    }
    if action not in texts:  # the same words for one message as for one conversation
        return _conversation_message(action, 1, label_name=label_name, until=until)
    return texts[action]() % {"label": label_name}


def done_message(action: str, *, conversations: int | None, label_name: str = "", until=None) -> str:
    """What the toast says: about ``conversations`` conversations, or about one message when None."""
    if conversations is None:
        return _message_message(action, label_name=label_name, until=until)
    return _conversation_message(action, conversations, label_name=label_name, until=until)


def answer_done(request, done: Done, *, message: str, redirect_to: str) -> HttpResponse:
    """The response to an action: ``mail:done`` over htmx, else a redirect and a message with "Undo"."""
    undo_url = reverse("mailboxes:undo_action", args=[done.undo.pk]) if done.undo else ""
    if request.htmx:
        response = HttpResponse(status=204)
        if done.count:
            event = {"message": message, **({"undo": undo_url} if undo_url else {})}
            response["HX-Trigger"] = json.dumps({"mail:done": event})
        else:
            response["HX-Trigger"] = json.dumps({"toast": _("Nothing to change.")})
        return response
    if not done.count:
        messages.info(request, _("Nothing to change."))
    elif undo_url:
        messages.success(request, message, extra_tags=UNDO_TAG + undo_url)
    else:
        messages.success(request, message)
    return HttpResponseRedirect(redirect_to)


@login_required
@require_POST
@user_errors
def undo(request, action_id: int):
    """Put back what an action changed ("Undo" in the toast or the message, or ``z``)."""
    _action, count = services.undo_action(user=request.user, action_id=action_id)
    text = _("Undone.") if count else _("Nothing to undo: those messages changed since.")
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Trigger"] = json.dumps({"mail:undone": {"message": text, "count": count}})
        return response
    messages.success(request, text)
    return HttpResponseRedirect(safe_next(request, reverse("mailboxes:inbox")))


@login_required
@require_POST
@user_errors
def empty_folder(request, view: str):
    """Empty Trash or Spam for good (not undoable), at most ``WEBMAIL_EMPTY_FOLDER_LIMIT`` items a request."""
    if view not in (Folder.TRASH, Folder.SPAM):
        raise Http404("Only Trash and Spam can be emptied.")
    deleted, more = services.empty_folder(user=request.user, folder=view, limit=settings.WEBMAIL_EMPTY_FOLDER_LIMIT)
    text = ngettext("%(count)d message deleted forever.", "%(count)d messages deleted forever.", deleted) % {
        "count": deleted
    }
    if more:
        text += " " + _("More remain: empty again to go on.")
    messages.success(request, text)
    return HttpResponseRedirect(reverse("mailboxes:folder", args=[view]))
