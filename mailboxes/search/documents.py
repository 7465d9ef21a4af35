"""What is indexed for a mailbox item, read from the message store."""

import logging

from mailboxes.blobstore import read_blob
from mailboxes.models import Attachment, MailboxItem
from mailboxes.parsing import parse_body_text
from mailboxes.search.backends import IndexDocument, ItemState

logger = logging.getLogger(__name__)


def _people(entries) -> str:
    return " ".join(f"{entry.get('name', '')} {entry.get('address', '')}" for entry in entries or [])


def _body_text(message) -> str:
    """The readable body (HTML converted to text); the snippet if the bytes cannot be read."""
    try:
        return parse_body_text(read_blob(message.blob))
    except Exception:  # a missing or unreadable blob must not stop indexing the rest
        logger.warning("search: cannot read the body of message %s; indexing its snippet", message.pk, exc_info=True)
        return message.snippet


def build_documents(item_ids: list[int]) -> list[IndexDocument]:
    """The documents of those items that still exist (the rest are simply absent)."""
    items = list(
        MailboxItem.objects.filter(pk__in=item_ids)
        .select_related("message", "message__blob")
        .prefetch_related("labels")
        .order_by("pk")
    )
    message_ids = {item.message_id for item in items}
    filenames: dict[int, list[str]] = {}
    for message_id, filename in Attachment.objects.filter(message_id__in=message_ids).values_list(
        "message_id", "filename"
    ):
        filenames.setdefault(message_id, []).append(filename)
    bodies: dict[int, str] = {}  # a message in several mailboxes is parsed once
    documents = []
    for item in items:
        message = item.message
        if message.pk not in bodies:
            bodies[message.pk] = _body_text(message)
        documents.append(
            IndexDocument(
                item_id=item.pk,
                user_id=item.user_id,
                thread_id=item.thread_id,
                received_at=item.received_at,
                subject=message.subject,
                sender=f"{message.from_name} {message.from_address}",
                to=_people(message.to),
                cc=_people(message.cc),
                body=bodies[message.pk],
                filenames=filenames.get(message.pk, []),
                folder=item.folder,
                labels=[label.name for label in item.labels.all()],
                is_read=item.is_read,
                is_starred=item.is_starred,
                has_attachments=message.has_attachments,
                size=message.size,
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
