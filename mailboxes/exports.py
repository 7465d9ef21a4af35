"""Exporting mail: a folder, a label or a search as one mbox file, streamed.

The file is mboxrd: each message is preceded by a ``From `` line (the sender and the time it was
received, in UTC) and followed by a blank line; a body line starting with ``From `` (or ``>From ``,
``>>From ``…) gets one more ``>``. The message bytes are the stored ones, with two changes that
belong to the mbox container, both undone by the import (``mailboxes.imports``): line endings are
LF (the mbox convention), and a ``Status:``/``X-Status:`` pair at the top carries read and starred.
A single message downloads as ``.eml``: its stored bytes exactly.
"""

import re
from collections.abc import Iterable, Iterator
from datetime import UTC

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from mailboxes import selectors
from mailboxes.blobstore import read_blob
from mailboxes.exceptions import ItemNotFound
from mailboxes.models import Folder, MailboxItem

_NEEDS_QUOTING = re.compile(rb"^(>*From )", re.MULTILINE)
_FILENAME_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|]+')
_BATCH = 200


def items_to_export(*, user, view: str, label_id=None, query: str = "") -> tuple[Iterable[int], str]:
    """The ids of the user's items in a folder, a label or a search, and a name for the file."""
    if view == "search":
        return _search_ids(user, query), "search"
    if view == selectors.LABEL:
        label = selectors.get_label_for_user(user=user, label_id=label_id)
        items = MailboxItem.objects.filter(user=user, labels=label).exclude(folder=Folder.TRASH)
        return _ids(items), label.name
    if view == selectors.STARRED:
        return _ids(MailboxItem.objects.filter(user=user, is_starred=True).exclude(folder=Folder.TRASH)), "starred"
    if view not in Folder.values:
        raise ItemNotFound(_("No such folder."))
    return _ids(MailboxItem.objects.filter(user=user, folder=view)), view


def _ids(items: QuerySet) -> list[int]:
    # Ids only (small), oldest first as mbox files are; the messages are read in batches while streaming.
    return list(items.order_by("received_at", "pk").values_list("pk", flat=True))


def _search_ids(user, query: str) -> list[int]:
    from mailboxes.search.services import MAX_LIMIT, search  # search imports the mailbox models

    ids, cursor = [], None
    while True:
        page = search(user, query, limit=MAX_LIMIT, cursor=cursor)
        ids += [hit.item_id for hit in page.hits]
        cursor = page.next_cursor
        if not cursor or not page.hits:
            return ids[::-1]


def mbox_stream(*, user, item_ids: Iterable[int]) -> Iterator[bytes]:
    """The mbox file of these items, one message at a time (only the user's own items are read)."""
    item_ids = list(item_ids)
    for start in range(0, len(item_ids), _BATCH):
        batch = item_ids[start : start + _BATCH]
        items = MailboxItem.objects.filter(user=user, pk__in=batch).select_related("message__blob")
        by_pk = {item.pk: item for item in items}
        for pk in batch:
            if pk in by_pk:  # deleted meanwhile: left out
                yield mbox_entry(by_pk[pk], read_blob(by_pk[pk].message.blob))


def mbox_entry(item: MailboxItem, raw: bytes) -> bytes:
    sender = (item.message.from_address or "MAILER-DAEMON").replace(" ", "")
    when = item.received_at.astimezone(UTC).strftime("%a %b %d %H:%M:%S %Y")
    flags = b"Status: " + (b"RO" if item.is_read else b"O") + b"\n"
    flags += (
        b"X-Status: " + (b"F" if item.is_starred else b"") + (b"T" if item.folder == Folder.DRAFTS else b"") + b"\n"
    )
    body = _NEEDS_QUOTING.sub(rb">\1", raw.replace(b"\r\n", b"\n"))
    if not body.endswith(b"\n"):
        body += b"\n"
    return f"From {sender} {when}\n".encode("ascii", "replace") + flags + body + b"\n"


def export_filename(name: str, *, extension: str, dated: bool = True) -> str:
    """A file name safe on every file system (``content_disposition_header`` encodes what is not ASCII)."""
    clean = _FILENAME_UNSAFE.sub("_", name).strip(" ._")[:80] or "mail"
    return f"{clean}-{timezone.localdate().isoformat()}.{extension}" if dated else f"{clean}.{extension}"
