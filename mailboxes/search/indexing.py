"""Keeping the search index up to date: following the mailbox change feed, and rebuilding.

Indexing is eventually consistent. ``index_changes`` follows ``MailboxChange``
with a cursor kept in ``IndexCursor``, in batches: new mail and edited drafts
are (re)indexed, deleted items removed, and folder/label/flag changes copied
into backends that keep a copy of them (Elasticsearch; the database backend
filters them live). It then sweeps new item ids for what the feed does not
carry (sent copies), so every item gets a document. Run by the
``search.index_changes`` task on the indexing queue every few seconds (beat),
or directly by tests.

With ``SEARCH_INDEX_PARTITIONS`` = N over 1, the feed and the sweep are split
by ``user_id % N``, each part with cursors of its own (``changes:k/N``,
``items:k/N``), so that N workers index at once: a worker takes a part whose
cursor no one holds (``SKIP LOCKED``). All of an item's changes are its
user's, so they stay in order. A part's sweep runs while holding that part's
feed cursor: it never indexes an item beside the worker applying the item's
changes. A part's cursor starts at the lowest position of the feed's cursors
when it is first taken (after N changed): a little is indexed twice, which
the upsert and the deletions make harmless. Going back to a count used before
resumes its cursors where they stopped (more indexed twice): delete their
``IndexCursor`` rows first to start them at the lowest of the others.

Change ids come from a sequence: on PostgreSQL a transaction may take its id
before another and commit after it, so a cursor can pass an id that is not
there yet. The cursor keeps the ids it passed that were missing (``gaps``) and
reads them again with each batch until they appear, for
``SEARCH_FEED_GAP_SECONDS``; one that never does (a rolled-back insert, a
deleted user's changes) is given up then. More than ``MAX_GAPS`` in one batch
are not waited for (a large rolled-back batch).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Min, Q, QuerySet
from django.db.models.functions import Mod
from django.utils import timezone

from core.metrics import SEARCH_INDEXED
from mailboxes.models import MailboxChange, MailboxItem
from mailboxes.search.backends import SearchBackend, get_search_backend
from mailboxes.search.backends.database import DatabaseBackend
from mailboxes.search.documents import build_documents, build_states
from mailboxes.search.models import IndexCursor, SearchDocument

CHANGES = "changes"
SWEEP = "items"
# The sweep looks again at this many ids below its cursor each time, so an
# item whose transaction committed after a higher id was swept is still found.
SWEEP_OVERLAP = 1000
MAX_GAPS = 1000


def index_items(item_ids: list[int], *, backend: SearchBackend | None = None) -> int:
    """(Re)indexes these items; an id whose item is gone is removed from the index. Returns how many were indexed."""
    backend = backend or get_search_backend()
    ids = list(dict.fromkeys(item_ids))
    documents = build_documents(ids)
    backend.index(documents)
    gone = set(ids) - {doc.item_id for doc in documents}
    if gone:
        backend.delete(sorted(gone))
    return len(documents)


@dataclass(frozen=True)
class Part:
    """One part of the feed and the sweep: the users whose id modulo ``of`` is ``number``."""

    number: int
    of: int

    def cursor_name(self, feed: str) -> str:
        return feed if self.of == 1 else f"{feed}:{self.number}/{self.of}"

    def mine(self, queryset: QuerySet) -> QuerySet:
        if self.of == 1:
            return queryset
        return queryset.alias(_part=Mod("user_id", self.of)).filter(_part=self.number)


def parts() -> list[Part]:
    count = max(1, settings.SEARCH_INDEX_PARTITIONS)
    return [Part(number, count) for number in range(count)]


def _cursor(name: str) -> IndexCursor | None:
    """The cursor, locked for this transaction; None if another worker holds it."""
    cursor = IndexCursor.objects.select_for_update(skip_locked=True).filter(name=name).first()
    if cursor is not None:  # one statement in the usual case: each is a round trip, and they add up under load
        return cursor
    if not IndexCursor.objects.filter(name=name).exists():
        # Started at the lowest cursor of another count of parts (none: the feed's beginning),
        # never at a sibling's: the siblings' changes are not this part's.
        feed = name.split(":", 1)[0]
        siblings = {part.cursor_name(feed) for part in parts()}
        others = IndexCursor.objects.filter(Q(name=feed) | Q(name__startswith=f"{feed}:")).exclude(name__in=siblings)
        start = others.aggregate(lowest=Min("position"))["lowest"] or 0
        IndexCursor.objects.get_or_create(name=name, defaults={"position": start})
    return IndexCursor.objects.select_for_update(skip_locked=True).filter(name=name).first()


def _advance(cursor: IndexCursor, position: int) -> None:
    cursor.position = position
    cursor.updated_at = timezone.now()
    cursor.save(update_fields=["position", "updated_at"])


def _feed_batch(cursor: IndexCursor, part: Part, batch_size: int) -> list[tuple[int, int, str]]:
    """The part's next changes: those of its gaps that have appeared since, then those above the cursor.

    Two reads, not one with OR: with an OR, PostgreSQL may walk the primary key from the feed's start.
    """
    fields = ("pk", "item_id", "kind")
    late = []
    if cursor.gaps:
        late = list(
            part.mine(MailboxChange.objects.filter(pk__in=[int(pk) for pk in cursor.gaps])).values_list(*fields)
        )
        late = sorted(late)[:batch_size]
    above = part.mine(MailboxChange.objects.filter(pk__gt=cursor.position)).order_by("pk")
    return late + list(above.values_list(*fields)[: batch_size - len(late)])


def _follow_gaps(cursor: IndexCursor, part: Part, read: list[int], now: datetime) -> bool:
    """Moves the cursor past what was read, keeping the ids it passed that are not there (yet); True if it changed."""
    old, stamp = cursor.position, now.timestamp()
    gaps = {int(pk): seen for pk, seen in cursor.gaps.items()}
    new = max(old, *read) if read else old
    if gaps:  # filled: read here, or (parts) another part's change that has appeared
        filled = (
            set(read)
            if part.of == 1
            else set(MailboxChange.objects.filter(pk__in=list(gaps)).values_list("pk", flat=True))
        )
        gaps = {pk: seen for pk, seen in gaps.items() if pk not in filled}
    if old and new > old + 1:  # (a cursor at the feed's beginning has passed nothing: a sequence may start anywhere)
        # One part reads every change above the cursor in order, up to the last it read; parts look at the feed.
        between = MailboxChange.objects.filter(pk__gt=old, pk__lte=new)
        present = sum(pk > old for pk in read) if part.of == 1 else between.count()
        if 0 < new - old - present <= MAX_GAPS:
            there = {pk for pk in read if pk > old} if part.of == 1 else set(between.values_list("pk", flat=True))
            gaps.update({pk: stamp for pk in range(old + 1, new) if pk not in there})
    gaps = {pk: seen for pk, seen in gaps.items() if stamp - seen < settings.SEARCH_FEED_GAP_SECONDS}
    if len(gaps) > MAX_GAPS:
        gaps = {}
    changed = new != old or gaps.keys() != {int(pk) for pk in cursor.gaps}
    cursor.position, cursor.gaps, cursor.updated_at = new, {str(pk): seen for pk, seen in gaps.items()}, now
    return changed


def _index_feed_batch(backend: SearchBackend, batch_size: int, part: Part, now: datetime) -> int | None:
    """One batch of the part's change feed; None when there was nothing (or another worker holds the cursor)."""
    with transaction.atomic():
        cursor = _cursor(part.cursor_name(CHANGES))
        if cursor is None:
            return None
        changes = _feed_batch(cursor, part, batch_size)
        count = apply_changes([(item_id, kind) for _, item_id, kind in changes], backend=backend) if changes else 0
        if _follow_gaps(cursor, part, [pk for pk, _, _ in changes], now):
            cursor.save(update_fields=["position", "gaps", "updated_at"])
        if not changes:
            return None
        applied = len(changes)
        transaction.on_commit(lambda: SEARCH_INDEXED.inc(applied))  # with the cursor: a rollback applies them again
    return count


