"""Schedule send: a draft sent at a time the user picks ("tomorrow 8:00", in their time zone).

It is the undo window made long: the draft keeps ``send_at`` (and ``send_scheduled``, which keeps it
out of the Undo toast and puts it in the Scheduled list) and the periodic ``send_due_messages`` sweep
sends it (every ``CELERY_BEAT_SCHEDULE["send-due-messages"]`` seconds, 15 by default). No Celery task
is queued per message: a countdown of days could be lost with its broker, the sweep cannot.
Until it is sent, ``cancel_send`` (the same as Undo) turns it back into an editable draft.
"""

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mailboxes.compose import require_recipients
from mailboxes.local_times import MORNING, NoSuchLocalTime, at, next_monday, parse_local
from mailboxes.models import MailboxItem, Message
from mailboxes.services.drafts import draft_composition, get_draft_for_update
from mailboxes.services.undo import _check_admission, cancel_send
from webmail.errors import UserError

AFTERNOON = dt.time(13, 0)


class InvalidSendTime(UserError):
    code = "invalid_send_time"


@dataclass(frozen=True)
class ScheduleOption:
    """One ready-made choice of the Schedule send menu, as the user's clock reads it."""

    key: str
    label: str
    local: dt.datetime  # aware, in the user's zone

    @property
    def value(self) -> str:
        """What the form posts: the wall-clock time, read back in the user's zone."""
        return self.local.strftime("%Y-%m-%dT%H:%M")


def schedule_options(*, zone: ZoneInfo, now: dt.datetime | None = None) -> list[ScheduleOption]:
    """Tomorrow morning, tomorrow afternoon and next Monday morning, in ``zone``."""
    today = (now or timezone.now()).astimezone(zone).date()
    tomorrow = today + dt.timedelta(days=1)
    monday = next_monday(today)
    return [
        ScheduleOption("tomorrow-morning", gettext_lazy("Tomorrow morning"), at(tomorrow, MORNING, zone)),
        ScheduleOption("tomorrow-afternoon", gettext_lazy("Tomorrow afternoon"), at(tomorrow, AFTERNOON, zone)),
        ScheduleOption("monday-morning", gettext_lazy("Monday morning"), at(monday, MORNING, zone)),
    ]


def parse_local_time(value: str, *, zone: ZoneInfo) -> dt.datetime:
    """``YYYY-MM-DDTHH:MM`` (what a datetime-local field posts) on the user's clock, as an aware instant."""
    try:
        return parse_local(value, zone=zone)
    except NoSuchLocalTime as exc:
        if exc.skipped:
            raise InvalidSendTime(
                _("That time does not exist in your time zone (the clocks change)."), field="send_at"
            ) from None
        raise InvalidSendTime(_("Choose a date and time to send it."), field="send_at") from None


def check_send_time(send_at: dt.datetime, *, now: dt.datetime) -> None:
    if send_at.tzinfo is None or send_at.utcoffset() is None:
        raise InvalidSendTime(_("Choose a date and time to send it."), field="send_at")
    if send_at <= now:
        raise InvalidSendTime(_("The send time is in the past. Choose a later time."), field="send_at")
    if send_at > now + dt.timedelta(days=settings.SCHEDULE_SEND_MAX_DAYS):
        raise InvalidSendTime(
            _("A message can be scheduled at most %(days)d days ahead.") % {"days": settings.SCHEDULE_SEND_MAX_DAYS},
            field="send_at",
        )


def schedule_draft(*, user, draft_id, send_at: dt.datetime, now: dt.datetime | None = None) -> MailboxItem:
    """Have a draft sent at ``send_at`` (aware). Refuses now what would be refused then (recipients, quotas)."""
    from delivery.services.metrics import Channel, counting_submission  # delivery imports the mailbox services

    now = now or timezone.now()
    check_send_time(send_at, now=now)
    with counting_submission(Channel.WEBMAIL, count_accepted=False), transaction.atomic():
        item = get_draft_for_update(user=user, draft_id=draft_id)
        composition = draft_composition(user=user, item=item)
        require_recipients(composition)
        _check_admission(user=user, composition=composition, stream=item.message.stream)
        item.send_at = send_at
        item.send_scheduled = True
        item.save(update_fields=["send_at", "send_scheduled", "updated_at"])
    return item


def cancel_scheduled(*, user, draft_id) -> MailboxItem:
    """Back to an editable draft; too late once the sweep has handed it to delivery (``AlreadySent``)."""
    return cancel_send(user=user, draft_id=draft_id)


def scheduled_items(*, user) -> QuerySet[MailboxItem]:
    """The user's drafts waiting for their send time, soonest first."""
    return (
        MailboxItem.objects.filter(
            user=user, send_at__isnull=False, send_scheduled=True, message__status=Message.Status.DRAFT
        )
        .select_related("message", "thread")
        .order_by("send_at", "pk")
    )


def scheduled_count(*, user) -> int:
    return MailboxItem.objects.filter(user=user, send_at__isnull=False, send_scheduled=True).count()
