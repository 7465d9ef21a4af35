"""Snooze: a conversation leaves the Inbox until a time, then comes back to its top, unread.

While snoozed, an item keeps its folder (Inbox) and has ``snoozed_until`` set;
the Inbox leaves it out and the "Snoozed" list shows it. ``wake_snoozed`` (a
periodic task) clears it when due, marks it unread and sets ``woke_at``: the
conversation's ``latest_at`` counts that time as activity, so it is listed at
the top as of its wake time. The wake is recorded as new mail in the change
feed, so the page and push notices see it come back.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.preferences import time_zone_of
from mailboxes.conversations import refresh_threads
from mailboxes.exceptions import FolderNotAllowed
from mailboxes.local_times import MORNING, NoSuchLocalTime, at, next_monday, parse_local
from mailboxes.models import Folder, MailboxChange, MailboxItem
from mailboxes.services.actions import _items_for_update, _update
from webmail.errors import UserError

# The furthest ahead a snooze may go.
MAX_SNOOZE = timedelta(days=366)


class InvalidSnoozeTime(UserError):
    code = "invalid_snooze_time"


@dataclass(frozen=True)
class SnoozeChoice:
    key: str
    label: str
    until: datetime


CHOICE_LABELS = {
    "later": gettext_lazy("Later today"),
    "later_tonight": gettext_lazy("In 3 hours"),  # late in the evening "later" is already tomorrow
    "tomorrow": gettext_lazy("Tomorrow"),
    "next_week": gettext_lazy("Next week"),
}


def snooze_choices(*, user, now: datetime | None = None) -> list[SnoozeChoice]:
    """The preset times, in the user's time zone: +3 hours (on the hour), tomorrow 8:00, next Monday 8:00."""
    zone = time_zone_of(user)
    local = (now or timezone.now()).astimezone(zone)
    later = (local + timedelta(hours=3)).replace(second=0, microsecond=0)
    if later.minute:
        later = later.replace(minute=0) + timedelta(hours=1)
    tomorrow = at(local.date() + timedelta(days=1), MORNING, zone)
    monday = at(next_monday(local.date()), MORNING, zone)
    times = {"later": later, "tomorrow": tomorrow, "next_week": monday}
    labels = {**CHOICE_LABELS, "later": CHOICE_LABELS["later" if later.date() == local.date() else "later_tonight"]}
    return [SnoozeChoice(key, str(labels[key]), until) for key, until in times.items()]


def snooze_time(*, user, choice: str, custom: str = "", now: datetime | None = None) -> datetime:
    """The time a snooze choice means: a preset key, or "custom" with a local date-time ("2026-12-24T09:30")."""
    now = now or timezone.now()
    if choice == "custom":
        try:
            return parse_local(custom, zone=time_zone_of(user))
        except NoSuchLocalTime as exc:
            if exc.skipped:
                raise InvalidSnoozeTime(
                    _("That time does not exist in your time zone (the clocks change)."), field="snooze_at"
                ) from None
            raise InvalidSnoozeTime(_("Choose a date and time to snooze until."), field="snooze_at") from None
    for option in snooze_choices(user=user, now=now):
        if option.key == choice:
            return option.until
    raise InvalidSnoozeTime(_("Choose when the conversation should come back."), field="until")


@transaction.atomic
def snooze_items(*, user, item_ids: Iterable, until: datetime, now: datetime | None = None) -> int:
    """Hide Inbox items until ``until``; mail elsewhere cannot be snoozed."""
    now = now or timezone.now()
    if until <= now:
        raise InvalidSnoozeTime(_("Choose a time in the future."), field="snooze_at")
    if until > now + MAX_SNOOZE:
        raise InvalidSnoozeTime(_("Snooze for a year at most."), field="snooze_at")
    items = _items_for_update(user, item_ids)
    if any(item.folder != Folder.INBOX for item in items):
        raise FolderNotAllowed(_("Only conversations in the Inbox can be snoozed."), field="folder")
    return _update(items, snoozed_until=until)


@transaction.atomic
def unsnooze_items(*, user, item_ids: Iterable) -> int:
    """Back in the Inbox now (as they were: read stays read)."""
    return _update(_items_for_update(user, item_ids), snoozed_until=None)


def wake_snoozed(*, now: datetime | None = None, limit: int = 500) -> int:
    """Wake every snoozed item that is due (at most ``limit``); returns how many woke.

    Claimed with ``SKIP LOCKED``, so two runs at once wake each item once.
    """
    now = now or timezone.now()
    with transaction.atomic():
        due = MailboxItem.objects.select_for_update(skip_locked=True).filter(snoozed_until__lte=now)
        items = list(due.order_by("snoozed_until", "pk")[:limit])
        back = set()
        for item in items:
            if item.folder in (Folder.INBOX, Folder.ARCHIVE):
                # Listed as of the promised time, not of whenever this run happened to come.
                item.folder, item.is_read, item.woke_at = Folder.INBOX, False, item.snoozed_until
                back.add(item.pk)
            item.snoozed_until = None
            item.save(update_fields=["folder", "is_read", "woke_at", "snoozed_until", "updated_at"])
        refresh_threads({item.thread_id for item in items})
        woken = [item for item in items if item.pk in back]
        if woken:
            MailboxChange.record_items(woken, kind=MailboxChange.Kind.NEW)
        if len(woken) < len(items):  # snoozed, then moved to Trash or Spam: stays there
            MailboxChange.record_items([item for item in items if item.pk not in back], kind=MailboxChange.Kind.STATE)
    return len(items)
