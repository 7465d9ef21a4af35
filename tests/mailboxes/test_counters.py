"""The mailbox counters (unread per folder, starred, per label, each conversation's Inbox and starred items,
each item's labels) equal a fresh count after any change.

They are kept by database triggers (migrations 0017 to 0019), so every path counts: the services, bulk
``update()``, undo, snooze wake, cascading deletes. Each step below is a real service call (or a bulk
update, as some code does); after each one the counters must equal a COUNT of the items.
"""

import random
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.utils import timezone

from delivery.services import send_message
from mailboxes import selectors, services
from mailboxes.models import Folder, Label, MailboxCounter, MailboxItem, Thread
from mailboxes.services.counters import (
    count_afresh,
    item_labels_afresh,
    recount_mailbox,
    stored_counters,
    stored_item_labels,
    stored_thread_counts,
    thread_counts_afresh,
)
from mailboxes.services.drafts import save_draft
from mailboxes.services.placement import Delivery, place_messages
from mailboxes.services.store import store_message
from tests.factories import deliver, raw_email
from webmail.errors import UserError

pytestmark = pytest.mark.django_db(transaction=False)


def _assert_counters_right(*users):
    for user in users:
        assert stored_counters(user_id=user.pk) == count_afresh(user_id=user.pk)
        assert stored_thread_counts(user_id=user.pk) == thread_counts_afresh(user_id=user.pk)
        assert stored_item_labels(user_id=user.pk) == item_labels_afresh(user_id=user.pk)
        assert selectors.sidebar_counts(user=user) == _sidebar_counted(user)


def _sidebar_counted(user) -> dict:
    """The sidebar's figures counted from the items, as the page counted them before the counters."""
    unread = MailboxItem.objects.filter(user=user, is_read=False, snoozed_until__isnull=True)
    folders = {folder: {"unread": 0, "total": 0} for folder in Folder.values}
    for row in unread.values("folder").annotate(n=Count("pk")).order_by():
        folders[row["folder"]]["unread"] = row["n"]
    folders[Folder.DRAFTS]["total"] = MailboxItem.objects.filter(user=user, folder=Folder.DRAFTS).count()
    not_trash = unread.exclude(folder=Folder.TRASH)
    label_rows = not_trash.filter(labels__isnull=False).values("labels").annotate(n=Count("pk")).order_by()
    return {
        "folders": folders,
        "starred": not_trash.filter(is_starred=True).count(),
        "labels": {row["labels"]: row["n"] for row in label_rows},
    }


