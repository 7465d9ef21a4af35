"""Who a user writes to and hears from, counted as mail is sent and placed (compose's address suggestions).

One ``INSERT … ON CONFLICT DO UPDATE`` per batch (PostgreSQL and SQLite ≥ 3.24 both have it), rows in
a fixed order so two concurrent batches cannot deadlock on them.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from mailboxes.models import Correspondent, Folder, MailboxItem, Message

# Mail in these folders says nothing about whom the user knows.
_IGNORED_FOLDERS = {Folder.SPAM, Folder.TRASH}


@dataclass(frozen=True)
class Contact:
    user_id: int
    address: str
    name: str
    sent: int
    received: int
    at: datetime


def record_sent(*, user_id: int, recipients, at: datetime) -> None:
    """The ``(kind, name, address)`` envelope of a message the user sent."""
    record([Contact(user_id, address, name, 1, 0, at) for _kind, name, address in recipients])


def record_received_items(items: list[MailboxItem]) -> None:
    """Senders of newly placed received items (their ``message`` loaded), except spam and trash."""
    contacts = []
    for item in items:
        message: Message = item.message
        received = item.origin == MailboxItem.Origin.RECEIVED and item.folder not in _IGNORED_FOLDERS
        if received and message.from_address and message.sender_id != item.user_id:
            contacts.append(Contact(item.user_id, message.from_address, message.from_name, 0, 1, item.received_at))
    record(contacts)


def record(contacts: list[Contact]) -> None:
    merged: dict[tuple[int, str], Contact] = {}
    for c in contacts:
        address = (c.address or "").strip().lower()
        if not address or "@" not in address or len(address) > 320:
            continue
        key = (c.user_id, address)
        before = merged.get(key)
        name = (c.name or "").strip()[:300]
        if before is not None:
            name = name or before.name
            c = Contact(
                c.user_id, address, name, before.sent + c.sent, before.received + c.received, max(c.at, before.at)
            )
        merged[key] = Contact(c.user_id, address, name, c.sent, c.received, c.at)
    if not merged:
        return
    rows = [merged[key] for key in sorted(merged)]
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        _upsert(rows[start : start + _ROWS_PER_STATEMENT])


# Six parameters a row: well under SQLite's (32,766) and PostgreSQL's (65,535) limits.
_ROWS_PER_STATEMENT = 500


def _upsert(rows: list[Contact]) -> None:
    table = connection.ops.quote_name(Correspondent._meta.db_table)
    values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(rows))
    at = connection.ops.adapt_datetimefield_value
    params = [p for c in rows for p in (c.user_id, c.address, c.name, c.sent, c.received, at(c.at))]
    # The table name is ours and every value a parameter.
    sql = (
        f"INSERT INTO {table} (user_id, address, name, sent_count, received_count, last_at) VALUES {values} "  # noqa: S608
        "ON CONFLICT (user_id, address) DO UPDATE SET "
        f"sent_count = {table}.sent_count + excluded.sent_count, "
        f"received_count = {table}.received_count + excluded.received_count, "
        f"last_at = CASE WHEN excluded.last_at > {table}.last_at THEN excluded.last_at ELSE {table}.last_at END, "
        f"name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE {table}.name END"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def rebuild_correspondents(*, user) -> int:
    """Count again from the mailbox (for mail stored before this table existed); returns the rows kept."""
    Correspondent.objects.filter(user=user).delete()
    items = (
        MailboxItem.objects.filter(user=user, origin=MailboxItem.Origin.RECEIVED)
        .exclude(folder__in=_IGNORED_FOLDERS)
        .select_related("message")
        .only("user_id", "origin", "folder", "received_at", "message__from_address", "message__from_name",
              "message__sender_id")
    )  # fmt: skip
    batch: list[MailboxItem] = []
    for item in items.iterator(chunk_size=1000):
        batch.append(item)
        if len(batch) == 1000:
            record_received_items(batch)
            batch = []
    record_received_items(batch)
    sent = Message.objects.filter(sender=user, items__user=user, items__folder=Folder.SENT)
    for message in sent.prefetch_related("recipients").iterator(chunk_size=500):
        record_sent(
            user_id=user.pk, recipients=[(r.kind, r.name, r.address) for r in message.recipients.all()],
            at=message.created_at,
        )  # fmt: skip
    return Correspondent.objects.filter(user=user).count()
