"""Push: open pages learn of new mail over server-sent events (docs/PUSH.md).

One ``ChangeWatcher`` per event loop (an ASGI worker process) reads the change feed
(``MailboxChange``) of every user in one query each ``PUSH_WATCH_SECONDS`` and wakes the
streams of the users whose mailbox changed. A connected page costs no query while nothing
happens to its user's mailbox: one when it connects, and the watcher's shared reads after.

Ids of the feed come from a sequence, and on PostgreSQL a transaction may commit a lower id
after a higher one was read. The watcher remembers the ids it has not seen below the highest
it has (gaps) for ``GAP_SECONDS`` and reads from the lowest of them again, so such a late
change still wakes its user; a gap that never fills (a rolled-back insert) is given up.
"""

import asyncio
import json
import logging
import random
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.db.models import Max, Q

from mailboxes.models import Folder, MailboxChange, MailboxItem

logger = logging.getLogger(__name__)

RETRY_MILLISECONDS = 2000  # EventSource waits this long before it reconnects
GAP_SECONDS = 5.0
MAX_GAPS = 1000


@dataclass
class Update:
    """What a stream tells its page: the newest change, the newest new mail, and that mail's sender and subject."""

    change: int = 0
    new: int = 0
    message: dict | None = None

    def merge(self, other: "Update") -> None:
        self.change = max(self.change, other.change)
        if other.new > self.new:
            self.new, self.message = other.new, other.message


def _db(function):
    """Run a database function in a worker thread (never the event loop's), with a fresh connection if the last died.

    The thread keeps its connection from tick to tick: the web processes run with DATABASE_CONN_MAX_AGE=0
    (webmail/asgi.py), which would otherwise make the watcher reconnect three times a second. With a
    pool (DATABASE_POOL, PostgreSQL under ASGI) the connection goes back to it after each call: a
    thread of the event loop's pool would otherwise keep one of the requests' few connections for good.
    """

    def call(*args, **kwargs):
        if connection.connection is not None and connection.errors_occurred and not connection.is_usable():
            connection.close()
        try:
            return function(*args, **kwargs)
        finally:
            if getattr(connection, "pool", None) is not None:
                connection.close()  # back to the pool

    return sync_to_async(call, thread_sensitive=False)


def _summaries(item_ids: dict[int, int]) -> dict[int, dict]:
    """Sender and subject of each user's item (user id -> item id), when it is in that user's inbox."""
    items = MailboxItem.objects.filter(pk__in=item_ids.values(), folder=Folder.INBOX).select_related("message")
    found = {}
    for item in items:
        if item_ids.get(item.user_id) == item.pk:  # the item must be that user's own
            found[item.user_id] = {
                "from": item.message.from_name or item.message.from_address,
                "subject": item.message.subject,
            }
    return found


def read_state(user_id: int) -> Update:
    """The user's newest change and newest new mail, as the stream starts."""
    changes = MailboxChange.objects.filter(user_id=user_id)
    latest = changes.aggregate(change=Max("id"), new=Max("id", filter=Q(kind=MailboxChange.Kind.NEW)))
    update = Update(change=latest["change"] or 0, new=latest["new"] or 0)
    if update.new:
        item_id = changes.filter(pk=update.new).values_list("item_id", flat=True).first()
        update.message = _summaries({user_id: item_id}).get(user_id)
    return update


def _latest_change_id() -> int:
    return MailboxChange.objects.aggregate(latest=Max("id"))["latest"] or 0


def _changes_above(floor: int) -> list[tuple[int, int, str, int]]:
    changes = MailboxChange.objects.filter(id__gt=floor).order_by("id")
    return list(changes.values_list("id", "user_id", "kind", "item_id"))


class Subscription:
    """One open stream: the watcher merges what changed into ``pending`` and sets ``event``."""

    def __init__(self, user_id: int):
        self.user_id = user_id
        self.event = asyncio.Event()
        self.pending = Update()

    def notify(self, update: Update) -> None:
        self.pending.merge(update)
        self.event.set()

    def take(self) -> Update:
        update, self.pending = self.pending, Update()
        self.event.clear()
        return update