class Mailbox:
    """Random real changes to one user's mailbox."""

    def __init__(self, user, rng: random.Random, now):
        self.user, self.rng, self.now = user, rng, now
        self.labels = [services.create_label(user=user, name=name) for name in ("Work", "Home", "Bills")]
        self.sent = 0
        self.message_ids: list[str] = []  # of the mail delivered, for replies that join or merge conversations

    def ids(self, **filters) -> list[int]:
        ids = list(MailboxItem.objects.filter(user=self.user, **filters).values_list("pk", flat=True))
        return self.rng.sample(ids, min(len(ids), self.rng.randint(1, 4))) if ids else []

    def label_ids(self) -> list[int]:
        ids = list(Label.objects.filter(user=self.user).values_list("pk", flat=True))
        return self.rng.sample(ids, min(len(ids), self.rng.randint(1, 2))) if ids else []

    def step(self) -> str:
        name = self.rng.choice(
            ["deliver", "deliver", "batch", "send", "draft", "move", "read", "unread", "star", "unstar",
             "label", "unlabel", "snooze", "unsnooze", "wake", "undo", "trash", "empty", "delete_forever",
             "bulk_update", "delete_label", "spam", "reply", "merge"]
        )  # fmt: skip
        try:
            getattr(self, f"do_{name}")()
        except UserError:  # refused (nothing picked, a folder that does not allow it): nothing changed
            return f"{name} (refused)"
        return name

    def do_deliver(self, **headers):
        self.sent += 1
        message_id = f"<m{self.sent}.{self.user.pk}.{self.rng.random()}@remote.example>"
        self.message_ids.append(message_id)
        deliver(
            raw_email(subject=f"Hello {self.sent}", to=self.user.username, message_id=message_id, **headers), self.user
        )

    def do_reply(self):
        # Joins the conversation of an earlier message (in whatever folder it is now).
        if self.message_ids:
            self.do_deliver(in_reply_to=self.rng.choice(self.message_ids))

    def do_merge(self):
        # References two conversations: they merge, the items of one moving to the other.
        if len(self.message_ids) >= 2:
            self.do_deliver(references=" ".join(self.rng.sample(self.message_ids, 2)))

    def do_batch(self):
        deliveries = []
        for folder in (Folder.INBOX, Folder.SPAM, Folder.ARCHIVE):
            self.sent += 1
            message, _ = store_message(raw=raw_email(subject=f"Batch {self.sent}", to=self.user.username))
            deliveries.append(Delivery(message=message, folder=folder))
        place_messages(user=self.user, deliveries=deliveries)

    def do_send(self):
        send_message(user=self.user, to=["friend@remote.example"], subject="Sent", text="Hi")

    def do_draft(self):
        save_draft(user=self.user, to=["friend@remote.example"], subject="Draft", text="Later")

    def do_move(self):
        folder = self.rng.choice([Folder.INBOX, Folder.ARCHIVE, Folder.TRASH])
        services.move_items(user=self.user, item_ids=self.ids(folder__in=[Folder.INBOX, Folder.ARCHIVE]), folder=folder)

    def do_read(self):
        services.mark_read(user=self.user, item_ids=self.ids())

    def do_unread(self):
        services.mark_read(user=self.user, item_ids=self.ids(), read=False)

    def do_star(self):
        services.set_starred(user=self.user, item_ids=self.ids())

    def do_unstar(self):
        services.set_starred(user=self.user, item_ids=self.ids(), starred=False)

    def do_label(self):
        services.add_labels(user=self.user, item_ids=self.ids(), label_ids=self.label_ids())

    def do_unlabel(self):
        # Labels the items carry: a random pick of items and labels would seldom take one off.
        links = list(
            MailboxItem.labels.through.objects.filter(mailboxitem__user=self.user).values_list(
                "mailboxitem_id", "label_id"
            )
        )
        picked = self.rng.sample(links, min(len(links), self.rng.randint(1, 3)))
        services.remove_labels(
            user=self.user, item_ids={item for item, _ in picked}, label_ids={label for _, label in picked}
        )

    def do_snooze(self):
        ids = self.ids(folder=Folder.INBOX)
        if ids:
            services.snooze_items(user=self.user, item_ids=ids, until=self.now + timedelta(hours=1), now=self.now)

    def do_unsnooze(self):
        services.unsnooze_items(user=self.user, item_ids=self.ids(snoozed_until__isnull=False))

    def do_wake(self):
        services.wake_snoozed(now=self.now + timedelta(hours=2))

    def do_undo(self):
        ids = self.ids()
        kind, action = self.rng.choice(
            [
                ("archive", lambda: services.archive_items(user=self.user, item_ids=ids)),
                ("trash", lambda: services.trash_items(user=self.user, item_ids=ids)),
                ("read", lambda: services.mark_read(user=self.user, item_ids=ids)),
                ("star", lambda: services.set_starred(user=self.user, item_ids=ids)),
            ]
        )
        if not ids:
            return
        done = services.run_undoable(user=self.user, kind=kind, item_ids=ids, action=action, now=self.now)
        if done is not None:
            services.undo_action(user=self.user, action_id=done.pk, now=self.now)

    def do_trash(self):
        services.trash_items(user=self.user, item_ids=self.ids(folder__in=[Folder.INBOX, Folder.ARCHIVE]))

    def do_spam(self):
        services.mark_spam(user=self.user, item_ids=self.ids(folder=Folder.INBOX))

    def do_empty(self):
        services.empty_folder(user=self.user, folder=self.rng.choice([Folder.TRASH, Folder.SPAM]), batch=2)

    def do_delete_forever(self):
        services.delete_forever(user=self.user, item_ids=self.ids(folder=Folder.TRASH))

    def do_bulk_update(self):
        # Some code changes many items at once with a bulk update(): no save(), no signal.
        MailboxItem.objects.filter(user=self.user, pk__in=self.ids()).update(is_read=False, folder=Folder.ARCHIVE)

    def do_delete_label(self):
        if len(self.labels) > 1 and self.rng.random() < 0.3:
            services.delete_label(user=self.user, label_id=self.labels.pop().pk)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_after_random_real_changes_the_counters_equal_a_fresh_count(alice, bob, seed):
    rng, now = random.Random(seed), timezone.now()
    mailboxes = [Mailbox(alice, rng, now), Mailbox(bob, rng, now)]
    for mailbox in mailboxes:
        for _ in range(4):
            mailbox.do_deliver()
    done = set()
    for _ in range(60):
        mailbox = rng.choice(mailboxes)
        done.add(mailbox.step())
        _assert_counters_right(alice, bob)
    assert len({name for name in done if "refused" not in name}) >= 12  # the sequence went through most kinds of change
    # Something was counted, not only zeros compared with zeros.
    assert sum(c["total"] for c in selectors.folder_counts(user=alice).values()) > 0


def test_deleting_a_user_takes_their_counters_and_leaves_the_others_right(alice, bob):
    label = services.create_label(user=bob, name="Work")
    items = deliver(raw_email(subject="Both", to="alice@example.test, bob@example.test"), alice, bob)
    services.add_labels(user=bob, item_ids=[items[1].pk], label_ids=[label.pk])
    services.set_starred(user=bob, item_ids=[items[1].pk])
    assert MailboxCounter.objects.filter(user=bob).count() == 3  # inbox, starred, the label
    bob.delete()
    assert not MailboxCounter.objects.filter(user_id=items[1].user_id).exists()
    _assert_counters_right(alice)
    assert selectors.sidebar_counts(user=alice)["folders"][Folder.INBOX]["unread"] == 1


