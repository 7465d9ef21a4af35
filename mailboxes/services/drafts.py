"""Drafts: messages a user is still writing, kept in Drafts until sent or discarded."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mailboxes.blobstore import read_blob
from mailboxes.compose import Composition, OutgoingAttachment, compose, render
from mailboxes.conversations import assign_thread, refresh_thread
from mailboxes.exceptions import DraftNotFound, ItemNotFound
from mailboxes.models import Attachment, Folder, MailboxChange, MailboxItem, Message, ThreadKey
from mailboxes.parsing import parse_message
from mailboxes.selectors import parse_pk
from mailboxes.services.placement import lock_mailbox, place_message
from mailboxes.services.store import delete_orphan_messages, replace_message_content, store_message

MAX_REFERENCES = 20


def reply_headers(*, user, item_id) -> tuple[str, list[str]]:
    """In-Reply-To and References for answering one of the user's messages."""
    if item_id is None:
        return "", []
    parent = MailboxItem.objects.select_related("message").filter(user=user, pk=parse_pk(item_id)).first()
    if parent is None:
        raise ItemNotFound(_("The message you are replying to does not exist."), field="in_reply_to")
    original = parent.message
    references = [*original.references, original.message_id] if original.message_id else list(original.references)
    # Keep the root and the most recent ancestors, as RFC 5322 suggests.
    if len(references) > MAX_REFERENCES:
        references = [references[0], *references[-(MAX_REFERENCES - 1) :]]
    return original.message_id, references


def get_draft_for_update(*, user, draft_id, in_trash_too: bool = False) -> MailboxItem:
    """The user's draft, locked. A trashed draft is only found for discarding: restore it to edit or send it."""
    drafts = MailboxItem.objects.select_for_update().select_related("message")
    drafts = drafts.filter(
        user=user, pk=parse_pk(draft_id), origin=MailboxItem.Origin.SENT, message__status=Message.Status.DRAFT
    )
    item = (drafts if in_trash_too else drafts.filter(folder=Folder.DRAFTS)).first()
    if item is None:
        raise DraftNotFound(_("No such draft."))
    return item


def draft_attachments(message: Message) -> list[OutgoingAttachment]:
    """The message's attachments to carry into a draft (its own, or a forward): never one held back by the scanner."""
    return [
        OutgoingAttachment(filename=a.filename, content_type=a.content_type, content=read_blob(a.blob))
        for a in message.attachments.select_related("blob")
        .exclude(scan_status__in=Attachment.UNAVAILABLE)
        .order_by("position")
    ]


def _quoted(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')


def draft_composition(*, user, item: MailboxItem) -> Composition:
    """What the draft says, read back from its stored bytes."""
    message = item.message
    parsed = parse_message(read_blob(message.blob))

    def pairs(entries):
        # Quote the display name: "Builder, Bob" unquoted would read as two addresses.
        return [f'"{_quoted(e["name"])}" <{e["address"]}>' if e["name"] else e["address"] for e in entries]

    return compose(
        user=user,
        from_address=parsed.from_address or None,
        to=pairs(parsed.to),
        cc=pairs(parsed.cc),
        bcc=pairs(parsed.bcc),
        subject=parsed.subject,
        text=parsed.text,
        html=parsed.html,
        attachments=draft_attachments(message),
        message_id=message.message_id,
        in_reply_to=message.in_reply_to,
        references=message.references,
    )


def save_draft(
    *,
    user,
    draft_id=None,
    from_address: str | None = None,
    to=(),
    cc=(),
    bcc=(),
    subject: str = "",
    text: str = "",
    html: str = "",
    attachments=None,
    in_reply_to_item_id=None,
) -> MailboxItem:
    """Create a draft, or replace the content of an existing one.

    ``attachments=None`` keeps a draft's current attachments; a list replaces them.
    """
    now = timezone.now()
    with transaction.atomic():
        item = get_draft_for_update(user=user, draft_id=draft_id) if draft_id is not None else None
        if in_reply_to_item_id is not None or item is None:
            in_reply_to, references = reply_headers(user=user, item_id=in_reply_to_item_id)
        else:
            in_reply_to, references = item.message.in_reply_to, item.message.references
        if attachments is None:
            attachments = draft_attachments(item.message) if item else []
        composition = compose(
            user=user,
            from_address=from_address,
            to=to,
            cc=cc,
            bcc=bcc,
            subject=subject,
            text=text,
            html=html,
            attachments=attachments,
            message_id=item.message.message_id if item else "",
            in_reply_to=in_reply_to,
            references=references,
        )
        raw = render(composition, date=now, include_bcc=True)
        if item is None:
            message, _stored = store_message(raw=raw, status=Message.Status.DRAFT, sender=user)
            item = place_message(
                user=user, message=message, origin=MailboxItem.Origin.SENT, folder=Folder.DRAFTS, is_read=True
            )
            MailboxChange.record(user_id=user.pk, item_ids=[item.pk], kind=MailboxChange.Kind.UPDATED)
            return item
        threading_before = (item.message.in_reply_to, list(item.message.references))
        replace_message_content(message=item.message, raw=raw)
        item.received_at = now
        item.save(update_fields=["received_at", "updated_at"])
        if (item.message.in_reply_to, list(item.message.references)) != threading_before:
            _rethread(user=user, item=item)
        refresh_thread(item.thread)
        MailboxChange.record(user_id=user.pk, item_ids=[item.pk], kind=MailboxChange.Kind.UPDATED)
        return item


def _rethread(*, user, item: MailboxItem) -> None:
    """Move a draft whose reply headers changed into the conversation they now name."""
    lock_mailbox(user)
    old_thread = item.thread
    # Only the draft carries its own Message-ID: drop that key, or it would pull the old thread along.
    ThreadKey.objects.filter(user=user, thread=old_thread, message_key=item.message.message_id).delete()
    new_thread = assign_thread(user=user, message=item.message)
    if new_thread.pk != old_thread.pk:
        item.thread = new_thread
        item.save(update_fields=["thread", "updated_at"])
        refresh_thread(old_thread)


def discard_draft(*, user, draft_id) -> None:
    with transaction.atomic():
        item = get_draft_for_update(user=user, draft_id=draft_id, in_trash_too=True)
        thread = item.thread
        MailboxItem.objects.filter(pk=item.pk).delete()
        refresh_thread(thread)
        MailboxChange.record(user_id=user.pk, item_ids=[item.pk], kind=MailboxChange.Kind.DELETED)
        delete_orphan_messages([item.message_id])
