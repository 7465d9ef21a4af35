"""Putting a stored message into a user's mailbox."""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from mailboxes.conversations import find_or_start_thread, refresh_thread
from mailboxes.models import Folder, MailboxChange, MailboxItem, Message


def lock_mailbox(user) -> None:
    """Serialise changes to one user's threads (a row lock; SQLite serialises writes anyway)."""
    get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk").first()


def place_message(
    *,
    user,
    message: Message,
    origin: str = MailboxItem.Origin.RECEIVED,
    folder: str = Folder.INBOX,
    is_read: bool = False,
    received_at=None,
) -> MailboxItem:
    """The user's item for ``message``, created in ``folder`` and threaded if it is new.

    Idempotent: placing the same message twice for the same user and origin
    returns the first item unchanged. A received message is also the same
    when it repeats the Message-ID and sender of one the user already holds
    (a retried delivery, or a list copy beside the direct one), so it is
    shown once; the caller deletes the duplicate ``Message`` if nobody else
    holds it (``store.delete_orphan_messages``).
    """
    with transaction.atomic():
        lock_mailbox(user)
        existing = MailboxItem.objects.filter(user=user, message=message, origin=origin).first()
        if existing is None and origin == MailboxItem.Origin.RECEIVED and message.message_id:
            # Two queries, not one with OR: an OR across the join to Message cannot use the
            # indexes, and its cost grows with the mailbox.
            existing = (
                MailboxItem.objects.filter(
                    user=user,
                    origin=origin,
                    message__message_id=message.message_id,
                    message__from_address__iexact=message.from_address,
                )
                .order_by("pk")
                .first()
            )
        if existing:
            return existing
        received_at = received_at or timezone.now()
        first_item = {"folder": folder, "is_read": is_read, "received_at": received_at}
        thread, new_thread = find_or_start_thread(user=user, message=message, first_item=first_item)
        item = MailboxItem.objects.create(
            user=user,
            message=message,
            thread=thread,
            origin=origin,
            folder=folder,
            is_read=is_read,
            received_at=received_at,
        )
        if not new_thread:  # a thread started here was created with its summary
            refresh_thread(thread)
        if origin == MailboxItem.Origin.RECEIVED:
            MailboxChange.objects.create(user=user, item_id=item.pk, kind=MailboxChange.Kind.NEW)
    return item
