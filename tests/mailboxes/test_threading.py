"""Threading: Message-ID/In-Reply-To/References first, normalised subject + participants only as a fallback."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.services import add_alias
from delivery.services import send_message
from mailboxes.conversations import normalize_subject
from mailboxes.models import MailboxItem, Thread, ThreadKey
from mailboxes.services import place_message, store_message
from tests.factories import deliver, raw_email, send_and_deliver

pytestmark = pytest.mark.django_db

ALICE = "Alice Liddell <alice@example.test>"
DANA = "Dana Scully <dana@remote.example>"
ERIN = "Erin Brockovich <erin@elsewhere.example>"


def receive(user, **fields) -> MailboxItem:
    """``user`` receives one message built by ``raw_email``."""
    fields.setdefault("to", user.username)
    return deliver(raw_email(**fields), user)[0]


def receive_at(user, when, **fields) -> MailboxItem:
    """``user`` receives a message written and delivered at ``when``."""
    fields.setdefault("to", user.username)
    fields["date"] = when.strftime("%a, %d %b %Y %H:%M:%S +0000")
    message, _ = store_message(raw=raw_email(**fields))
    return place_message(user=user, message=message, received_at=when)


def fresh(thread: Thread) -> Thread:
    thread.refresh_from_db()
    return thread


def threads_of(user) -> list[Thread]:
    return list(Thread.objects.filter(user=user))


# --- by headers ------------------------------------------------------------------


def test_reply_joins_its_parents_thread(alice):
    parent = receive(alice, subject="Budget", sender=DANA, message_id="<p1@remote.example>")
    reply = receive(
        alice,
        subject="Totally different words",
        sender=ERIN,
        in_reply_to="<p1@remote.example>",
        references="<p1@remote.example>",
    )

    assert reply.thread_id == parent.thread_id
    assert fresh(parent.thread).message_count == 2


def test_reply_found_only_through_references_joins(alice):
    root = receive(alice, subject="Root", sender=DANA, message_id="<root@remote.example>")
    reply = receive(alice, subject="Re: Root", sender=DANA, references="<root@remote.example>")

    assert reply.thread_id == root.thread_id


def test_reply_arriving_before_its_parent_ends_in_one_thread(alice):
    reply = receive(alice, subject="Re: Budget", sender=ERIN, in_reply_to="<late@remote.example>")
    parent = receive(alice, subject="Budget", sender=DANA, message_id="<late@remote.example>")

    assert parent.thread_id == reply.thread_id
    assert len(threads_of(alice)) == 1
    assert fresh(parent.thread).message_count == 2


def test_grandchild_then_missing_middle_message_joins_everything_into_one_thread(alice):
    root = receive(alice, subject="Root", sender=DANA, message_id="<root@remote.example>")
    # The grandchild names only the middle message, which has not arrived.
    grandchild = receive(
        alice,
        subject="Re: Re: Root",
        sender=DANA,
        message_id="<grandchild@remote.example>",
        in_reply_to="<middle@remote.example>",
        references="<middle@remote.example>",
    )
    assert grandchild.thread_id != root.thread_id

    middle = receive(
        alice,
        subject="Re: Root",
        sender=ERIN,
        message_id="<middle@remote.example>",
        in_reply_to="<root@remote.example>",
        references="<root@remote.example>",
    )

    items = MailboxItem.objects.filter(user=alice)
    assert len({item.thread_id for item in items}) == 1
    assert middle.thread_id == root.thread_id
    assert len(threads_of(alice)) == 1
    assert fresh(root.thread).message_count == 3


def test_message_referencing_two_threads_merges_them_with_items_keys_and_counters(alice):
    first = receive(alice, subject="Apples", sender=DANA, message_id="<a@remote.example>", body="About apples.")
    second = receive(alice, subject="Pears", sender=ERIN, message_id="<b@remote.example>", body="About pears.")
    assert first.thread_id != second.thread_id
    gone = second.thread_id

    both = receive(
        alice,
        subject="Re: fruit",
        sender="Frank <frank@third.example>",
        in_reply_to="<b@remote.example>",
        references="<a@remote.example> <b@remote.example>",
        body="Both, then.",
    )

    assert not Thread.objects.filter(pk=gone).exists()
    assert set(MailboxItem.objects.filter(user=alice).values_list("thread_id", flat=True)) == {first.thread_id}
    assert both.thread_id == first.thread_id
    assert set(ThreadKey.objects.filter(user=alice).values_list("thread_id", flat=True)) == {first.thread_id}
    thread = fresh(first.thread)
    assert thread.message_count == 3
    assert thread.unread_count == 3
    assert thread.snippet == "Both, then."
    assert [s["address"] for s in thread.senders] == [
        "dana@remote.example",
        "erin@elsewhere.example",
        "frank@third.example",
    ]
    assert thread.latest_at == both.received_at


def test_reply_with_unknown_references_does_not_fall_back_to_subject(alice):
    original = receive(alice, subject="Budget", sender=DANA)
    reply = receive(alice, subject="Re: Budget", sender=DANA, in_reply_to="<unknown@remote.example>")

    assert reply.thread_id != original.thread_id


def test_message_without_any_message_id_still_gets_a_thread(alice):
    item = receive(alice, subject="", sender=DANA, message_id="")

    assert item.thread.message_count == 1
    assert not ThreadKey.objects.filter(user=alice).exists()


# --- subject fallback ---------------------------------------------------------------


@pytest.mark.parametrize(
    "prefix",
    [
        "Re: ",
        "RE: ",
        "re:",
        "Fwd: ",
        "FW: ",
        "AW: ",
        "WG: ",
        "SV: ",
        "回复：",
        "转发: ",
        "Re[2]: ",
        "[dev] Re: ",
        "Re: Fwd: ",
    ],
)
def test_headerless_reply_joins_by_normalised_subject_and_shared_participant(alice, prefix):
    original = receive(alice, subject="Quarterly plan", sender=DANA, to=f"{ALICE}, {ERIN}")
    reply = receive(alice, subject=f"{prefix}Quarterly plan", sender=ERIN, to=ALICE)

    assert reply.thread_id == original.thread_id
    assert fresh(original.thread).message_count == 2


@pytest.mark.parametrize(
    ("subject", "key", "is_reply"),
    [
        ("Re: Hello", "hello", True),
        ("RE: RE: Hello", "hello", True),
        ("Re[3]: Hello", "hello", True),
        ("Re(2): Hello", "hello", True),
        ("[dev] Re: Hello", "hello", True),
        ("Re: [dev] Hello", "hello", True),
        ("回复：你好", "你好", True),
        ("转发: 你好", "你好", True),
        ("AW: Hallo  Welt", "hallo welt", True),
        ("[dev] Weekly report", "weekly report", False),
        ("Weekly report", "weekly report", False),
        ("Reorganisation: phase 2", "reorganisation: phase 2", False),
        ("", "", False),
    ],
)
def test_normalize_subject_strips_reply_forward_and_list_prefixes(subject, key, is_reply):
    assert normalize_subject(subject) == (key, is_reply)


def test_same_subject_without_a_shared_participant_stays_separate(alice):
    original = receive(alice, subject="Lunch", sender=DANA, to=ALICE)
    # Only the mailbox owner is common to both: that is no evidence of one conversation.
    other = receive(alice, subject="Re: Lunch", sender=ERIN, to=ALICE)

    assert other.thread_id != original.thread_id


@pytest.mark.parametrize("owner_address", ["ALICE@example.test", "alice+lunch@example.test", "wonderland@example.test"])
def test_owners_aliases_and_subaddresses_do_not_count_as_shared_participants(alice, owner_address):
    add_alias(user=alice, address="wonderland@example.test")
    original = receive(alice, subject="Lunch", sender=DANA, to=owner_address)
    other = receive(alice, subject="Re: Lunch", sender=ERIN, to=owner_address)

    assert other.thread_id != original.thread_id


def test_a_shared_participant_other_than_the_owner_joins(alice):
    original = receive(alice, subject="Lunch", sender=DANA, to="alice+lunch@example.test")
    reply = receive(alice, subject="Re: Lunch", sender=ERIN, to="alice+lunch@example.test, dana@REMOTE.example")

    assert reply.thread_id == original.thread_id


def test_headerless_reply_to_something_the_owner_sent_joins_it(alice):
    sent = send_and_deliver(user=alice, to=["dana@remote.example"], subject="Contract", text="Please sign.")
    sent_item = MailboxItem.objects.get(user=alice, message=sent)

    reply = receive(alice, subject="Re: Contract", sender=DANA, to=ALICE)

    assert reply.thread_id == sent_item.thread_id


def test_plain_same_subject_does_not_join_an_unrelated_thread(alice):
    """Every week a new "Weekly report": a subject alone is not a conversation."""
    last_week = receive(alice, subject="Weekly report", sender=DANA, to=ALICE)
    this_week = receive(alice, subject="Weekly report", sender=DANA, to=ALICE)

    assert this_week.thread_id != last_week.thread_id


def test_headerless_original_arriving_after_its_headerless_reply_joins_it(alice):
    reply = receive(alice, subject="Re: Offsite", sender=ERIN, to=f"{ALICE}, {DANA}")
    assert fresh(reply.thread).starts_with_reply is True

    original = receive(alice, subject="Offsite", sender=DANA, to=f"{ALICE}, {ERIN}")

    assert original.thread_id == reply.thread_id
    thread = fresh(reply.thread)
    assert thread.starts_with_reply is False
    assert thread.message_count == 2
    # Now that the original is in, a later unrelated "Offsite" is not pulled in.
    unrelated = receive(alice, subject="Offsite", sender=DANA, to=ALICE)
    assert unrelated.thread_id != reply.thread_id


def test_subject_fallback_joins_within_the_time_window(alice, settings):
    settings.THREAD_SUBJECT_WINDOW_DAYS = 14
    now = timezone.now()
    original = receive_at(alice, now - timedelta(days=10), subject="Kickoff", sender=DANA, to=ALICE)

    reply = receive_at(alice, now, subject="Re: Kickoff", sender=DANA, to=ALICE)

    assert reply.thread_id == original.thread_id


def test_subject_fallback_ignores_threads_quiet_for_longer_than_the_window(alice, settings):
    settings.THREAD_SUBJECT_WINDOW_DAYS = 14
    now = timezone.now()
    original = receive_at(alice, now - timedelta(days=30), subject="Kickoff", sender=DANA, to=ALICE)

    reply = receive_at(alice, now, subject="Re: Kickoff", sender=DANA, to=ALICE)

    assert reply.thread_id != original.thread_id


def test_subject_fallback_window_follows_the_setting(alice, settings):
    settings.THREAD_SUBJECT_WINDOW_DAYS = 3
    now = timezone.now()
    original = receive_at(alice, now - timedelta(days=5), subject="Kickoff", sender=DANA, to=ALICE)

    reply = receive_at(alice, now, subject="Re: Kickoff", sender=DANA, to=ALICE)

    assert reply.thread_id != original.thread_id


# --- per user, and the same message twice -------------------------------------------------


def test_threads_are_per_user(alice, bob):
    alice_item, bob_item = deliver(
        raw_email(subject="Team news", sender=DANA, to="alice@example.test, bob@example.test", message_id="<n@r.x>"),
        alice,
        bob,
    )
    alice_reply, bob_reply = deliver(
        raw_email(
            subject="Re: Team news", sender=ERIN, to="alice@example.test, bob@example.test", in_reply_to="<n@r.x>"
        ),
        alice,
        bob,
    )

    assert alice_item.thread_id == alice_reply.thread_id
    assert bob_item.thread_id == bob_reply.thread_id
    assert alice_item.thread_id != bob_item.thread_id
    assert alice_item.thread.user == alice
    assert bob_item.thread.user == bob
    assert fresh(alice_item.thread).message_count == 2
    assert fresh(bob_item.thread).message_count == 2


def test_placing_the_same_message_twice_gives_one_item(alice):
    message, _ = store_message(raw=raw_email(subject="Once", sender=DANA, to=ALICE))

    first = place_message(user=alice, message=message)
    second = place_message(user=alice, message=message)

    assert first.pk == second.pk
    assert MailboxItem.objects.filter(user=alice).count() == 1
    assert fresh(first.thread).message_count == 1


def test_message_with_the_same_message_id_delivered_twice_gives_one_item(alice):
    raw = raw_email(subject="Duplicate", sender=DANA, to=ALICE, message_id="<dup@remote.example>")

    [first] = deliver(raw, alice)
    [second] = deliver(raw, alice)

    assert second.pk == first.pk
    assert MailboxItem.objects.filter(user=alice).count() == 1
    assert fresh(first.thread).message_count == 1
    assert fresh(first.thread).unread_count == 1


def test_same_message_id_from_a_different_sender_is_not_treated_as_a_duplicate(alice):
    """A forged copy of someone's Message-ID must not hide the real message."""
    first = receive(alice, subject="Invoice", sender=DANA, message_id="<same@remote.example>")
    second = receive(alice, subject="Invoice", sender=ERIN, message_id="<same@remote.example>")

    assert second.pk != first.pk


