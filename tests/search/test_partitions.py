"""The change feed in parts (``SEARCH_INDEX_PARTITIONS``) that several indexing workers follow at once."""

import threading
from contextlib import contextmanager

import pytest
from django.db import connection, transaction

from mailboxes.models import MailboxChange
from mailboxes.search import search
from mailboxes.search.indexing import index_changes, indexing_lag
from mailboxes.search.models import IndexCursor

pytestmark = pytest.mark.django_db


def found(user, query) -> set[int]:
    return {hit.item_id for hit in search(user, query).hits}


@pytest.fixture
def two_parts(settings):
    settings.SEARCH_INDEX_PARTITIONS = 2


@pytest.fixture
def even_and_odd(alice, bob, carol):
    """Two users in different parts (user id modulo 2)."""
    users = [alice, bob, carol]
    return next(u for u in users if u.pk % 2 == 0), next(u for u in users if u.pk % 2 == 1)


def change_of(item) -> int:
    return MailboxChange.objects.get(item_id=item.pk).pk


@pytest.mark.parametrize("odd_first", [False, True])
def test_each_part_follows_its_users_changes_once(two_parts, even_and_odd, mail, odd_first):
    even, odd = even_and_odd
    if odd_first:  # part 0 is taken first and goes past part 1's change: part 1 still starts at the beginning
        theirs, mine = mail(users=[odd], subject="Parted words"), mail(users=[even], subject="Parted words")
    else:
        mine, theirs = mail(users=[even], subject="Parted words"), mail(users=[odd], subject="Parted words")
    assert index_changes() == 2
    assert index_changes() == 0
    positions = dict(IndexCursor.objects.values_list("name", "position"))
    assert positions["changes:0/2"] == change_of(mine)
    assert positions["changes:1/2"] == change_of(theirs)
    assert found(even, "parted") == {mine.pk}
    assert found(odd, "parted") == {theirs.pk}


def test_a_new_part_starts_where_the_single_cursor_stopped(settings, alice, mail):
    mail(subject="Before the split")
    assert index_changes() == 1
    settings.SEARCH_INDEX_PARTITIONS = 2
    after = mail(subject="After the split")
    assert index_changes() == 1  # not everything again
    assert after.pk in found(alice, "split")


def test_the_lag_counts_each_parts_own_changes(two_parts, even_and_odd, mail):
    """A caught-up part's cursor stays below the other part's changes: they are not pending."""
    even, odd = even_and_odd
    mail(users=[odd], subject="Applied")
    index_changes()
    assert IndexCursor.objects.get(name="changes:0/2").position < MailboxChange.objects.get().pk
    assert indexing_lag().pending_changes == 0
    assert indexing_lag().seconds == 0
    mail(users=[even], subject="Waiting")
    assert indexing_lag().pending_changes == 1


@contextmanager
def cursor_held_elsewhere(name: str):
    """Another worker's transaction holding the cursor ``name`` until the block ends."""
    held, release = threading.Event(), threading.Event()

    def worker():
        try:
            with transaction.atomic():
                IndexCursor.objects.select_for_update().get(name=name)
                held.set()
                release.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    assert held.wait(30)
    try:
        yield
    finally:
        release.set()
        thread.join()


postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks that other workers skip are PostgreSQL's"
)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_second_worker_takes_the_part_the_first_one_holds_not(two_parts, even_and_odd, mail):
    even, odd = even_and_odd
    index_changes()  # both parts' cursors exist
    mine, theirs = mail(users=[even], subject="Busy part"), mail(users=[odd], subject="Free part")
    with cursor_held_elsewhere("changes:0/2"):
        assert index_changes() == 1
        # Nor does the sweep index the held part's new item beside the worker applying its changes.
        assert found(even, "busy") == set()
        assert found(odd, "free") == {theirs.pk}
    assert index_changes() == 1
    assert found(even, "busy") == {mine.pk}


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_sweep_waits_while_another_worker_applies_the_feed(alice, mail):
    """Two overlapping runs with one part: the second neither applies the feed nor sweeps the same items."""
    index_changes()
    item = mail(subject="Overlapping runs")
    with cursor_held_elsewhere("changes"):
        assert index_changes() == 0
    assert found(alice, "overlapping") == set()
    assert index_changes() == 1
    assert found(alice, "overlapping") == {item.pk}


def test_the_sweep_does_not_run_ahead_of_its_parts_feed(two_parts, even_and_odd, mail):
    """With a feed longer than one run, each item's document is still built once."""
    even, odd = even_and_odd
    items = [mail(users=[user], subject=f"Backlog {n}") for user in (even, odd) for n in range(2)]
    built = []
    while count := index_changes(batch_size=1, max_batches=2):
        built.append(count)
    assert sum(built) == len(items)
    assert found(even, "backlog") | found(odd, "backlog") == {item.pk for item in items}


def test_a_part_waits_for_a_change_id_it_passed_whoever_it_belongs_to(two_parts, even_and_odd, mail):
    from datetime import UTC, datetime

    even, odd = even_and_odd
    mine, theirs = mail(users=[even], subject="Even words"), mail(users=[odd], subject="Odd words")
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    index_changes(now=now)
    base = MailboxChange.objects.latest("pk").pk
    MailboxChange.objects.create(pk=base + 3, user=even, item_id=mine.pk, kind=MailboxChange.Kind.STATE)
    index_changes(now=now)
    gaps = {name: sorted(gaps) for name, gaps in IndexCursor.objects.values_list("name", "gaps")}
    assert gaps["changes:0/2"] == [str(base + 1), str(base + 2)]
    # base + 1 was the odd user's (the even part drops it once it is there), base + 2 the even user's.
    MailboxChange.objects.create(pk=base + 1, user=odd, item_id=theirs.pk, kind=MailboxChange.Kind.STATE)
    MailboxChange.objects.create(pk=base + 2, user=even, item_id=mine.pk, kind=MailboxChange.Kind.UPDATED)
    assert index_changes(now=now) == 1  # the even part rebuilds its item's document
    gaps = dict(IndexCursor.objects.values_list("name", "gaps"))
    assert gaps["changes:0/2"] == {}
