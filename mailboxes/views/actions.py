"""What the buttons of the list and of a message do: each name calls one mailbox service."""

from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext_lazy

from mailboxes import selectors, services
from mailboxes.models import Folder, MailboxItem, Message, UndoableAction

# What "Undo" can take back ("delete" cannot: the mail is gone).
UNDOABLE = frozenset(
    {"read", "unread", "star", "unstar", "archive", "inbox", "trash", "restore", "spam", "not_spam"}
    | {"label", "unlabel", "snooze", "unsnooze"}
)


def run_action(action: str, user, item_ids: list[int], label_id=None, until: datetime | None = None) -> int:
    """Apply one named action to the user's items; raises the services' errors."""
    calls = {
        "read": lambda: services.mark_read(user=user, item_ids=item_ids, read=True),
        "unread": lambda: services.mark_read(user=user, item_ids=item_ids, read=False),
        "star": lambda: services.set_starred(user=user, item_ids=item_ids, starred=True),
        "unstar": lambda: services.set_starred(user=user, item_ids=item_ids, starred=False),
        "archive": lambda: services.archive_items(user=user, item_ids=item_ids),
        "inbox": lambda: services.move_items(user=user, item_ids=item_ids, folder=Folder.INBOX),
        "trash": lambda: services.trash_items(user=user, item_ids=item_ids),
        "restore": lambda: services.restore_items(user=user, item_ids=item_ids),
        "spam": lambda: services.mark_spam(user=user, item_ids=item_ids),
        "not_spam": lambda: services.mark_not_spam(user=user, item_ids=item_ids),
        "delete": lambda: services.delete_forever(user=user, item_ids=item_ids),
        "label": lambda: services.add_labels(user=user, item_ids=item_ids, label_ids=[label_id]),
        "unlabel": lambda: services.remove_labels(user=user, item_ids=item_ids, label_ids=[label_id]),
        "snooze": lambda: services.snooze_items(user=user, item_ids=item_ids, until=until),
        "unsnooze": lambda: services.unsnooze_items(user=user, item_ids=item_ids),
    }
    return calls[action]()


@dataclass
class Done:
    """What an action did: how many items it changed, and the record that undoes it (if it can be undone)."""

    count: int
    undo: UndoableAction | None = None


def perform_action(action: str, user, item_ids: list[int], label_id=None, until: datetime | None = None) -> Done:
    """``run_action``, remembering how to undo it when it can be undone."""
    if not item_ids:
        return Done(0)
    if action not in UNDOABLE:
        return Done(run_action(action, user, item_ids, label_id=label_id))
    count = 0

    def run():
        nonlocal count
        count = run_action(action, user, item_ids, label_id=label_id, until=until)

    undo = services.run_undoable(user=user, kind=action, item_ids=item_ids, action=run)
    # Marking read what was read changes nothing: nothing to undo, nothing to announce.
    return Done(count if undo is not None else 0, undo)


ACTION_LABELS = {
    "read": gettext_lazy("Mark read"),
    "unread": gettext_lazy("Mark unread"),
    "star": gettext_lazy("Star"),
    "unstar": gettext_lazy("Unstar"),
    "archive": gettext_lazy("Archive"),
    "inbox": gettext_lazy("Move to Inbox"),
    "trash": gettext_lazy("Trash"),
    "restore": gettext_lazy("Restore"),
    "spam": gettext_lazy("Report spam"),
    "not_spam": gettext_lazy("Not spam"),
    "delete": gettext_lazy("Delete forever"),
    "unsnooze": gettext_lazy("Unsnooze"),
}


def bulk_actions_for(view: str) -> list[tuple[str, str]]:
    names = ["read", "unread", "star", "unstar"]
    if view == selectors.SNOOZED:
        return [(name, str(ACTION_LABELS[name])) for name in ["unsnooze", "trash"]]
    if view == "trash":
        names += ["restore", "delete"]
    elif view == "spam":
        names += ["not_spam", "trash", "delete"]
    elif view == "archive":
        names += ["inbox", "trash", "spam"]
    elif view in ("sent", "drafts"):
        names += ["trash"]
    else:
        names += ["archive", "trash", "spam"]
    return [(name, str(ACTION_LABELS[name])) for name in names]


def row_actions_for(view: str) -> list[str]:
    """The buttons on each row of a list (beside its star and read/unread toggle), in order."""
    if view == selectors.SNOOZED:
        return ["unsnooze", "trash"]
    if view in ("trash",):
        return ["restore"]
    if view == "spam":
        return ["not_spam", "trash"]
    if view == "archive":
        return ["inbox", "trash"]
    if view in ("sent", "drafts"):
        return ["trash"]
    return ["archive", "trash", "snooze"]


def applicable_item_ids(action: str, user, item_ids: list[int]) -> list[int]:
    """The items ``action`` can apply to.

    The others are left out of a conversation (a draft is never archived, mail
    you sent is never spam) instead of failing the whole request.
    """
    items = MailboxItem.objects.filter(user=user, pk__in=item_ids)
    if action == "snooze":
        items = items.filter(folder=Folder.INBOX)
    if action == "unsnooze":
        items = items.filter(snoozed_until__isnull=False)
    if action in ("archive", "inbox", "spam", "not_spam"):
        items = items.exclude(message__status=Message.Status.DRAFT)
    if action in ("spam", "not_spam", "inbox"):
        items = items.filter(origin=MailboxItem.Origin.RECEIVED)
    if action == "not_spam":
        items = items.filter(folder=Folder.SPAM)
    if action in ("restore", "delete"):
        items = items.filter(folder__in=[Folder.TRASH, Folder.SPAM])
    return list(items.values_list("pk", flat=True))


def run_conversation_action(
    action: str, user, thread_ids: list, *, view: str | None, view_label=None, label_id=None
) -> int:
    """Apply ``action`` to whole conversations as the list ``view`` shows them; 0 when nothing applied.

    Only the conversation's messages in that list change (archiving from the
    Inbox leaves the Sent copies in Sent), whether the action comes from the
    list's checkboxes or from the conversation's own page.
    """
    return perform_conversation_action(
        action, user, thread_ids, view=view, view_label=view_label, label_id=label_id
    ).count


def perform_conversation_action(
    action: str, user, thread_ids: list, *, view: str | None, view_label=None, label_id=None, until=None
) -> Done:
    """``run_conversation_action``, with the record that undoes it."""
    item_ids = selectors.item_ids_of_threads(user=user, thread_ids=thread_ids, view=view, label_id=view_label)
    item_ids = applicable_item_ids(action, user, item_ids)
    return perform_action(action, user, item_ids, label_id=label_id, until=until)