# --- via send_message ---------------------------------------------------------------------


def test_send_message_replies_thread_on_both_sides(alice, bob):
    original = send_and_deliver(user=alice, to=["bob@example.test"], subject="Lunch?", text="Noon?")
    bob_item = MailboxItem.objects.get(user=bob, message=original)

    reply = send_and_deliver(
        user=bob, to=["alice@example.test"], subject="Re: Lunch?", text="Yes", in_reply_to_item_id=bob_item.pk
    )
    answer = send_and_deliver(
        user=alice,
        to=["bob@example.test"],
        subject="Re: Lunch?",
        text="Great",
        in_reply_to_item_id=MailboxItem.objects.get(user=alice, message=reply).pk,
    )

    assert reply.in_reply_to == original.message_id
    assert answer.references == [original.message_id, reply.message_id]
    alice_threads = set(MailboxItem.objects.filter(user=alice).values_list("thread_id", flat=True))
    bob_threads = set(MailboxItem.objects.filter(user=bob).values_list("thread_id", flat=True))
    assert len(alice_threads) == 1
    assert len(bob_threads) == 1
    assert alice_threads != bob_threads
    alice_thread = Thread.objects.get(pk=alice_threads.pop())
    assert (alice_thread.message_count, alice_thread.unread_count) == (3, 1)
    assert alice_thread.subject == "Lunch?"
    assert [s["address"] for s in alice_thread.senders] == ["alice@example.test", "bob@example.test"]
    bob_thread = Thread.objects.get(pk=bob_threads.pop())
    assert (bob_thread.message_count, bob_thread.unread_count) == (3, 2)


