"""What a user does to mail in their mailbox: flags, labels, folders, deletion.

Every function takes the acting user and a list of item ids, works on all of
them in one transaction or on none, and treats an id that is not the user's
exactly like one that does not exist.
"""

from collections.abc import Iterable

from django.db import transaction
from django.utils.translation import gettext as _

from inbound.filters.spam import train_spam
from mailboxes.conversations import refresh_threads
from mailboxes.exceptions import FolderNotAllowed, ItemNotFound, LabelNotFound
from mailboxes.models import Folder, Label, MailboxChange, MailboxItem, Message
from mailboxes.selectors import parse_pk
from mailboxes.services.store import delete_orphan_messages

# Where an item goes back to when its remembered folder is unknown.
_HOME_FOLDER = {MailboxItem.Origin.RECEIVED: Folder.INBOX, MailboxItem.Origin.SENT: Folder.SENT}


def _clean_ids(values: Iterable, *, error) -> list[int]:
    if values is None:
        values = []
    elif isinstance(values, str | int):  # one id: never iterate "12" as ids 1 and 2
        values = [values]
    ids = []
    for value in values:
        pk = parse_pk(value)
        if pk is None:
            raise error(_("Not found: %(value)r.") % {"value": str(value)[:40]})
        ids.append(pk)
    if not ids:
        raise error(_("No items given."))
    return list(dict.fromkeys(ids))


def _items_for_update(user, item_ids: Iterable) -> list[MailboxItem]:
    ids = _clean_ids(item_ids, error=ItemNotFound)
    items = list(MailboxItem.objects.select_for_update().select_related("message").filter(user=user, pk__in=ids))
    if len(items) != len(ids):
        missing = sorted(set(ids) - {item.pk for item in items})
        raise ItemNotFound(_("No such message: %(ids)s.") % {"ids": ", ".join(map(str, missing))})
    return items


def _labels_of(user, label_ids: Iterable) -> list[Label]:
    ids = _clean_ids(label_ids, error=LabelNotFound)
    labels = list(Label.objects.filter(user=user, pk__in=ids))
    if len(labels) != len(ids):
        raise LabelNotFound(_("No such label."), field="labels")
    return labels


def _update(items: list[MailboxItem], **changes) -> int:
    MailboxItem.objects.filter(pk__in=[i.pk for i in items]).update(**changes)
    refresh_threads({i.thread_id for i in items})
    _record(items, MailboxChange.Kind.STATE)
    return len(items)


def _record(items: list[MailboxItem], kind: str) -> None:
    """The change feed entries of these items, in the caller's transaction (the search index follows them)."""
    if items:
        MailboxChange.record(user_id=items[0].user_id, item_ids=[i.pk for i in items], kind=kind)


@transaction.atomic
def mark_read(*, user, item_ids: Iterable, read: bool = True) -> int:
    return _update(_items_for_update(user, item_ids), is_read=read)


@transaction.atomic
def set_starred(*, user, item_ids: Iterable, starred: bool = True) -> int:
    return _update(_items_for_update(user, item_ids), is_starred=starred)


@transaction.atomic
def add_labels(*, user, item_ids: Iterable, label_ids: Iterable) -> int:
    items = _items_for_update(user, item_ids)
    labels = _labels_of(user, label_ids)
    through = MailboxItem.labels.through
    pairs = [through(mailboxitem_id=item.pk, label_id=label.pk) for item in items for label in labels]
    through.objects.bulk_create(pairs, ignore_conflicts=True)
    _record(items, MailboxChange.Kind.STATE)
    return len(items)


@transaction.atomic
def remove_labels(*, user, item_ids: Iterable, label_ids: Iterable) -> int:
    items = _items_for_update(user, item_ids)
    labels = _labels_of(user, label_ids)
    MailboxItem.labels.through.objects.filter(
        mailboxitem_id__in=[i.pk for i in items], label_id__in=[label.pk for label in labels]
    ).delete()
    _record(items, MailboxChange.Kind.STATE)
    return len(items)


def _check_destination(item: MailboxItem, folder: str) -> None:
    if folder not in Folder.values:
        raise FolderNotAllowed(_("There is no folder %(folder)r.") % {"folder": folder}, field="folder")
    is_draft = item.message.status == Message.Status.DRAFT
    if is_draft and folder not in (Folder.DRAFTS, Folder.TRASH):
        raise FolderNotAllowed(_("A draft can only be in Drafts or Trash."), field="folder")
    if folder == Folder.DRAFTS and not is_draft:
        raise FolderNotAllowed(_("Only drafts go in Drafts."), field="folder")
    if folder == Folder.SENT and item.origin != MailboxItem.Origin.SENT:
        raise FolderNotAllowed(_("Only mail you sent goes in Sent."), field="folder")
    if folder == Folder.SPAM and item.origin != MailboxItem.Origin.RECEIVED:
        raise FolderNotAllowed(_("Only mail you received can be marked as spam."), field="folder")


