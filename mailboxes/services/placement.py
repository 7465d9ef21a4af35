"""Putting a stored message into a user's mailbox."""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from mailboxes.conversations import assign_thread, refresh_thread
from mailboxes.models import Folder, MailboxItem, Message


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
    returns the first item unchanged.
    """
    with transaction.atomic():
        lock_mailbox(user)
        existing = MailboxItem.objects.filter(user=user, message=message, origin=origin).first()
        if existing:
            return existing
        thread = assign_thread(user=user, message=message)
        item = MailboxItem.objects.create(
            user=user,
            message=message,
            thread=thread,
            origin=origin,
            folder=folder,
            is_read=is_read,
            received_at=received_at or timezone.now(),
        )
        refresh_thread(thread)
    return item
