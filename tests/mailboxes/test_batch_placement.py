"""Placing many received messages at once (``place_messages``) ends as placing them one by one."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mailboxes.blobstore import read_blob
from mailboxes.models import Folder, MailboxChange, MailboxItem, Message, Thread, ThreadKey
from mailboxes.parsing import parse_message
from mailboxes.services import place_message, store_message
from mailboxes.services.placement import Delivery, place_for_users, place_messages
from mailboxes.services.store import store_messages
from tests.factories import UserFactory, raw_email

pytestmark = pytest.mark.django_db

DANA = "Dana Scully <dana@remote.example>"
ERIN = "Erin Brockovich <erin@elsewhere.example>"
TO = "team@list.example"  # nobody's own address: both mailboxes see the same participants
# Copies of one message are written once: the same Date (not the clock at each build).
WRITTEN = "Mon, 30 Nov 2026 09:00:00 +0000"


def stored(**fields) -> Message:
    fields.setdefault("to", TO)
    fields.setdefault("date", WRITTEN)
    return store_message(raw=raw_email(**fields))[0]


def conversation_scenario() -> list[Message]:
    """Replies before parents, a merge, duplicates, the subject fallback, in one arrival order."""
    return [
        stored(subject="Re: Budget", sender=ERIN, message_id="<r1@x>", in_reply_to="<p1@x>", references="<p1@x>"),
        stored(subject="Budget", sender=DANA, message_id="<p1@x>"),
        stored(
            subject="Re: Budget", sender=DANA, message_id="<r2@x>", in_reply_to="<r1@x>", references="<p1@x> <r1@x>"
        ),
        stored(subject="Lunch", sender=DANA, message_id="<l1@x>"),
        stored(subject="Lunch", sender=DANA, message_id="<l1@x>"),  # the same message again (a retry)
        stored(subject="Lunch", sender=ERIN, message_id="<l1@x>"),  # same Message-ID, another sender
        stored(subject="Lunch", sender=DANA, message_id="<l1@x>", body="Other words."),  # kept too
        # A grandchild names only the missing middle message; the middle one then joins both threads.
        stored(subject="Re: Trip", sender=ERIN, message_id="<g1@x>", in_reply_to="<m1@x>", references="<m1@x>"),
        stored(subject="Trip", sender=DANA, message_id="<t1@x>"),
        stored(subject="Re: Trip", sender=DANA, message_id="<m1@x>", in_reply_to="<t1@x>", references="<t1@x>"),
        # No reply headers: the subject and the participants decide.
        stored(subject="Re: Plans", sender=ERIN, message_id="<h1@x>"),
        stored(subject="Plans", sender=ERIN, message_id="<h0@x>"),
        stored(subject="Weekly report", sender=DANA, message_id="<w1@x>"),
        stored(subject="Weekly report", sender=DANA, message_id="<w2@x>"),
        stored(subject="", sender=DANA, message_id=""),
        stored(subject="", sender=DANA, message_id=""),
    ]


def mailbox(user) -> dict:
    """Everything placement decides, in terms that do not depend on ids."""
    items = MailboxItem.objects.filter(user=user).select_related("message", "thread").order_by("pk")
    threads = {}
    for item in items:
        threads.setdefault(item.thread_id, []).append((item.message.subject, item.message.message_id, item.folder))
    summaries = sorted(
        (
            t.subject,
            t.subject_key,
            t.starts_with_reply,
            t.message_count,
            t.unread_count,
            t.snippet,
            str(t.senders),
            str(t.addresses),
            t.has_attachments,
            t.latest_at,
        )
        for t in Thread.objects.filter(user=user)
    )
    keys = sorted(
        (key.message_key, tuple(sorted(m for m in threads[key.thread_id])))
        for key in ThreadKey.objects.filter(user=user)
    )
    changes = MailboxChange.objects.filter(user=user, kind=MailboxChange.Kind.NEW).count()
    return {
        "threads": sorted(sorted(messages) for messages in threads.values()),
        "summaries": summaries,
        "keys": keys,
        "new_changes": changes,
        "items": [(i.message_id, i.folder, i.received_at, i.origin) for i in items],
    }


def test_a_batch_ends_as_placing_its_messages_one_by_one(alice, bob):
    messages = conversation_scenario()
    base = timezone.now()
    deliveries = [
        Delivery(message=m, folder=Folder.SPAM if n == 3 else Folder.INBOX, received_at=base + timedelta(seconds=n))
        for n, m in enumerate(messages)
    ]

    one_by_one = [
        place_message(user=alice, message=d.message, folder=d.folder, received_at=d.received_at) for d in deliveries
    ]
    together = place_messages(user=bob, deliveries=deliveries)

    assert mailbox(bob) == mailbox(alice)
    assert [item.message_id for item in together] == [item.message_id for item in one_by_one]
    assert len(Thread.objects.filter(user=bob)) == len(Thread.objects.filter(user=alice)) == 8


def test_a_batch_after_earlier_mail_ends_as_one_by_one(alice, bob):
    """The batch meets threads, keys and duplicates already in the mailbox."""
    earlier, later = conversation_scenario()[:9], conversation_scenario()
    base = timezone.now()
    for user in (alice, bob):
        for n, message in enumerate(earlier):
            place_message(user=user, message=message, received_at=base + timedelta(seconds=n))
    deliveries = [Delivery(message=m, received_at=base + timedelta(minutes=1, seconds=n)) for n, m in enumerate(later)]

    for d in deliveries:
        place_message(user=alice, message=d.message, folder=d.folder, received_at=d.received_at)
    place_messages(user=bob, deliveries=deliveries)

    assert mailbox(bob) == mailbox(alice)


def test_the_same_message_id_twice_in_a_batch_gives_one_item(alice):
    first, again = (stored(subject="Twice", message_id="<twice@x>") for _ in range(2))

    items = place_messages(user=alice, deliveries=[Delivery(message=first), Delivery(message=again)])

    assert items[0].pk == items[1].pk and items[0].message_id == first.pk
    assert MailboxItem.objects.filter(user=alice).count() == 1
    assert MailboxChange.objects.filter(user=alice).count() == 1


def test_a_reply_and_its_parent_in_one_batch_share_a_thread_with_the_right_summary(alice):
    reply = stored(subject="Re: Plan", sender=ERIN, message_id="<b@x>", in_reply_to="<a@x>", references="<a@x>")
    parent = stored(subject="Plan", sender=DANA, message_id="<a@x>")
    base = timezone.now()

    items = place_messages(
        user=alice,
        deliveries=[Delivery(message=reply, received_at=base), Delivery(message=parent, received_at=base)],
    )

    assert items[0].thread_id == items[1].thread_id
    thread = Thread.objects.get(user=alice)
    assert (thread.message_count, thread.unread_count, thread.subject) == (2, 2, "Re: Plan")
    assert [s["address"] for s in thread.senders] == ["erin@elsewhere.example", "dana@remote.example"]


def test_a_batch_costs_the_same_statements_however_many_messages_it_holds(alice, bob):
    def statements(user, count) -> int:
        messages = [stored(subject=f"Note {n}") for n in range(count)]
        with CaptureQueriesContext(connection) as queries:
            place_messages(user=user, deliveries=[Delivery(message=m) for m in messages])
        return len(queries)

    assert statements(alice, 3) == statements(bob, 30)


def test_a_batch_for_several_users_ends_as_placing_each_ones_messages_one_by_one(alice, bob, carol, mallory):
    """Each mailbox is its own (threads, duplicates, the subject fallback), though reads and writes are shared.

    carol is placed together as alice one by one, both after the same earlier mail;
    mallory is placed together as bob one by one, with every other message.
    """
    messages = conversation_scenario()
    base = timezone.now()
    for n, message in enumerate(messages[:5]):
        for user in (alice, carol):
            place_message(user=user, message=message, received_at=base + timedelta(seconds=n))
    later = base + timedelta(minutes=1)
    deliveries = [Delivery(message=m, received_at=later + timedelta(seconds=n)) for n, m in enumerate(messages)]
    for reference, share in ((alice, deliveries), (bob, deliveries[::2])):
        for d in share:
            place_message(user=reference, message=d.message, folder=d.folder, received_at=d.received_at)

    items = place_for_users({carol: deliveries, mallory: deliveries[::2]})

    assert mailbox(carol) == mailbox(alice)
    assert mailbox(mallory) == mailbox(bob)
    assert {item.user_id for item in items[carol.pk]} == {carol.pk} and len(items[carol.pk]) == len(deliveries)
    assert {item.user_id for item in items[mallory.pk]} == {mallory.pk}


def test_a_batch_for_more_users_costs_no_more_statements():
    def statements(count) -> int:
        users = [UserFactory(address=f"u{count}x{n}@example.test") for n in range(count)]
        messages = [stored(subject=f"Note {count} {n}") for n in range(2)]
        with CaptureQueriesContext(connection) as queries:
            place_for_users({user: [Delivery(message=m) for m in messages] for user in users})
        return len(queries)

    assert statements(2) == statements(8)


def test_store_messages_keeps_each_message_with_its_attachments():
    raws = [raw_email(subject=f"Stored {n}") for n in range(3)]
    with_file = (
        b"From: a@remote.example\r\nTo: b@example.test\r\nSubject: File\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee.\r\n'
        b'--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="a.bin"\r\n'
        b"\r\nabc\r\n--b--\r\n"
    )
    raws.append(with_file)

    messages = store_messages([(raw, parse_message(raw)) for raw in raws])

    assert [m.subject for m in Message.objects.filter(pk__in=[m.pk for m in messages]).order_by("pk")] == [
        "Stored 0",
        "Stored 1",
        "Stored 2",
        "File",
    ]
    assert messages[3].has_attachments
    assert [a.filename for a in messages[3].attachments.all()] == ["a.bin"]
    assert all(read_blob(m.blob) == raw for m, raw in zip(messages, raws, strict=True))
