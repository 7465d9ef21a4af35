"""Every write to the message store. Views, API, tasks and commands call these."""

from mailboxes.services.actions import (
    add_labels,
    archive_items,
    delete_forever,
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
from mailboxes.services.store import store_message

__all__ = [
    "add_labels",
    "archive_items",
    "create_label",
    "delete_forever",
    "delete_label",
    "discard_draft",
    "mark_not_spam",
    "mark_read",
    "mark_spam",
    "move_items",
    "place_message",
    "remove_labels",
    "restore_items",
    "save_draft",
    "set_starred",
    "store_message",
    "trash_items",
    "update_label",
]