def apply_changes(changes: list[tuple[int, str]], *, backend: SearchBackend) -> int:
    """Brings the index up to date with a batch of (item id, kind); returns how many documents were (re)built.

    Each kind is handled in one request per batch: content (new, updated) by rebuilding the
    documents, state by a partial update where the backend keeps a copy, deletion by removal.
    An item gone by now is removed whatever its change was.
    """
    kinds: dict[int, set[str]] = {}
    for item_id, kind in changes:
        kinds.setdefault(item_id, set()).add(kind)
    deleted = sorted(pk for pk, seen in kinds.items() if MailboxChange.Kind.DELETED in seen)
    content = [pk for pk, seen in kinds.items() if pk not in deleted and seen & _CONTENT]
    state = [pk for pk, seen in kinds.items() if pk not in deleted and not seen & _CONTENT]
    if deleted:
        backend.delete(deleted)
    count = index_items(content, backend=backend) if content else 0
    if state and backend.copies_state:
        states = build_states(state)
        gone = set(state) - {s.item_id for s in states}
        if gone:
            backend.delete(sorted(gone))
        unindexed = backend.update_states(states)
        if unindexed:  # not indexed yet (the sweep has not reached it): index it whole
            count += index_items(sorted(unindexed), backend=backend)
    return count


_CONTENT = {MailboxChange.Kind.NEW, MailboxChange.Kind.UPDATED}


def _index_missing(backend: SearchBackend, ids: list[int]) -> int:
    missing = sorted(set(ids) - backend.indexed_ids(ids))
    return index_items(missing, backend=backend) if missing else 0


