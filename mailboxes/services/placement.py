"""Putting a stored message into a user's mailbox."""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
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
        same = Q(message=message)
        if origin == MailboxItem.Origin.RECEIVED and message.message_id:
            same |= Q(message__message_id=message.message_id, message__from_address__iexact=message.from_address)
        found = list(MailboxItem.objects.filter(same, user=user, origin=origin).order_by("pk"))
        existing = next((i for i in found if i.message_id == message.pk), found[0] if found else None)
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