def test_reply_with_a_changed_subject_stays_in_the_thread(alice, bob):
    original = send_and_deliver(user=alice, to=["bob@example.test"], subject="Lunch?", text="Noon?")
    bob_item = MailboxItem.objects.get(user=bob, message=original)

    reply = send_and_deliver(
        user=bob, to=["alice@example.test"], subject="Dinner instead", text="?", in_reply_to_item_id=bob_item.pk
    )

    assert (
        MailboxItem.objects.get(user=alice, message=reply).thread_id
        == MailboxItem.objects.get(user=alice, message=original).thread_id
    )


def test_a_sent_message_joins_the_headerless_reply_that_arrived_before_it(alice):
    """A send skips looking up its own new Message-ID (nothing can name it yet), not the subject fallback."""
    reply = receive(alice, subject="Re: Offsite", sender=ERIN, to=ALICE)
    assert fresh(reply.thread).starts_with_reply is True

    sent = send_message(user=alice, to=["erin@elsewhere.example"], subject="Offsite", text="Shall we?")

    sent_item = MailboxItem.objects.get(user=alice, message=sent)
    assert sent_item.thread_id == reply.thread_id
    assert fresh(reply.thread).message_count == 2
    assert ThreadKey.objects.filter(user=alice, message_key=sent.message_id, thread=reply.thread).exists()


def test_a_reply_sent_by_its_in_reply_to_joins_the_conversation_without_a_subject_match(alice):
    original = receive(alice, subject="Budget", sender=DANA, to=ALICE, message_id="<budget-1@remote.example>")
    sent = send_message(
        user=alice, to=["dana@remote.example"], subject="Another subject", text="Yes.",
        in_reply_to_item_id=original.pk,
    )  # fmt: skip

    assert MailboxItem.objects.get(user=alice, message=sent).thread_id == original.thread_id
