"""Compose's address suggestions: people the user wrote to or heard from, best first, never anyone else's."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services import add_alias
from delivery.services import send_message
from mailboxes.models import Correspondent, Folder
from mailboxes.selectors import correspondents
from mailboxes.services.correspondents import Contact, rebuild_correspondents, record
from tests.factories import deliver, raw_email

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _contact(user, address, *, name="", sent=0, received=0, days_ago=0):
    record([Contact(user.pk, address, name, sent, received, NOW - timedelta(days=days_ago))])


def _addresses(user, prefix):
    return [c["address"] for c in correspondents(user=user, prefix=prefix, now=NOW)]


def test_received_and_sent_mail_make_correspondents(alice, bob):
    deliver(raw_email(sender="Dana Scully <dana@remote.example>", to="alice@example.test"), alice)
    send_message(user=alice, to=["Fox Mulder <fox@remote.example>"], cc=["dana@remote.example"], subject="Hi")
    rows = {c.address: c for c in Correspondent.objects.filter(user=alice)}
    assert set(rows) == {"dana@remote.example", "fox@remote.example"}
    assert (rows["dana@remote.example"].received_count, rows["dana@remote.example"].sent_count) == (1, 1)
    assert rows["dana@remote.example"].name == "Dana Scully"
    assert rows["fox@remote.example"].name == "Fox Mulder"
    assert not Correspondent.objects.filter(user=bob).exists()


def test_spam_says_nothing_about_whom_the_user_knows(alice):
    deliver(raw_email(sender="Spammer <win@spam.example>", to="alice@example.test"), alice, folder=Folder.SPAM)
    assert correspondents(user=alice, prefix="win") == []


def test_matches_address_prefix_name_prefix_and_word_prefix_of_the_name(alice):
    _contact(alice, "dana@remote.example", name="Dana Katherine Scully", received=1)
    _contact(alice, "x-files@fbi.example", name="", received=1)
    _contact(alice, "adana@remote.example", name="", received=1)  # "dana" inside, not at a start
    assert _addresses(alice, "dana") == ["dana@remote.example"]
    assert _addresses(alice, "Kath") == ["dana@remote.example"]
    assert _addresses(alice, "scu") == ["dana@remote.example"]
    assert _addresses(alice, "x-f") == ["x-files@fbi.example"]
    assert _addresses(alice, "") == []


def test_ranked_by_frequency_with_sent_mail_weighing_more(alice):
    _contact(alice, "rare@remote.example", received=1)
    _contact(alice, "reader@remote.example", received=5)
    _contact(alice, "replied@remote.example", sent=2)  # 2 sent weigh 6 received
    assert _addresses(alice, "r") == ["replied@remote.example", "reader@remote.example", "rare@remote.example"]


def test_recency_beats_an_old_frequency(alice):
    _contact(alice, "oldfriend@remote.example", sent=4, days_ago=365)
    _contact(alice, "olivia@remote.example", sent=1, days_ago=1)
    assert _addresses(alice, "ol") == ["olivia@remote.example", "oldfriend@remote.example"]
    _contact(alice, "oldfriend@remote.example", sent=1, days_ago=0)  # written to again today
    assert _addresses(alice, "ol") == ["oldfriend@remote.example", "olivia@remote.example"]


def test_never_another_users_correspondents_nor_the_user_themselves(alice, bob):
    add_alias(user=alice, address="sales@example.test")
    _contact(bob, "secret-contact@remote.example", sent=9)
    _contact(alice, "alice@example.test", sent=9)
    _contact(alice, "sales@example.test", received=9)
    _contact(alice, "sam@remote.example", received=1)
    assert _addresses(alice, "secret") == []
    assert _addresses(alice, "alice") == []
    assert _addresses(alice, "s") == ["sam@remote.example"]


def test_a_batch_counts_each_person_once_with_every_message(alice):
    record(
        [
            Contact(alice.pk, "Pat@Remote.example", "Pat", 1, 0, NOW),
            Contact(alice.pk, "pat@remote.example", "", 0, 1, NOW),
        ]
    )
    row = Correspondent.objects.get(user=alice)
    assert (row.address, row.name, row.sent_count, row.received_count) == ("pat@remote.example", "Pat", 1, 1)


def test_suggestions_are_one_query(alice):
    for n in range(30):
        _contact(alice, f"person{n}@remote.example", received=n + 1)
    with CaptureQueriesContext(connection) as queries:
        assert len(correspondents(user=alice, prefix="person", now=NOW)) == 8
    assert len(queries) == 2  # the user's own addresses, then their correspondents


def test_rebuild_counts_from_the_mailbox(alice):
    deliver(raw_email(sender="Dana <dana@remote.example>", to="alice@example.test"), alice)
    send_message(user=alice, to=["fox@remote.example"], subject="Hi")
    Correspondent.objects.all().delete()
    assert rebuild_correspondents(user=alice) == 2
    assert _addresses(alice, "fox") == ["fox@remote.example"]


def test_the_rebuild_command(alice, bob):
    deliver(raw_email(sender="Dana <dana@remote.example>", to="alice@example.test"), alice)
    Correspondent.objects.all().delete()
    call_command("rebuild_correspondents", "alice@example.test", stdout=StringIO())
    assert _addresses(alice, "dana") == ["dana@remote.example"]
    with pytest.raises(CommandError):
        call_command("rebuild_correspondents", "nobody@example.test")


def test_a_large_batch_is_written_in_several_statements(alice):
    record([Contact(alice.pk, f"p{n}@remote.example", "", 0, 1, NOW) for n in range(1200)])
    assert Correspondent.objects.filter(user=alice).count() == 1200