class ChangeWatcher:
    """Follows the change feed for every stream of one event loop; runs only while a stream is open."""

    def __init__(self, *, clock=time.monotonic):
        self.clock = clock
        self.ready = asyncio.Event()  # set once the watcher knows where the feed stands
        self._streams: dict[int, set[Subscription]] = {}
        self._task: asyncio.Task | None = None
        self._floor: int | None = None
        self._seen: set[int] = set()
        self._gaps: dict[int, float] = {}

    def subscribe(self, user_id: int) -> Subscription:
        subscription = Subscription(user_id)
        self._streams.setdefault(user_id, set()).add(subscription)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        streams = self._streams.get(subscription.user_id, set())
        streams.discard(subscription)
        if not streams:
            self._streams.pop(subscription.user_id, None)
        if not self._streams and self._task is not None:
            # Nobody listens: stop reading the feed. The next stream starts again from where the feed is then.
            self._task.cancel()
            self._task = None
            self._floor = None
            self._seen.clear()
            self._gaps.clear()
            self.ready = asyncio.Event()

    @property
    def connected(self) -> int:
        return sum(len(streams) for streams in self._streams.values())

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A database that is away for a moment: the streams wait, the next tick tries again.
                logger.exception("push: reading the change feed failed")
            await asyncio.sleep(settings.PUSH_WATCH_SECONDS)

    async def tick(self) -> None:
        """One read of the feed: wake the streams of the users whose mailbox changed."""
        if self._floor is None:
            self._floor = await _db(_latest_change_id)()
            self.ready.set()
            return
        rows = [row for row in await _db(_changes_above)(self._floor) if row[0] not in self._seen]
        if not rows:
            self._advance()
            return
        self._seen.update(row[0] for row in rows)
        updates: dict[int, Update] = {}
        newest_items: dict[int, int] = {}
        for change_id, user_id, kind, item_id in rows:
            if user_id not in self._streams:
                continue
            update = updates.setdefault(user_id, Update())
            update.change = max(update.change, change_id)
            if kind == MailboxChange.Kind.NEW and change_id > update.new:
                update.new = change_id
                newest_items[user_id] = item_id
        self._advance()
        if newest_items:
            for user_id, message in (await _db(_summaries)(newest_items)).items():
                updates[user_id].message = message
        for user_id, update in updates.items():
            for subscription in self._streams.get(user_id, ()):
                subscription.notify(update)

    def _advance(self) -> None:
        """Raise the floor to the highest id seen, except below ids not seen yet (a commit may still bring them)."""
        if not self._seen:
            return
        now = self.clock()
        highest = max(self._seen)
        for missing in set(range(self._floor + 1, highest)) - self._seen:
            self._gaps.setdefault(missing, now)
        self._gaps = {gap: since for gap, since in self._gaps.items() if now - since < GAP_SECONDS}
        if len(self._gaps) > MAX_GAPS:  # ids taken by a large rolled-back batch: not worth waiting for
            self._gaps.clear()
        self._floor = min(self._gaps) - 1 if self._gaps else highest
        self._seen = {seen for seen in self._seen if seen > self._floor}


_watchers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ChangeWatcher]" = weakref.WeakKeyDictionary()


def watcher() -> ChangeWatcher:
    """The watcher of the running event loop (one per ASGI worker process)."""
    loop = asyncio.get_running_loop()
    if loop not in _watchers:
        _watchers[loop] = ChangeWatcher()
    return _watchers[loop]


def parse_cursor(value: str) -> tuple[int, int] | None:
    """``Last-Event-ID`` as this stream writes it, ``CHANGE.NEW``; None when it is not one."""
    change, _, new = (value or "").partition(".")
    if change.isdigit() and new.isdigit():
        return int(change), int(new)
    return None


def _event(*, change: int, new: int, is_new: bool, message: dict | None) -> str:
    """A ``mail`` event; its id is the cursor a reconnecting EventSource sends back as ``Last-Event-ID``."""
    data = {"latest": new, "new": is_new, "message": message if is_new else None}
    return f"id: {change}.{new}\nevent: mail\ndata: {json.dumps(data)}\n\n"


async def event_stream(*, user_id: int, cursor: tuple[int, int] | None, since: int | None) -> AsyncIterator[str]:
    """The server-sent events of one page: a ``mail`` event whenever the user's mailbox changes.

    ``cursor`` is where a reconnecting page was (its ``Last-Event-ID``); a new page gives
    ``since``, the newest new mail it shows, and hears at once of mail newer than that.
    Comments keep the connection alive; the stream ends after about ``PUSH_STREAM_SECONDS``
    (EventSource reconnects with its last id) so connections are spread over workers again.
    """
    hub = watcher()
    subscription = hub.subscribe(user_id)
    try:
        await hub.ready.wait()
        update = await _db(read_state)(user_id)
        if cursor is None:
            cursor = (update.change, update.new if since is None else since)
        change, new = cursor
        yield f"retry: {RETRY_MILLISECONDS}\n\n"
        lifetime = settings.PUSH_STREAM_SECONDS * random.uniform(0.8, 1.0)  # reconnects spread out
        deadline = hub.clock() + lifetime
        while True:
            if update.change > change or update.new > new:
                is_new = update.new > new
                change, new = max(change, update.change), max(new, update.new)
                yield _event(change=change, new=new, is_new=is_new, message=update.message)
            remaining = deadline - hub.clock()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(subscription.event.wait(), min(settings.PUSH_HEARTBEAT_SECONDS, remaining))
            except TimeoutError:
                yield ": keep-alive\n\n"
                update = Update()
                continue
            update = subscription.take()
    finally:
        hub.unsubscribe(subscription)
