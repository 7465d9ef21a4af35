"""The indexing pipeline: the change feed, the sweep, the task, the lag and the reindex command."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from mailboxes.models import MailboxChange, MailboxItem
from mailboxes.search import search
from mailboxes.search.backends import get_search_backend
from mailboxes.search.indexing import index_changes, indexing_lag, purge_orphans
from mailboxes.search.models import IndexCursor, SearchDocument
from mailboxes.search.tasks import index_changes_task, purge_orphans_task
from mailboxes.services import delete_forever, trash_items
from tests.factories import send_and_deliver
from webmail.celery import app as celery_app

pytestmark = pytest.mark.django_db


def found(user, query) -> set[int]:
    return {hit.item_id for hit in search(user, query).hits}


def test_new_mail_becomes_searchable_once_indexed(alice, mail):
    item = mail(subject="Harbour tour", body="boats at noon")
    assert found(alice, "harbour") == set()  # eventually consistent
    assert index_changes() == 1
    assert found(alice, "harbour") == {item.pk}


def test_each_change_is_indexed_once(alice, mail):
    mail(subject="one")
    mail(subject="two")
    assert index_changes() == 2
    assert index_changes() == 0
    assert IndexCursor.objects.get(name="changes").position == MailboxChange.objects.latest("pk").pk


def test_changes_are_taken_in_batches(alice, mail):
    items = [mail(subject=f"batch message {n}") for n in range(5)]
    assert index_changes(batch_size=2, max_batches=1) == 2
    assert index_changes(batch_size=2) == 3
    assert found(alice, "batch") == {item.pk for item in items}


def test_lag_is_measurable(alice, mail):
    assert indexing_lag().pending_changes == 0
    mail(subject="pending")
    mail(subject="pending too")
    lag = indexing_lag()
    assert lag.pending_changes == 2
    assert lag.seconds >= 0 and lag.oldest_pending_at is not None
    index_changes()
    assert indexing_lag().pending_changes == 0
    assert indexing_lag().seconds == 0


def test_sent_mail_is_indexed_by_the_sweep(alice, bob):
    """The feed records received mail only; the sweep picks up the sender's copy."""
    send_and_deliver(user=alice, to=["bob@example.test"], subject="Kayak trip", text="bring a paddle")
    index_changes()
    assert len(found(alice, "kayak in:sent")) == 1
    assert len(found(bob, "kayak")) == 1


def test_sweep_finds_an_item_that_committed_late(alice, mail):
    item = mail(subject="Late commit")
    index_changes()
    # As if its transaction had committed after the sweep moved past its id.
    get_search_backend().delete([item.pk])
    assert found(alice, "late") == set()
    assert index_changes() == 1
    assert found(alice, "late") == {item.pk}


T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def commit_late(change_id, *, user, item_id, kind):
    """A change whose transaction took ``change_id`` before a later one and committed after it."""
    return MailboxChange.objects.create(pk=change_id, user=user, item_id=item_id, kind=kind)


def test_a_change_that_commits_after_a_later_one_is_still_applied(alice, mail):
    gone, other = mail(subject="Shredded plans"), mail(subject="Other words")
    index_changes(now=T0)
    base = MailboxChange.objects.latest("pk").pk
    # base + 1 is taken by a transaction still open; base + 2 commits first and the indexer passes it.
    commit_late(base + 2, user=alice, item_id=other.pk, kind=MailboxChange.Kind.STATE)
    index_changes(now=T0)
    cursor = IndexCursor.objects.get(name="changes")
    assert (cursor.position, list(cursor.gaps)) == (base + 2, [str(base + 1)])
    # Then base + 1 commits: the item is deleted (without the services, which would record a new change).
    MailboxItem.objects.filter(pk=gone.pk).delete()
    commit_late(base + 1, user=alice, item_id=gone.pk, kind=MailboxChange.Kind.DELETED)
    index_changes(now=T0 + timedelta(seconds=1))
    assert not SearchDocument.objects.filter(item_id=gone.pk).exists()
    assert found(alice, "shredded in:anywhere") == set()
    assert IndexCursor.objects.get(name="changes").gaps == {}
    assert index_changes(now=T0 + timedelta(seconds=2)) == 0


def test_a_gap_that_never_fills_is_given_up(alice, mail, settings):
    settings.SEARCH_FEED_GAP_SECONDS = 60
    item = mail(subject="Only one")
    index_changes(now=T0)
    base = MailboxChange.objects.latest("pk").pk
    commit_late(base + 3, user=alice, item_id=item.pk, kind=MailboxChange.Kind.STATE)  # base + 1, 2 rolled back
    index_changes(now=T0)
    assert sorted(IndexCursor.objects.get(name="changes").gaps) == [str(base + 1), str(base + 2)]
    index_changes(now=T0 + timedelta(seconds=59))
    assert len(IndexCursor.objects.get(name="changes").gaps) == 2
    index_changes(now=T0 + timedelta(seconds=60))
    cursor = IndexCursor.objects.get(name="changes")
    assert (cursor.position, cursor.gaps) == (base + 3, {})


def test_the_task_runs_on_the_indexing_queue(alice, mail):
    route = celery_app.amqp.router.route({}, "search.index_changes")
    assert route["queue"].name == "indexing"
    item = mail(subject="Queued indexing")
    index_changes_task.delay()
    assert found(alice, "queued") == {item.pk}


def test_deleted_items_leave_the_index(alice, mail):
    item = mail(subject="Disposable")
    index_changes()
    trash_items(user=alice, item_ids=[item.pk])
    delete_forever(user=alice, item_ids=[item.pk])
    assert found(alice, "disposable in:anywhere") == set()
    assert purge_orphans() == 1
    assert not SearchDocument.objects.exists()


def test_reindex_rebuilds_with_a_progress_bar(alice, bob, mail):
    items = [mail(subject=f"Rebuild {n}", body="rebuilt words") for n in range(3)]
    bobs = mail(users=[bob], subject="Rebuild for bob")
    index_changes()
    get_search_backend().clear()
    assert found(alice, "rebuilt") == set()
    out, err = StringIO(), StringIO()
    call_command("reindex", "--batch-size", "2", stdout=out, stderr=err)
    assert "indexed 4 items" in out.getvalue()
    assert "4/4 (100%)" in err.getvalue()
    assert "2/4 (50%)" in err.getvalue()
    assert found(alice, "rebuilt") == {item.pk for item in items}
    assert found(bob, "rebuild") == {bobs.pk}
    assert index_changes() == 0  # the feed cursor moved to the present


def test_reindex_status_prints_the_lag(alice, mail):
    mail(subject="waiting")
    out = StringIO()
    call_command("reindex", "--status", stdout=out)
    assert "pending changes: 1" in out.getvalue()


def test_orphan_purge_runs_as_a_task(alice, mail):
    item = mail(subject="Short-lived")
    index_changes()
    trash_items(user=alice, item_ids=[item.pk])
    delete_forever(user=alice, item_ids=[item.pk])
    purge_orphans_task.delay()
    assert not SearchDocument.objects.exists()
    assert celery_app.amqp.router.route({}, "search.purge_orphans")["queue"].name == "indexing"