def _sweep(backend: SearchBackend, batch_size: int, max_batches: int, part: Part) -> int:
    """Indexes items that have no document yet among the part's new item ids (and the last few already swept).

    Each transaction holds the part's feed cursor first: while another worker applies the part's
    changes, the sweep waits for a later run rather than index the same new items beside it.
    """
    total = 0
    for batch in range(max_batches + 1):
        with transaction.atomic():
            if _cursor(part.cursor_name(CHANGES)) is None:
                break
            cursor = _cursor(part.cursor_name(SWEEP))
            if cursor is None:
                break
            items = part.mine(MailboxItem.objects.all())
            if batch == 0:
                recent = items.filter(pk__gt=max(0, cursor.position - SWEEP_OVERLAP), pk__lte=cursor.position)
                total += _index_missing(backend, list(recent.values_list("pk", flat=True)))
                continue
            ids = list(items.filter(pk__gt=cursor.position).order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            total += _index_missing(backend, ids)
            _advance(cursor, ids[-1])
    return total


def index_changes(*, batch_size: int | None = None, max_batches: int | None = None, now: datetime | None = None) -> int:
    """Indexes what changed since the last run, a batch at a time; returns how many items were indexed.

    A batch of each part in turn (those another worker holds are passed over), so that the parts'
    feeds advance together: the sweep after them goes about as far in each part as its feed went,
    and does not index ahead of it the new items that the feed indexes again later.
    """
    backend = get_search_backend()
    batch_size = batch_size or settings.SEARCH_INDEX_BATCH_SIZE
    max_batches = max_batches or settings.SEARCH_INDEX_MAX_BATCHES_PER_TASK
    now = now or timezone.now()
    total = 0
    rounds = max(1, max_batches // len(parts()))  # as many batches per part for the feed as for the sweep
    for _ in range(rounds):
        counts = [n for part in parts() if (n := _index_feed_batch(backend, batch_size, part, now)) is not None]
        if not counts:
            break
        total += sum(counts)
    return total + sum(_sweep(backend, batch_size, rounds, part) for part in parts())


@dataclass(frozen=True)
class IndexLag:
    pending_changes: int  # feed entries not yet indexed
    oldest_pending_at: datetime | None
    seconds: float  # age of the oldest pending change (0 when caught up)


def pending_changes() -> QuerySet:
    """The feed's changes that the indexer has not applied yet, part by part.

    Not above the lowest cursor: a part that is caught up keeps its cursor at its own last change,
    below the other parts' changes that are already applied.
    """
    positions = dict(IndexCursor.objects.values_list("name", "position"))
    every = parts()
    if len(every) == 1:
        return MailboxChange.objects.filter(pk__gt=positions.get(CHANGES, 0))
    pending = Q()
    for part in every:
        pending |= Q(pk__gt=positions.get(part.cursor_name(CHANGES), 0), _part=part.number)
    return MailboxChange.objects.alias(_part=Mod("user_id", len(every))).filter(pending)


def indexing_lag() -> IndexLag:
    """How far behind the change feed the index is."""
    pending = pending_changes()
    oldest = pending.order_by("pk").values_list("created_at", flat=True).first()
    seconds = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    return IndexLag(pending_changes=pending.count(), oldest_pending_at=oldest, seconds=max(0.0, seconds))


def rebuild_index(
    *, backend: SearchBackend | None = None, batch_size: int = 500, progress: Callable[[int, int], None] | None = None
) -> int:
    """Empties the index and indexes every mailbox item again; the feed cursor skips to the present.

    ``progress(done, total)`` is called after each batch.
    """
    backend = backend or get_search_backend()
    with transaction.atomic():
        # Changes recorded from here on are indexed by the next index_changes run, twice at worst.
        last_change = MailboxChange.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        last_item = MailboxItem.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    backend.clear()
    total = MailboxItem.objects.filter(pk__lte=last_item).count()
    done, position = 0, 0
    while True:
        ids = list(
            MailboxItem.objects.filter(pk__gt=position, pk__lte=last_item)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            break
        done += index_items(ids, backend=backend)
        position = ids[-1]
        if progress:
            progress(done, total)
    for part in parts():
        for name, value in ((part.cursor_name(CHANGES), last_change), (part.cursor_name(SWEEP), last_item)):
            IndexCursor.objects.update_or_create(
                name=name, defaults={"position": value, "gaps": {}, "updated_at": timezone.now()}
            )
    return done


def purge_orphans(*, batch_size: int = 1000) -> int:
    """Removes documents whose item was deleted (the database backend keeps them until then).

    Only the database backend can find them by a join; Elasticsearch drops hits whose item is
    gone at search time, and ``reindex`` rebuilds it without them.
    """
    backend = get_search_backend()
    if not isinstance(backend, DatabaseBackend):
        return 0
    removed = 0
    while True:
        orphans = list(
            SearchDocument.objects.exclude(item_id__in=MailboxItem.objects.values("pk")).values_list(
                "item_id", flat=True
            )[:batch_size]
        )
        if not orphans:
            return removed
        backend.delete(orphans)
        removed += len(orphans)