def test_the_sidebar_leaves_snoozed_and_trashed_mail_out(alice):
    label = services.create_label(user=alice, name="Work")
    a, b, c = (deliver(raw_email(subject=f"M{n}", to="alice@example.test"), alice)[0] for n in range(3))
    ids = [a.pk, b.pk, c.pk]
    services.add_labels(user=alice, item_ids=ids, label_ids=[label.pk])
    services.set_starred(user=alice, item_ids=ids)
    now = timezone.now()
    services.snooze_items(user=alice, item_ids=[a.pk], until=now + timedelta(hours=1), now=now)
    services.trash_items(user=alice, item_ids=[b.pk])
    counts = selectors.sidebar_counts(user=alice)
    assert counts["folders"][Folder.INBOX]["unread"] == 1  # c; a is snoozed
    assert counts["folders"][Folder.TRASH]["unread"] == 1
    assert counts["starred"] == 1
    assert counts["labels"] == {label.pk: 1}
    assert selectors.folder_counts(user=alice)[Folder.INBOX] == {"total": 2, "unread": 2}  # snoozed a too
    services.wake_snoozed(now=now + timedelta(hours=2))
    assert selectors.sidebar_counts(user=alice)["folders"][Folder.INBOX]["unread"] == 2


def test_recount_repairs_wrong_counters_and_says_so(alice, capsys):
    deliver(raw_email(subject="One", to="alice@example.test"), alice)
    right = stored_counters(user_id=alice.pk)
    assert right == {Folder.INBOX: (1, 1, 1)}
    MailboxCounter.objects.filter(user=alice).update(unread=7, unread_awake=7)
    call_command("recount_mailboxes", "alice@example.test")
    assert "WERE WRONG" in capsys.readouterr().out
    assert stored_counters(user_id=alice.pk) == right
    call_command("recount_mailboxes")
    assert "alice@example.test: 1 counters, were right" in capsys.readouterr().out
    assert recount_mailbox(user_id=alice.pk) == 1


def test_the_sidebar_counts_are_one_query_however_many_folders_and_labels(alice, django_assert_num_queries):
    labels = [services.create_label(user=alice, name=f"L{n}") for n in range(5)]
    items = [deliver(raw_email(subject=f"M{n}", to="alice@example.test"), alice)[0] for n in range(5)]
    services.add_labels(user=alice, item_ids=[i.pk for i in items], label_ids=[label.pk for label in labels])
    services.set_starred(user=alice, item_ids=[items[0].pk])
    services.archive_items(user=alice, item_ids=[items[1].pk])
    with django_assert_num_queries(1):
        counts = selectors.sidebar_counts(user=alice)
    assert counts["labels"] == {label.pk: 5 for label in labels}
    assert counts["folders"][Folder.ARCHIVE]["unread"] == 1 and counts["starred"] == 1


def test_the_recount_command_names_an_unknown_address_and_recounts_nobody(alice):
    deliver(raw_email(subject="Kept", to="alice@example.test"), alice)
    MailboxCounter.objects.filter(user=alice).update(unread=99)
    with pytest.raises(CommandError, match="No such user: nobody@example.test"):
        call_command("recount_mailboxes", "alice@example.test", "nobody@example.test")
    assert MailboxCounter.objects.filter(user=alice, unread=99).exists()  # nothing was done


def test_recount_repairs_wrong_inbox_and_star_counts_of_conversations(alice, capsys):
    kept = deliver(raw_email(subject="Kept", to="alice@example.test"), alice)[0]
    archived = deliver(raw_email(subject="Archived", to="alice@example.test"), alice)[0]
    services.archive_items(user=alice, item_ids=[archived.pk])
    services.set_starred(user=alice, item_ids=[archived.pk])
    assert stored_thread_counts(user_id=alice.pk) == {kept.thread_id: (1, 0), archived.thread_id: (0, 1)}
    Thread.objects.filter(pk=kept.thread_id).update(inbox_count=0)
    Thread.objects.filter(pk=archived.thread_id).update(inbox_count=3, starred_count=0)
    assert [t.pk for t in selectors.conversations(user=alice, view=Folder.INBOX).threads] == [archived.thread_id]
    call_command("recount_mailboxes", "alice@example.test")
    assert "WERE WRONG" in capsys.readouterr().out
    assert stored_thread_counts(user_id=alice.pk) == {kept.thread_id: (1, 0), archived.thread_id: (0, 1)}
    assert [t.pk for t in selectors.conversations(user=alice, view=Folder.INBOX).threads] == [kept.thread_id]
