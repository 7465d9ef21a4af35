"""What is indexed for a mailbox item, read from the message store."""

import logging

from mailboxes.blobstore import read_blob
from mailboxes.models import Attachment, Blob, MailboxItem
from mailboxes.parsing import parse_body_text
from mailboxes.search.backends import IndexDocument, ItemState

logger = logging.getLogger(__name__)


def _people(entries) -> str:
    return " ".join(f"{entry.get('name', '')} {entry.get('address', '')}" for entry in entries or [])


def _body_text(message_id: int, sha256: str, snippet: str) -> str:
    """The readable body (HTML converted to text); the snippet if the bytes cannot be read."""
    try:
        return parse_body_text(read_blob(Blob(sha256=sha256)))
    except Exception:  # a missing or unreadable blob must not stop indexing the rest
        logger.warning("search: cannot read the body of message %s; indexing its snippet", message_id, exc_info=True)
        return snippet


# Read as plain values: model instances (item, message, blob, labels) cost more than the rest of
# the document but the body's parsing. The blob's key is its SHA-256: no join for it.
_DOCUMENT_FIELDS = (
    "pk",
    "user_id",
    "thread_id",
    "received_at",
    "folder",
    "is_read",
    "is_starred",
    "message_id",
    "message__subject",
    "message__from_name",
    "message__from_address",
    "message__to",
    "message__cc",
    "message__has_attachments",
    "message__size",
    "message__snippet",
    "message__blob_id",
)


def build_documents(item_ids: list[int]) -> list[IndexDocument]:
    """The documents of those items that still exist (the rest are simply absent)."""
    rows = list(MailboxItem.objects.filter(pk__in=item_ids).order_by("pk").values_list(*_DOCUMENT_FIELDS))
    labels: dict[int, list[str]] = {}
    through = MailboxItem.labels.through.objects.filter(mailboxitem_id__in=[row[0] for row in rows])
    for item_id, name in through.order_by("label__name").values_list("mailboxitem_id", "label__name"):
        labels.setdefault(item_id, []).append(name)
    filenames: dict[int, list[str]] = {}
    for message_id, filename in Attachment.objects.filter(message_id__in={row[7] for row in rows}).values_list(
        "message_id", "filename"
    ):
        filenames.setdefault(message_id, []).append(filename)
    bodies: dict[int, str] = {}  # a message in several mailboxes is parsed once
    documents = []
    for (
        item_id,
        user_id,
        thread_id,
        received_at,
        folder,
        is_read,
        is_starred,
        message_id,
        subject,
        from_name,
        from_address,
        to,
        cc,
        has_attachments,
        size,
        snippet,
        sha256,
    ) in rows:
        if message_id not in bodies:
            bodies[message_id] = _body_text(message_id, sha256, snippet)
        documents.append(
            IndexDocument(
                item_id=item_id,
                user_id=user_id,
                thread_id=thread_id,
                received_at=received_at,
                subject=subject,
                sender=f"{from_name} {from_address}",
                to=_people(to),
                cc=_people(cc),
                body=bodies[message_id],
                filenames=filenames.get(message_id, []),
                folder=folder,
                labels=labels.get(item_id, []),
                is_read=is_read,
                is_starred=is_starred,
                has_attachments=has_attachments,
                size=size,
            )
        )
    return documents


def build_states(item_ids: list[int]) -> list[ItemState]:
    """Folder, labels and flags of those items that still exist, without reading any message."""
    items = MailboxItem.objects.filter(pk__in=item_ids).prefetch_related("labels").order_by("pk")
    return [
        ItemState(
            item_id=item.pk,
            user_id=item.user_id,
            folder=item.folder,
            labels=[label.name for label in item.labels.all()],
            is_read=item.is_read,
            is_starred=item.is_starred,
        )
        for item in items.only("pk", "user_id", "folder", "is_read", "is_starred")
    ]