def _move(items: list[MailboxItem], folder: str) -> int:
    for item in items:
        _check_destination(item, folder)
    # Remember where each item came from, so Restore can put it back.
    remember = folder in (Folder.TRASH, Folder.SPAM)
    for item in items:
        if item.folder == folder:
            continue
        if not remember:
            item.previous_folder = ""
        elif item.folder != Folder.TRASH:
            # Trash is never a place to restore to: from Trash to Spam keeps
            # the folder it had before the Trash (Spam to Trash remembers Spam).
            item.previous_folder = item.folder
        item.folder = folder
        item.save(update_fields=["folder", "previous_folder", "updated_at"])
    refresh_threads({i.thread_id for i in items})
    _record(items, MailboxChange.Kind.STATE)
    return len(items)


@transaction.atomic
def move_items(*, user, item_ids: Iterable, folder: str) -> int:
    return _move(_items_for_update(user, item_ids), folder)


def archive_items(*, user, item_ids: Iterable) -> int:
    return move_items(user=user, item_ids=item_ids, folder=Folder.ARCHIVE)


def trash_items(*, user, item_ids: Iterable) -> int:
    return move_items(user=user, item_ids=item_ids, folder=Folder.TRASH)


@transaction.atomic
def mark_spam(*, user, item_ids: Iterable) -> int:
    """Move to Spam, and teach the user's spam filter that such mail is spam."""
    items = _items_for_update(user, item_ids)
    newly = [item for item in items if item.folder != Folder.SPAM]
    moved = _move(items, Folder.SPAM)
    for item in newly:
        train_spam(user=user, message=item.message, is_spam=True)
    return moved


@transaction.atomic
def mark_not_spam(*, user, item_ids: Iterable) -> int:
    items = _items_for_update(user, item_ids)
    if any(item.folder != Folder.SPAM for item in items):
        raise FolderNotAllowed(_("Only messages in Spam can be marked as not spam."), field="folder")
    moved = _move(items, Folder.INBOX)
    for item in items:
        train_spam(user=user, message=item.message, is_spam=False)
    return moved


@transaction.atomic
def restore_items(*, user, item_ids: Iterable) -> int:
    """Put trashed (or spam) items back where they were before."""
    items = _items_for_update(user, item_ids)
    if any(item.folder not in (Folder.TRASH, Folder.SPAM) for item in items):
        raise FolderNotAllowed(_("Only messages in Trash or Spam can be restored."), field="folder")
    for item in items:
        if item.message.status == Message.Status.DRAFT:
            destination = Folder.DRAFTS
        else:
            destination = item.previous_folder or _HOME_FOLDER[item.origin]
        item.folder, item.previous_folder = destination, ""
        item.save(update_fields=["folder", "previous_folder", "updated_at"])
    refresh_threads({i.thread_id for i in items})
    _record(items, MailboxChange.Kind.STATE)
    return len(items)


@transaction.atomic
def delete_forever(*, user, item_ids: Iterable) -> int:
    """Remove items from the mailbox for good; only from Trash or Spam, as a safety catch."""
    items = _items_for_update(user, item_ids)
    if any(item.folder not in (Folder.TRASH, Folder.SPAM) for item in items):
        raise FolderNotAllowed(_("Move messages to Trash before deleting them forever."), field="folder")
    MailboxItem.objects.filter(pk__in=[i.pk for i in items]).delete()
    refresh_threads({i.thread_id for i in items})
    _record(items, MailboxChange.Kind.DELETED)
    delete_orphan_messages({i.message_id for i in items})
    return len(items)


def empty_folder(*, user, folder: str, batch: int = 500, limit: int | None = None) -> tuple[int, bool]:
    """Delete forever what is in Trash or Spam, ``batch`` items per transaction, at most ``limit`` items.

    Returns how many were deleted and whether some remain (past ``limit``), so
    that a request stays short however big the folder: the page offers to go on.
    """
    if folder not in (Folder.TRASH, Folder.SPAM):
        raise FolderNotAllowed(_("Only Trash and Spam can be emptied."), field="folder")
    deleted = 0
    while limit is None or deleted < limit:
        size = batch if limit is None else min(batch, limit - deleted)
        in_folder = MailboxItem.objects.filter(user=user, folder=folder).order_by("pk")
        ids = list(in_folder.values_list("pk", flat=True)[:size])
        if not ids:
            break
        with transaction.atomic():
            # Only those still there once locked: one restored meanwhile stays.
            locked = MailboxItem.objects.select_for_update().filter(user=user, folder=folder, pk__in=ids)
            ids = list(locked.values_list("pk", flat=True))
            deleted += delete_forever(user=user, item_ids=ids) if ids else 0
    return deleted, MailboxItem.objects.filter(user=user, folder=folder).exists()
