"""Push: the server-sent events of /mail/events/, through Django's ASGI handler (mailboxes.push).

Each scenario runs in its own event loop, as a worker process would, with the database
calls in worker threads (so the test data is committed: transactional tests). Nothing
waits for the clock: a stream is read until the event the test is about arrives.
"""

import asyncio
import gc
import json

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import AsyncClient, Client

from mailboxes import push
from mailboxes.models import Folder, MailboxChange
from mailboxes.services import mark_read
from tests.factories import deliver, raw_email

pytestmark = pytest.mark.django_db(transaction=True)


def run(coroutine):
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(asyncio.wait_for(coroutine, 30))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())  # the streams' finally: they unsubscribe
        loop.run_until_complete(loop.shutdown_default_executor())  # ends the database threads
        loop.close()
        close_thread_connections()


def close_thread_connections():
    """Close what the worker threads opened (their contexts keep the wrappers), or PostgreSQL keeps the sessions."""
    gc.collect()
    mine = [connections[alias] for alias in connections]  # the test's own (an in-memory SQLite dies with it)
    for wrapper in gc.get_objects():
        try:
            is_theirs = (
                isinstance(wrapper, BaseDatabaseWrapper)
                and wrapper.connection is not None
                and not any(wrapper is own for own in mine)
            )
        except ReferenceError:  # a dead weak proxy another test left for the collector
            continue
        if is_theirs:
            wrapper.connection.close()
            wrapper.connection = None


class Stream:
    """An open /mail/events/ response, read event by event."""

    def __init__(self, response):
        assert response.status_code == 200, response.status_code
        assert response["Content-Type"] == "text/event-stream"
        self.response = response
        self.chunks = response.streaming_content
        self.buffer = ""

    async def next_block(self) -> str:
        while "\n\n" not in self.buffer:
            self.buffer += (await self.chunks.__anext__()).decode()
        block, self.buffer = self.buffer.split("\n\n", 1)
        return block

    async def next_event(self) -> dict:
        """The next ``mail`` event (comments and the retry line are skipped)."""
        while True:
            block = await self.next_block()
            fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
            if fields.get("event") == "mail":
                return {"id": fields["id"], **json.loads(fields["data"])}


async def open_stream(user, *, query="", last_event_id=None) -> Stream:
    client = AsyncClient()
    await client.aforce_login(user)
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    return Stream(await client.get("/mail/events/" + query, headers=headers))


async def deliver_to(user, subject, folder=Folder.INBOX):
    (item,) = await sync_to_async(deliver, thread_sensitive=False)(
        raw_email(subject=subject, sender="Sam Sender <sam@remote.example>", to=user.email), user, folder=folder
    )
    return item


async def started(stream: Stream) -> None:
    """Returns once the stream is subscribed and has read its state (its first line, retry:, is written then)."""
    assert (await stream.next_block()).startswith("retry: ")


def test_new_mail_is_pushed_with_its_sender_and_subject(alice):
    async def scenario():
        stream = await open_stream(alice, query="?since=0")
        await started(stream)
        item = await deliver_to(alice, "Pushed to you")
        event = await stream.next_event()
        latest = await sync_to_async(lambda: MailboxChange.objects.filter(item_id=item.pk).get().pk)()
        assert event == {
            "id": f"{latest}.{latest}",
            "latest": latest,
            "new": True,
            "message": {"from": "Sam Sender", "subject": "Pushed to you"},
        }

    run(scenario())


def test_a_stream_never_carries_another_users_mail(alice, bob):
    async def scenario():
        alices, bobs = await open_stream(alice), await open_stream(bob)
        await started(alices)
        await started(bobs)
        await deliver_to(bob, "For Bob only")
        await deliver_to(alice, "For Alice")
        assert (await alices.next_event())["message"]["subject"] == "For Alice"
        assert (await bobs.next_event())["message"]["subject"] == "For Bob only"
        await deliver_to(bob, "Bob again")
        assert (await bobs.next_event())["message"]["subject"] == "Bob again"
        await deliver_to(alice, "Alice again")
        assert (await alices.next_event())["message"]["subject"] == "Alice again"

    run(scenario())


