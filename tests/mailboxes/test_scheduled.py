"""Schedule send: presets on the user's clock, validation, the Scheduled list, the due sweep, Cancel send."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from mailboxes.models import Folder, MailboxItem
from mailboxes.services.drafts import save_draft
from mailboxes.services.scheduled import (
    InvalidSendTime,
    cancel_scheduled,
    parse_local_time,
    schedule_draft,
    schedule_options,
    scheduled_items,
)
from mailboxes.services.undo import AlreadySent, schedule_send, send_due_messages
from webmail.errors import UserError

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
# A Wednesday, 23:30 in Shanghai (15:30 UTC).
NOW = dt.datetime(2026, 12, 9, 15, 30, tzinfo=dt.UTC)


def _draft(user, **values):
    fields = {"to": "bob@example.test", "subject": "Later", "text": "See you tomorrow."} | values
    return save_draft(user=user, **fields)


def test_presets_are_tomorrow_morning_afternoon_and_next_monday_on_the_users_clock():
    options = schedule_options(zone=SHANGHAI, now=NOW)
    assert [o.key for o in options] == ["tomorrow-morning", "tomorrow-afternoon", "monday-morning"]
    assert [o.value for o in options] == ["2026-12-10T08:00", "2026-12-10T13:00", "2026-12-14T08:00"]
    # 8:00 in Shanghai is midnight UTC.
    assert options[0].local.astimezone(dt.UTC) == dt.datetime(2026, 12, 10, 0, 0, tzinfo=dt.UTC)
    # In Berlin it is still Wednesday afternoon: "tomorrow" is Thursday there too, a different instant.
    assert schedule_options(zone=BERLIN, now=NOW)[0].local.astimezone(dt.UTC).hour == 7


def test_on_a_monday_the_monday_preset_is_next_week():
    monday = dt.datetime(2026, 12, 14, 9, 0, tzinfo=BERLIN)
    assert schedule_options(zone=BERLIN, now=monday)[2].value == "2026-12-21T08:00"


def test_a_picked_time_is_read_in_the_users_zone_and_a_skipped_hour_is_refused():
    assert parse_local_time("2027-03-28T08:00", zone=BERLIN) == dt.datetime(2027, 3, 28, 6, 0, tzinfo=dt.UTC)
    with pytest.raises(InvalidSendTime):
        parse_local_time("2027-03-28T02:30", zone=BERLIN)  # the clocks jump from 2:00 to 3:00
    with pytest.raises(InvalidSendTime):
        parse_local_time("tomorrow", zone=BERLIN)


def test_scheduling_refuses_the_past_and_more_than_a_year_ahead(alice):
    draft = _draft(alice)
    with pytest.raises(InvalidSendTime):
        schedule_draft(user=alice, draft_id=draft.pk, send_at=NOW - dt.timedelta(minutes=1), now=NOW)
    with pytest.raises(InvalidSendTime):
        schedule_draft(user=alice, draft_id=draft.pk, send_at=NOW + dt.timedelta(days=366), now=NOW)
    draft.refresh_from_db()
    assert draft.send_at is None and not draft.send_scheduled


def test_scheduling_a_draft_without_recipients_is_refused_now(alice):
    draft = _draft(alice, to="")
    with pytest.raises(UserError):
        schedule_draft(user=alice, draft_id=draft.pk, send_at=NOW + dt.timedelta(hours=9), now=NOW)
    assert not scheduled_items(user=alice).exists()


def test_a_scheduled_draft_waits_for_its_time_then_the_sweep_sends_it(alice, bob, django_capture_on_commit_callbacks):
    draft = _draft(alice)
    send_at = NOW + dt.timedelta(hours=8, minutes=30)
    schedule_draft(user=alice, draft_id=draft.pk, send_at=send_at, now=NOW)
    assert list(scheduled_items(user=alice)) == [draft]

    assert send_due_messages(now=send_at - dt.timedelta(seconds=1)) == 0
    assert not MailboxItem.objects.filter(user=bob).exists()

    with django_capture_on_commit_callbacks(execute=True):
        assert send_due_messages(now=send_at) == 1
    draft.refresh_from_db()
    assert draft.folder == Folder.SENT and draft.send_at is None and not draft.send_scheduled
    assert MailboxItem.objects.get(user=bob).message.subject == "Later"
    assert not scheduled_items(user=alice).exists()
    with pytest.raises(AlreadySent):  # too late to cancel
        cancel_scheduled(user=alice, draft_id=draft.pk)


def test_cancel_send_turns_it_back_into_an_editable_draft(alice, bob):
    draft = _draft(alice)
    send_at = NOW + dt.timedelta(days=2)
    schedule_draft(user=alice, draft_id=draft.pk, send_at=send_at, now=NOW)
    cancel_scheduled(user=alice, draft_id=draft.pk)
    draft.refresh_from_db()
    assert draft.folder == Folder.DRAFTS and draft.send_at is None and not draft.send_scheduled
    assert send_due_messages(now=send_at + dt.timedelta(days=1)) == 0
    assert not MailboxItem.objects.filter(user=bob).exists()
    save_draft(user=alice, draft_id=draft.pk, to="bob@example.test", subject="Edited")  # editable again


def test_send_on_a_scheduled_draft_sends_it_after_the_undo_window_instead(alice):
    draft = _draft(alice)
    schedule_draft(user=alice, draft_id=draft.pk, send_at=timezone.now() + dt.timedelta(days=1))
    schedule_send(user=alice, draft_id=draft.pk)
    draft.refresh_from_db()
    assert not draft.send_scheduled and draft.send_at < timezone.now() + dt.timedelta(minutes=1)


def test_another_users_draft_cannot_be_scheduled_or_cancelled(alice, mallory):
    draft = _draft(alice)
    with pytest.raises(UserError) as caught:
        schedule_draft(user=mallory, draft_id=draft.pk, send_at=NOW + dt.timedelta(hours=1), now=NOW)
    assert caught.value.status == 404
    schedule_draft(user=alice, draft_id=draft.pk, send_at=NOW + dt.timedelta(hours=1), now=NOW)
    with pytest.raises(UserError) as caught:
        cancel_scheduled(user=mallory, draft_id=draft.pk)
    assert caught.value.status == 404
    assert not scheduled_items(user=mallory).exists()
