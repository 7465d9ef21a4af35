"""Every write to the message store. Views, API, tasks and commands call these."""

from mailboxes.services.actions import (
    add_labels,
    archive_items,
    delete_forever,
    empty_folder,
    mark_not_spam,
    mark_read,
    mark_spam,
    move_items,
    remove_labels,
    restore_items,
    set_starred,
    trash_items,
)
from mailboxes.services.drafts import discard_draft, save_draft
from mailboxes.services.labels import create_label, delete_label, update_label
from mailboxes.services.placement import place_message
from mailboxes.services.snooze import snooze_items, unsnooze_items, wake_snoozed
from mailboxes.services.store import store_message
from mailboxes.services.undoable import run_undoable, undo_action

__all__ = [
    "add_labels",
    "archive_items",
    "create_label",
    "delete_forever",
    "delete_label",
    "empty_folder",
    "discard_draft",
    "mark_not_spam",
    "mark_read",
    "mark_spam",
    "move_items",
    "place_message",
    "remove_labels",
    "restore_items",
    "run_undoable",
    "save_draft",
    "set_starred",
    "snooze_items",
    "store_message",
    "trash_items",
    "undo_action",
    "unsnooze_items",
    "update_label",
    "wake_snoozed",
]