def test_a_page_hears_at_once_of_mail_newer_than_it_shows(alice):
    first = deliver(raw_email(subject="Already shown", to=alice.email), alice)[0]
    shown = MailboxChange.objects.get(item_id=first.pk).pk
    deliver(raw_email(subject="Came meanwhile", to=alice.email), alice)

    async def scenario():
        stream = await open_stream(alice, query=f"?since={shown}")
        event = await stream.next_event()
        assert event["new"] is True
        assert event["message"]["subject"] == "Came meanwhile"

    run(scenario())


def test_a_reconnecting_page_resumes_from_its_last_event_id(alice):
    item = deliver(raw_email(subject="Seen before the reconnect", to=alice.email), alice)[0]
    seen = MailboxChange.objects.get(item_id=item.pk).pk

    async def scenario():
        # Nothing after its last event: no event at once; then the next change is pushed.
        stream = await open_stream(alice, last_event_id=f"{seen}.{seen}", query="?since=0")
        await started(stream)
        await deliver_to(alice, "After the reconnect")
        event = await stream.next_event()
        assert event["message"]["subject"] == "After the reconnect"

        # A page that missed a change while it reconnected hears of it first.
        missed = await deliver_to(alice, "Missed while away")
        stream = await open_stream(alice, last_event_id=f"{seen}.{seen}")
        event = await stream.next_event()
        latest = await sync_to_async(lambda: MailboxChange.objects.get(item_id=missed.pk).pk)()
        assert event["id"] == f"{latest}.{latest}"
        assert event["message"]["subject"] == "Missed while away"

    run(scenario())


def test_read_elsewhere_is_pushed_without_claiming_new_mail(alice):
    item = deliver(raw_email(subject="Read on the phone", to=alice.email), alice)[0]

    async def scenario():
        stream = await open_stream(alice)
        await started(stream)
        await sync_to_async(mark_read, thread_sensitive=False)(user=alice, item_ids=[item.pk], read=True)
        event = await stream.next_event()
        assert event["new"] is False
        assert event["message"] is None

    run(scenario())


def test_mail_placed_in_spam_is_new_but_has_no_notification_summary(alice):
    async def scenario():
        stream = await open_stream(alice)
        await started(stream)
        await deliver_to(alice, "Cheap pills", folder=Folder.SPAM)
        event = await stream.next_event()
        assert event["new"] is True
        assert event["message"] is None

    run(scenario())


def test_heartbeats_then_the_stream_ends_so_the_browser_reconnects(alice, settings):
    settings.PUSH_HEARTBEAT_SECONDS = 0.01
    settings.PUSH_STREAM_SECONDS = 0.2

    async def scenario():
        stream = await open_stream(alice)
        await started(stream)
        assert await stream.next_block() == ": keep-alive"
        rest = [chunk async for chunk in stream.chunks]  # ends by itself
        assert all(chunk.startswith(b":") for chunk in rest)
        assert stream.response["Cache-Control"] == "no-cache"
        assert stream.response["X-Accel-Buffering"] == "no"
        assert push.watcher().connected == 0

    run(scenario())


def test_a_change_committed_late_with_a_lower_id_still_wakes_its_user(alice, bob):
    # On PostgreSQL a transaction may commit id n after id n+1 was read: written here in that order.
    def write(change_id, user):
        return MailboxChange.objects.create(id=change_id, user=user, item_id=0, kind=MailboxChange.Kind.STATE).pk

    async def scenario():
        alices, bobs = await open_stream(alice), await open_stream(bob)
        await started(alices)
        await started(bobs)
        top = await sync_to_async(lambda: MailboxChange.objects.order_by("-id").values_list("id", flat=True).first())()
        top = top or 0
        await sync_to_async(write, thread_sensitive=False)(top + 2, alice)
        assert (await alices.next_event())["id"] == f"{top + 2}.0"  # the watcher has read past top + 1
        await sync_to_async(write, thread_sensitive=False)(top + 1, bob)
        assert (await bobs.next_event())["id"] == f"{top + 1}.0"

    run(scenario())


def test_signed_out_is_sent_to_sign_in_and_wsgi_gets_no_stream(alice):
    client = Client()  # WSGI
    assert client.get("/mail/events/").status_code == 302
    client.force_login(alice)
    assert client.get("/mail/events/").status_code == 204  # EventSource stops; the page keeps polling
