"""Undo of archive, trash, spam, move, labels, flags and snooze: each item put back exactly as it was."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from inbound.filters.bayes import train, trained_as
from mailboxes import selectors, services
from mailboxes.models import Folder, MailboxChange, MailboxItem, UndoableAction
from mailboxes.services.undoable import UndoExpired, UndoNotFound, purge_undoable_actions
from tests.factories import LabelFactory, deliver, raw_email

pytestmark = pytest.mark.django_db


@pytest.fixture
def item(alice):
    return deliver(raw_email(subject="Invoice", to="alice@example.test", body="Pay me"), alice)[0]


def _undoable(user, kind, items, action, **kwargs):
    return services.run_undoable(user=user, kind=kind, item_ids=[i.pk for i in items], action=action, **kwargs)


def _state(item):
    item = MailboxItem.objects.get(pk=item.pk)
    return (item.folder, item.previous_folder, item.is_read, item.is_starred, item.snoozed_until,
            sorted(item.labels.values_list("pk", flat=True)))  # fmt: skip


@pytest.mark.parametrize(
    "kind, run",
    [
        ("archive", lambda user, ids: services.archive_items(user=user, item_ids=ids)),
        ("trash", lambda user, ids: services.trash_items(user=user, item_ids=ids)),
        ("spam", lambda user, ids: services.mark_spam(user=user, item_ids=ids)),
        ("read", lambda user, ids: services.mark_read(user=user, item_ids=ids)),
        ("star", lambda user, ids: services.set_starred(user=user, item_ids=ids)),
    ],
)
def test_undo_puts_the_item_back_exactly(alice, item, kind, run):
    before = _state(item)
    action = _undoable(alice, kind, [item], lambda: run(alice, [item.pk]))
    assert _state(item) != before
    undone, count = services.undo_action(user=alice, action_id=action.pk)
    assert (undone.kind, count) == (kind, 1)
    assert _state(item) == before
    assert not UndoableAction.objects.filter(pk=action.pk).exists()  # once only


def test_undoing_a_trash_from_the_archive_goes_back_to_the_archive_not_the_inbox(alice, item):
    services.archive_items(user=alice, item_ids=[item.pk])
    action = _undoable(alice, "trash", [item], lambda: services.trash_items(user=alice, item_ids=[item.pk]))
    services.undo_action(user=alice, action_id=action.pk)
    assert _state(item)[:2] == (Folder.ARCHIVE, "")


def test_undoing_a_move_restores_each_item_to_its_own_folder(alice, item):
    other = deliver(raw_email(subject="Other", to="alice@example.test"), alice)[0]
    services.archive_items(user=alice, item_ids=[other.pk])
    ids = [item.pk, other.pk]
    action = _undoable(alice, "trash", [item, other], lambda: services.trash_items(user=alice, item_ids=ids))
    services.undo_action(user=alice, action_id=action.pk)
    assert _state(item)[0] == Folder.INBOX
    assert _state(other)[0] == Folder.ARCHIVE


def test_labels_added_and_removed_are_put_back(alice, item):
    receipts, work = LabelFactory(user=alice, name="Receipts"), LabelFactory(user=alice, name="Work")
    services.add_labels(user=alice, item_ids=[item.pk], label_ids=[work.pk])
    added = _undoable(
        alice, "label", [item], lambda: services.add_labels(user=alice, item_ids=[item.pk], label_ids=[receipts.pk])
    )
    services.undo_action(user=alice, action_id=added.pk)
    assert _state(item)[5] == [work.pk]
    removed = _undoable(
        alice, "unlabel", [item], lambda: services.remove_labels(user=alice, item_ids=[item.pk], label_ids=[work.pk])
    )
    services.undo_action(user=alice, action_id=removed.pk)
    assert _state(item)[5] == [work.pk]


def test_a_label_deleted_since_is_not_put_back(alice, item):
    receipts = LabelFactory(user=alice, name="Receipts")
    services.add_labels(user=alice, item_ids=[item.pk], label_ids=[receipts.pk])
    action = _undoable(
        alice, "unlabel", [item],
        lambda: services.remove_labels(user=alice, item_ids=[item.pk], label_ids=[receipts.pk]),
    )  # fmt: skip
    services.delete_label(user=alice, label_id=receipts.pk)
    _undone, count = services.undo_action(user=alice, action_id=action.pk)
    assert count == 0
    assert _state(item)[5] == []


def test_an_item_changed_since_keeps_its_newer_state(alice, item):
    archived = _undoable(alice, "archive", [item], lambda: services.archive_items(user=alice, item_ids=[item.pk]))
    services.trash_items(user=alice, item_ids=[item.pk])  # moved again, by hand or on another device
    _undone, count = services.undo_action(user=alice, action_id=archived.pk)
    assert count == 0
    assert _state(item)[0] == Folder.TRASH


def test_an_item_deleted_since_is_skipped(alice, item):
    trashed = _undoable(alice, "trash", [item], lambda: services.trash_items(user=alice, item_ids=[item.pk]))
    services.delete_forever(user=alice, item_ids=[item.pk])
    assert services.undo_action(user=alice, action_id=trashed.pk)[1] == 0


def test_nothing_changed_means_nothing_to_undo(alice, item):
    services.mark_read(user=alice, item_ids=[item.pk])
    assert _undoable(alice, "read", [item], lambda: services.mark_read(user=alice, item_ids=[item.pk])) is None


def test_undo_is_recorded_in_the_change_feed(alice, item):
    action = _undoable(alice, "archive", [item], lambda: services.archive_items(user=alice, item_ids=[item.pk]))
    last = MailboxChange.objects.order_by("-pk").first().pk
    services.undo_action(user=alice, action_id=action.pk)
    assert list(MailboxChange.objects.filter(pk__gt=last).values_list("item_id", "kind")) == [
        (item.pk, MailboxChange.Kind.STATE)
    ]


def test_undoing_a_spam_report_takes_the_lesson_back(alice, item):
    assert trained_as(user=alice, message=item.message) is None
    action = _undoable(alice, "spam", [item], lambda: services.mark_spam(user=alice, item_ids=[item.pk]))
    assert trained_as(user=alice, message=item.message) == "spam"
    services.undo_action(user=alice, action_id=action.pk)
    assert trained_as(user=alice, message=item.message) is None
    assert trained_as(user=None, message=item.message) is None


def test_undoing_a_spam_report_of_mail_trained_as_ham_trains_it_as_ham_again(alice, item):
    train(user=alice, message=item.message, is_spam=False)
    action = _undoable(alice, "spam", [item], lambda: services.mark_spam(user=alice, item_ids=[item.pk]))
    services.undo_action(user=alice, action_id=action.pk)
    assert trained_as(user=alice, message=item.message) == "ham"


def test_undoing_not_spam_puts_it_back_in_spam_and_trained_as_spam(alice, item):
    services.mark_spam(user=alice, item_ids=[item.pk])
    action = _undoable(alice, "not_spam", [item], lambda: services.mark_not_spam(user=alice, item_ids=[item.pk]))
    assert trained_as(user=alice, message=item.message) == "ham"
    services.undo_action(user=alice, action_id=action.pk)
    assert _state(item)[0] == Folder.SPAM
    assert trained_as(user=alice, message=item.message) == "spam"


def test_another_users_action_is_not_found(alice, mallory, item):
    action = _undoable(alice, "archive", [item], lambda: services.archive_items(user=alice, item_ids=[item.pk]))
    with pytest.raises(UndoNotFound):
        services.undo_action(user=mallory, action_id=action.pk)
    with pytest.raises(UndoNotFound):
        services.undo_action(user=alice, action_id="nope")
    assert _state(item)[0] == Folder.ARCHIVE


def test_undo_expires_after_the_window(alice, item, settings):
    settings.WEBMAIL_ACTION_UNDO_SECONDS = 30
    at = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    action = _undoable(alice, "archive", [item], lambda: services.archive_items(user=alice, item_ids=[item.pk]), now=at)
    with pytest.raises(UndoExpired):
        services.undo_action(user=alice, action_id=action.pk, now=at + timedelta(seconds=31))
    services.undo_action(user=alice, action_id=action.pk, now=at + timedelta(seconds=30))
    assert _state(item)[0] == Folder.INBOX


def test_expired_actions_are_purged(alice, item, settings):
    settings.WEBMAIL_ACTION_UNDO_SECONDS = 30
    at = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    _undoable(alice, "archive", [item], lambda: services.archive_items(user=alice, item_ids=[item.pk]), now=at)
    assert purge_undoable_actions(now=at + timedelta(seconds=30)) == 0
    assert purge_undoable_actions(now=at + timedelta(seconds=31)) == 1


# --- snooze ---------------------------------------------------------------------------------


def _inbox_ids(user):
    return [t.pk for t in selectors.conversations(user=user, view="inbox").threads]


def test_snooze_hides_from_the_inbox_and_lists_it_as_snoozed(alice, item):
    now = timezone.now()
    services.snooze_items(user=alice, item_ids=[item.pk], until=now + timedelta(hours=3), now=now)
    assert item.thread_id not in _inbox_ids(alice)
    snoozed = selectors.conversations(user=alice, view="snoozed").threads
    assert [(t.pk, t.snoozed_until) for t in snoozed] == [(item.thread_id, now + timedelta(hours=3))]
    assert selectors.sidebar_counts(user=alice)["folders"]["inbox"]["unread"] == 0


def test_snooze_wakes_at_the_top_of_the_inbox_unread(alice, item):
    now = timezone.now()
    services.mark_read(user=alice, item_ids=[item.pk])
    services.snooze_items(user=alice, item_ids=[item.pk], until=now + timedelta(hours=2), now=now)
    newer = deliver(raw_email(subject="Newer", to="alice@example.test"), alice)[0]
    assert services.wake_snoozed(now=now + timedelta(hours=1)) == 0
    last_change = MailboxChange.objects.order_by("-pk").first().pk
    assert services.wake_snoozed(now=now + timedelta(hours=2, minutes=1)) == 1
    woken = MailboxItem.objects.get(pk=item.pk)
    assert (woken.folder, woken.is_read, woken.snoozed_until) == (Folder.INBOX, False, None)
    assert woken.woke_at == now + timedelta(hours=2)
    assert _inbox_ids(alice) == [item.thread_id, newer.thread_id]
    assert woken.thread.latest_at == now + timedelta(hours=2)
    assert list(MailboxChange.objects.filter(pk__gt=last_change).values_list("item_id", "kind")) == [
        (item.pk, MailboxChange.Kind.NEW)
    ]
    assert services.wake_snoozed(now=now + timedelta(hours=3)) == 0  # once


def test_snoozed_mail_moved_to_trash_stays_there_when_due(alice, item):
    now = timezone.now()
    services.snooze_items(user=alice, item_ids=[item.pk], until=now + timedelta(hours=1), now=now)
    services.trash_items(user=alice, item_ids=[item.pk])
    services.wake_snoozed(now=now + timedelta(hours=2))
    woken = MailboxItem.objects.get(pk=item.pk)
    assert (woken.folder, woken.snoozed_until) == (Folder.TRASH, None)


def test_snooze_needs_a_future_time_and_the_inbox(alice, item):
    from mailboxes.exceptions import FolderNotAllowed
    from mailboxes.services.snooze import InvalidSnoozeTime

    now = timezone.now()
    with pytest.raises(InvalidSnoozeTime):
        services.snooze_items(user=alice, item_ids=[item.pk], until=now - timedelta(minutes=1), now=now)
    with pytest.raises(InvalidSnoozeTime):
        services.snooze_items(user=alice, item_ids=[item.pk], until=now + timedelta(days=400), now=now)
    services.archive_items(user=alice, item_ids=[item.pk])
    with pytest.raises(FolderNotAllowed):
        services.snooze_items(user=alice, item_ids=[item.pk], until=now + timedelta(hours=1), now=now)


def test_undoing_a_snooze_brings_it_back_now(alice, item):
    now = timezone.now()
    action = _undoable(
        alice, "snooze", [item],
        lambda: services.snooze_items(user=alice, item_ids=[item.pk], until=now + timedelta(hours=1), now=now),
    )  # fmt: skip
    services.undo_action(user=alice, action_id=action.pk)
    assert MailboxItem.objects.get(pk=item.pk).snoozed_until is None
    assert item.thread_id in _inbox_ids(alice)


def test_snooze_choices_are_in_the_users_time_zone(alice):
    from accounts.models import Preferences
    from mailboxes.services.snooze import snooze_choices, snooze_time

    Preferences.objects.create(user=alice, time_zone="Asia/Shanghai")
    # Wednesday 2026-12-09 10:20 in Shanghai (UTC+8).
    now = datetime(2026, 12, 9, 2, 20, tzinfo=UTC)
    local = {c.key: c.until.astimezone(UTC).strftime("%a %d %H:%M") for c in snooze_choices(user=alice, now=now)}
    assert local == {"later": "Wed 09 06:00", "tomorrow": "Thu 10 00:00", "next_week": "Mon 14 00:00"}
    custom = snooze_time(user=alice, choice="custom", custom="2026-12-24T09:30", now=now)
    assert custom.astimezone(UTC) == datetime(2026, 12, 24, 1, 30, tzinfo=UTC)


def test_later_is_not_called_today_once_it_falls_tomorrow(alice):
    from accounts.models import Preferences
    from mailboxes.services.snooze import snooze_choices

    Preferences.objects.create(user=alice, time_zone="Asia/Shanghai")
    afternoon = datetime(2026, 12, 9, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai: 17:00 is today
    evening = datetime(2026, 12, 9, 13, 30, tzinfo=UTC)  # 21:30 in Shanghai: 01:00 is tomorrow
    assert snooze_choices(user=alice, now=afternoon)[0].label == "Later today"
    later = snooze_choices(user=alice, now=evening)[0]
    assert (later.key, later.label) == ("later", "In 3 hours")
    assert later.until.astimezone(UTC) == datetime(2026, 12, 9, 17, 0, tzinfo=UTC)


# --- Empty Trash / Spam ----------------------------------------------------------------------


def test_empty_trash_deletes_in_batches_up_to_a_limit(alice, bob):
    items = [deliver(raw_email(subject=f"Old {n}", to="alice@example.test"), alice)[0] for n in range(7)]
    services.trash_items(user=alice, item_ids=[i.pk for i in items])
    kept = deliver(raw_email(subject="Keep", to="alice@example.test"), alice, bob)
    assert services.empty_folder(user=alice, folder=Folder.TRASH, batch=3, limit=5) == (5, True)
    assert services.empty_folder(user=alice, folder=Folder.TRASH, batch=3, limit=5) == (2, False)
    assert not MailboxItem.objects.filter(user=alice, folder=Folder.TRASH).exists()
    assert MailboxItem.objects.filter(pk__in=[i.pk for i in kept]).count() == 2


def test_only_trash_and_spam_can_be_emptied(alice, item):
    from mailboxes.exceptions import FolderNotAllowed

    with pytest.raises(FolderNotAllowed):
        services.empty_folder(user=alice, folder=Folder.INBOX)
    services.mark_spam(user=alice, item_ids=[item.pk])
    assert services.empty_folder(user=alice, folder=Folder.SPAM) == (1, False)
