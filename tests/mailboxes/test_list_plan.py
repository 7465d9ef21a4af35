"""PostgreSQL: a list page's queries keep to the page (the plans name the indexes that make them so).

The Inbox list reads its conversations from ``thread_user_inbox``, never probing items.

A mailbox that is nearly all archive made the list probe the items of every archived conversation
between two shown; with ``Thread.inbox_count`` kept by triggers, the partial index holds the Inbox's
conversations only, in the list's keyset order. A page's labels are looked up only for items that
carry one (``item_thread_labelled``).
"""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mailboxes import selectors
from mailboxes.models import Folder, MailboxItem, Message, Thread
from mailboxes.services import add_labels, archive_items, create_label, trash_items
from tests.factories import deliver, raw_email

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _postgres(db):
    if connection.vendor != "postgresql":
        pytest.skip("the plan is PostgreSQL's")


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _list_query_plan(user, **kwargs) -> dict:
    with CaptureQueriesContext(connection) as captured:
        page = selectors.conversations(user=user, view=Folder.INBOX, limit=2, **kwargs)
    # The first query of the page is the list itself (then the page's stars and labels).
    query = next(q for q in captured.captured_queries if 'FROM "mailboxes_thread"' in q["sql"])
    with connection.cursor() as cursor:  # captured SQL has its parameters inlined
        cursor.execute(f"EXPLAIN (FORMAT JSON) {query['sql']}")
        plan = cursor.fetchone()[0]
    return page, (plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]


def test_the_inbox_list_walks_only_conversations_with_an_inbox_item(alice):
    now = timezone.now()
    # Many conversations with nothing in the Inbox (as an archive-heavy mailbox has), newer than the Inbox's.
    Thread.objects.bulk_create(Thread(user=alice, subject=f"Old {n}", latest_at=now) for n in range(3000))
    items = [deliver(raw_email(subject=f"In {n}", to="alice@example.test"), alice)[0] for n in range(4)]
    archive_items(user=alice, item_ids=[items[0].pk])
    Thread.objects.filter(pk__in=[i.thread_id for i in items]).update(latest_at=now - timedelta(days=1))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE mailboxes_thread")
        cursor.execute("ANALYZE mailboxes_mailboxitem")

    page, plan = _list_query_plan(alice)
    assert [t.subject for t in page.threads] == ["In 3", "In 2"]
    nodes = list(_nodes(plan))
    assert any(node.get("Index Name") == "thread_user_inbox" for node in nodes), plan
    assert not any(node.get("Relation Name") == "mailboxes_mailboxitem" for node in nodes), plan

    later, plan = _list_query_plan(alice, cursor=page.next_cursor)
    assert [t.subject for t in later.threads] == ["In 1"]  # "In 0" is archived
    assert any(node.get("Index Name") == "thread_user_inbox" for node in _nodes(plan)), plan


def _unlabelled_mail(user, template: MailboxItem, count: int) -> None:
    """``count`` conversations of one message each, in bulk (a mailbox of some size for the planner)."""
    threads = Thread.objects.bulk_create(Thread(user=user, subject=f"Bulk {n}") for n in range(count))
    source = template.message
    messages = Message.objects.bulk_create(
        Message(blob=source.blob, message_id=f"bulk-{n}@remote.example", subject=f"Bulk {n}", size=source.size)
        for n in range(count)
    )
    MailboxItem.objects.bulk_create(
        MailboxItem(user=user, message=m, thread=t, origin=MailboxItem.Origin.RECEIVED, folder=Folder.INBOX)
        for m, t in zip(messages, threads, strict=True)
    )


def test_a_pages_labels_are_looked_up_only_for_labelled_items(alice):
    label = create_label(user=alice, name="Work")
    items = [deliver(raw_email(subject=f"M{n}", to="alice@example.test"), alice)[0] for n in range(6)]
    _unlabelled_mail(alice, items[0], 3000)
    add_labels(user=alice, item_ids=[items[1].pk, items[4].pk], label_ids=[label.pk])
    trash_items(user=alice, item_ids=[items[4].pk])  # its labels are not shown
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE mailboxes_mailboxitem")
        cursor.execute("ANALYZE mailboxes_mailboxitem_labels")
    threads = [Thread.objects.get(pk=item.thread_id) for item in items]
    with CaptureQueriesContext(connection) as captured:
        selectors.attach_thread_labels(threads)
    assert [[lab.name for lab in t.label_list] for t in threads] == [[], ["Work"], [], [], [], []]
    (query,) = captured.captured_queries
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {query['sql']}")
        plan = cursor.fetchone()[0]
    plan = (plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]
    assert any(node.get("Index Name") == "item_thread_labelled" for node in _nodes(plan)), json.dumps(plan, indent=1)
