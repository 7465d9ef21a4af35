"""Storing messages: raw bytes into the blob store, parsed fields into the row."""

from django.db import connection, transaction

from core.bulk import insert_objects
from mailboxes.blobstore import delete_unreferenced_blobs, store_blob, store_blobs
from mailboxes.models import Attachment, Message, Recipient
from mailboxes.parsing import ParsedMessage, parse_message

# What a virus scan made of a message's attachments: {position: (scan status, scan reason)} for the
# ones held back or warned about, the others clean. None: not scanned (mail written here).
AttachmentScans = dict[int, tuple[str, str]] | None


def store_message(
    *,
    raw: bytes,
    status: str = Message.Status.RECEIVED,
    sender=None,
    created_at=None,
    parsed: ParsedMessage | None = None,
    stream: str = Message.Stream.PERSONAL,
    scans: AttachmentScans = None,
) -> tuple[Message, ParsedMessage]:
    """Keep the exact bytes and a parsed view of them. Never fails on malformed mail.

    One transaction: no message row without its attachments, and the blob rows
    stay locked (``store_blob``) until the rows referring to them are committed,
    so the orphan sweep cannot delete a blob between its write and its first use.
    ``parsed`` saves parsing again when the caller already holds ``parse_message(raw)``;
    ``scans`` is what the virus scanner made of its attachments.
    """
    if parsed is None:
        parsed = parse_message(raw)
    with transaction.atomic():
        message = Message(blob=store_blob(raw), sender=sender, status=status, size=len(raw), stream=stream)
        if created_at is not None:
            message.created_at = created_at
        _apply_parsed(message, parsed)
        message.save()
        _store_attachments(message, parsed, scans)
    return message, parsed


def store_messages(
    parsed_messages: list[tuple[bytes, ParsedMessage]],
    scans: list[AttachmentScans] | None = None,
    *,
    status: str = Message.Status.RECEIVED,
    sender=None,
    stream: str = Message.Stream.PERSONAL,
    created_at=None,
) -> list[Message]:
    """``store_message`` for many messages already parsed: one ``INSERT`` each of blobs, messages, attachments.

    ``scans``, one per message, as ``store_message``'s. The files should have been
    written ahead (``write_blob_files``); otherwise they are written here.
    ``status``, ``sender``, ``stream`` and ``created_at`` as ``store_message``'s,
    the same for all (a batch send stores its messages as queued).
    """
    scans = scans or [None] * len(parsed_messages)
    with transaction.atomic():
        blobs = iter(store_blobs([data for raw, parsed in parsed_messages for data in _contents(raw, parsed)]))
        messages, attachments = [], []
        for (raw, parsed), scan in zip(parsed_messages, scans, strict=True):
            message = Message(blob=next(blobs), status=status, size=len(raw), sender=sender, stream=stream)
            if created_at is not None:
                message.created_at = created_at
            _apply_parsed(message, parsed)
            messages.append(message)
            attachments += [
                _attachment(message, position, part, next(blobs), scan)
                for position, part in enumerate(parsed.attachments)
            ]
        if connection.features.can_return_rows_from_bulk_insert:
            insert_objects(messages)
        else:
            for message in messages:
                message.save(force_insert=True)
        insert_objects(attachments)  # with the messages' new ids
    return messages


def _contents(raw: bytes, parsed: ParsedMessage) -> list[bytes]:
    return [raw, *(part.content for part in parsed.attachments)]


def replace_message_content(*, message: Message, raw: bytes, status: str | None = None) -> ParsedMessage:
    """New bytes for a message that is still being written (a draft, or a draft being sent)."""
    parsed = parse_message(raw)
    with transaction.atomic():  # as in store_message
        if status is not None:
            message.status = status
        old_blobs = {message.blob_id, *message.attachments.values_list("blob_id", flat=True)}
        message.blob = store_blob(raw)
        message.size = len(raw)
        _apply_parsed(message, parsed)
        message.save()
        message.attachments.all().delete()
        _store_attachments(message, parsed)
        release_blobs_on_commit(old_blobs)
    return parsed


def delete_orphan_messages(message_ids) -> None:
    """Delete messages no mailbox holds any more, and later their blobs.

    A message still waiting to be delivered to someone is kept: the sender
    deleting their copy does not recall it.
    """
    orphans = Message.objects.filter(pk__in=set(message_ids), items__isnull=True).exclude(
        recipients__status__in=Recipient.PENDING_STATUSES
    )
    blobs = set(orphans.values_list("blob_id", flat=True))
    blobs |= set(Attachment.objects.filter(message__in=orphans).values_list("blob_id", flat=True))
    orphans.delete()
    release_blobs_on_commit(blobs)


def release_blobs_on_commit(sha256s) -> None:
    """Delete the blobs once the transaction that dropped them commits, if nothing else uses them.

    Robust: the data change has committed by then, so a storage error must not
    turn it into a failed request (the orphan sweep deletes what is left).
    """
    sha256s = set(sha256s)
    if sha256s:
        transaction.on_commit(lambda: delete_unreferenced_blobs(sha256s), robust=True)


def _apply_parsed(message: Message, parsed: ParsedMessage) -> None:
    message.message_id = parsed.message_id
    message.in_reply_to = parsed.in_reply_to
    message.references = parsed.references
    message.subject = parsed.subject
    message.from_name = parsed.from_name[:300]
    message.from_address = parsed.from_address[:320]
    message.to = parsed.to
    message.cc = parsed.cc
    message.date = parsed.date
    message.snippet = parsed.snippet[:300]
    message.has_attachments = any(not a.is_inline for a in parsed.attachments)
    message.headers = parsed.headers
    message.parse_defects = parsed.defects
    message.content_fingerprint = parsed.fingerprint


def _store_attachments(message: Message, parsed: ParsedMessage, scans: AttachmentScans = None) -> None:
    Attachment.objects.bulk_create(
        _attachment(message, position, part, store_blob(part.content), scans)
        for position, part in enumerate(parsed.attachments)
    )


def _attachment(message: Message, position: int, part, blob, scans: AttachmentScans = None) -> Attachment:
    if scans is None:
        status, reason = Attachment.ScanStatus.NOT_SCANNED, Attachment.ScanReason.NONE
    else:
        status, reason = scans.get(position, (Attachment.ScanStatus.CLEAN, Attachment.ScanReason.NONE))
    return Attachment(
        message=message,
        blob=blob,
        position=position,
        filename=part.filename[:255],
        content_type=part.content_type[:255],
        size=len(part.content),
        content_id=part.content_id[:255],
        is_inline=part.is_inline,
        scan_status=status,
        scan_reason=reason,
    )
