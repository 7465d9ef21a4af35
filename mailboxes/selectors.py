"""Reads of the message store, always scoped to one user.

An id that belongs to someone else raises the same ``NotFound`` as an id
that does not exist.
"""

from django.db.models import Count, Prefetch, Q, QuerySet

from mailboxes.blobstore import read_blob
from mailboxes.exceptions import ItemNotFound, LabelNotFound
from mailboxes.models import Folder, Label, MailboxItem, Recipient, Thread

# Ids are 64-bit; a larger number is no id (and SQLite raises OverflowError on it).
_MAX_PK = 2**63 - 1


def parse_pk(value) -> int | None:
    """An id from user input (an int or a string of ASCII digits), or None; never raises.

    ``int()`` alone would also take ``1.5``, ``True`` or ``"١"``: each would
    quietly name some other object.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not (value.isascii() and value.isdigit()):
            return None
        value = int(value)
    if not isinstance(value, int):
        return None
    return value if 0 < value <= _MAX_PK else None


def items_for(user) -> QuerySet[MailboxItem]:
    return (
        MailboxItem.objects.filter(user=user)
        .select_related("message", "thread")
        .prefetch_related(Prefetch("labels", queryset=Label.objects.order_by("name")))
    )


def get_item_for_user(*, user, item_id) -> MailboxItem:
    item = items_for(user).filter(pk=parse_pk(item_id)).first()
    if item is None:
        raise ItemNotFound("No such message.")
    return item


def items_in_folder(*, user, folder: str) -> QuerySet[MailboxItem]:
    return items_for(user).filter(folder=folder).order_by("-received_at", "-pk")


def starred_items(*, user) -> QuerySet[MailboxItem]:
    return items_for(user).filter(is_starred=True).exclude(folder=Folder.TRASH).order_by("-received_at", "-pk")


def get_label_for_user(*, user, label_id) -> Label:
    label = Label.objects.filter(user=user, pk=parse_pk(label_id)).first()
    if label is None:
        raise LabelNotFound("No such label.")
    return label


def labelled_items(*, user, label_id) -> QuerySet[MailboxItem]:
    """The user's items carrying one of their labels; someone else's label is not found."""
    label = get_label_for_user(user=user, label_id=label_id)
    return items_for(user).filter(labels=label).exclude(folder=Folder.TRASH).order_by("-received_at", "-pk")


def get_thread_for_user(*, user, thread_id) -> Thread:
    thread = Thread.objects.filter(user=user, pk=parse_pk(thread_id)).first()
    if thread is None:
        raise ItemNotFound("No such conversation.")
    return thread


def thread_items(*, user, thread_id) -> QuerySet[MailboxItem]:
    thread = get_thread_for_user(user=user, thread_id=thread_id)
    return items_for(user).filter(thread=thread).order_by("received_at", "pk")


def folder_counts(*, user) -> dict[str, dict[str, int]]:
    """``{folder: {"total": n, "unread": m}}`` for every folder, in one query."""
    rows = (
        MailboxItem.objects.filter(user=user)
        .values("folder")
        .annotate(total=Count("pk"), unread=Count("pk", filter=Q(is_read=False)))
    )
    counts = {folder: {"total": 0, "unread": 0} for folder in Folder.values}
    for row in rows:
        counts[row["folder"]] = {"total": row["total"], "unread": row["unread"]}
    return counts


def raw_message_for_user(*, user, item_id) -> bytes:
    """The exact stored bytes ("show original")."""
    return read_blob(get_item_for_user(user=user, item_id=item_id).message.blob)


def delivery_status_for_user(*, user, item_id) -> QuerySet[Recipient]:
    """Per-recipient delivery state, only for the sender's own copy (recipients never see each other's bcc)."""
    item = get_item_for_user(user=user, item_id=item_id)
    if item.origin != MailboxItem.Origin.SENT or item.message.sender_id != user.pk:
        return Recipient.objects.none()
    return item.message.recipients.order_by("pk")
