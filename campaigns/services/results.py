"""Counting a campaign's results as its delivery events are recorded, and recounting them from the log.

``count_campaign_events`` runs inside the transaction that stored the events
(``delivery.services.events.events_recorded``), so the counters commit or roll
back with them. It must cost transactional mail nothing: an event is a
campaign's only if its recipient is in the bulk queue, which is known without
a query (see ``_campaign_events``).

Per batch of a campaign's events: one query for their campaign, one for the
earlier state of the recipients whose state may move, then one upsert
statement per counter table.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC

from django.db import connection, transaction

from campaigns.models import Campaign, CampaignHourlyTally, CampaignLinkTally, CampaignTally
from delivery.models import DeliveryEvent
from mailboxes.models import Message, Recipient

# Events that move a recipient's delivery state (``_state_after``); the others (opens…) never do.
STATEFUL_EVENTS = ("queued", "sent", "delivered", "deferred", "bounced", "rejected", "failed")
# Rows per INSERT: within SQLite's bound on a statement's parameters.
_UPSERT_CHUNK = 150
_REBUILD_CHUNK = 2000


def count_campaign_events(events: list[DeliveryEvent]) -> None:
    """Add these just-stored events to their campaigns' counters (events of other mail are skipped)."""
    campaign_events = _campaign_events(events)
    if campaign_events:
        stateful = [event for _, event in campaign_events if event.event_type in STATEFUL_EVENTS]
        _count(campaign_events, _states_before(stateful))


def _count(campaign_events: list[tuple[int, DeliveryEvent]], states: dict[int, str | None]) -> None:
    """Count events (in the order they happened) into the counters; ``states``: their recipients' states so far."""
    totals: Counter = Counter()  # (campaign id, metric, domain) -> n; domain "" = all
    hourly: Counter = Counter()  # (campaign id, metric, hour) -> n
    links: dict[tuple[int, str], Counter] = defaultdict(Counter)  # (campaign id, url) -> clicks, unique_clicks

    def add(campaign_id: int, metric: str, domain: str, hour, n: int = 1) -> None:
        totals[campaign_id, metric, ""] += n
        totals[campaign_id, metric, domain] += n
        hourly[campaign_id, metric, hour] += n

    for campaign_id, event in campaign_events:
        domain, hour = event.recipient.domain, _hour_of(event.timestamp)
        for metric in event_metrics(event):
            add(campaign_id, metric, domain, hour)
        if event.event_type in STATEFUL_EVENTS:
            before = states.get(event.recipient_id)
            after = _state_after(before, event.event_type, event.reject_reason, event.metadata)
            states[event.recipient_id] = after
            if before != after:
                if before:
                    add(campaign_id, f"now_{before}", domain, hour, -1)
                if after:
                    add(campaign_id, f"now_{after}", domain, hour)
        url = _clicked_url(event)
        if url:
            links[campaign_id, url]["clicks"] += 1
            links[campaign_id, url]["unique_clicks"] += int(bool(event.metadata.get("unique")))
    _add_counts(CampaignTally, ("campaign_id", "metric", "domain"), _nonzero(totals))
    _add_counts(CampaignHourlyTally, ("campaign_id", "metric", "hour"), _nonzero(hourly))
    _add_counts(CampaignLinkTally, ("campaign_id", "url"), links)


def _nonzero(counter: Counter) -> dict[tuple, dict[str, int]]:
    return {key: {"count": n} for key, n in counter.items() if n}


def event_metrics(event: DeliveryEvent) -> list[str]:
    """The event metrics one event counts under (the state metrics are the state machine's)."""
    kind, metadata = event.event_type, event.metadata or {}
    if kind in ("sent", "delivered"):
        return ["sent"]
    if kind == "bounced":
        # anymail's "invalid": the address will never work (5.1.x, engine and bounce reports alike)
        return ["bounced", "bounced_hard" if event.reject_reason == "invalid" else "bounced_soft"]
    if kind == "rejected":
        return ["cancelled" if metadata.get("cancelled") else "rejected"]
    if kind in ("opened", "clicked"):
        if metadata.get("machine"):
            return [f"{kind}_machine"]
        return [kind, f"{kind}_unique"] if metadata.get("unique") else [kind]
    if kind in ("deferred", "complained", "unsubscribed", "failed"):
        return [kind]
    return []


def _state_after(state: str | None, kind: str, reject_reason: str, metadata: dict | None) -> str | None:
    """Where a recipient's delivery stands after an event (None: waiting for its first attempt)."""
    if kind == "queued":  # requeued by an admin
        return None
    if kind == "deferred":
        # A delay reported after the message left us (a DSN) leaves a delivered recipient delivered.
        return "deferred" if state in (None, "deferred") else state
    if kind in ("sent", "delivered"):
        return "delivered"
    if kind == "bounced":
        return "bounced_hard" if reject_reason == "invalid" else "bounced_soft"
    if kind == "rejected":
        return "cancelled" if (metadata or {}).get("cancelled") else "rejected"
    if kind == "failed":
        return "failed"
    return state


def _states_before(events: list[DeliveryEvent]) -> dict[int, str | None]:
    """Each of these events' recipients' state before them, from their earlier events: one query.

    Their earlier events have smaller ids than these: they were stored before
    (a recipient's events are recorded under its row lock, one transaction at a time).
    """
    recipient_ids = {event.recipient_id for event in events}
    if not recipient_ids:
        return {}
    states: dict[int, str | None] = dict.fromkeys(recipient_ids)
    # Per recipient, in order: the index event_recipient_time gives them so (by time alone, the planner
    # may walk the timestamp index through every event).
    earlier = _select(
        DeliveryEvent, ["recipient_id", "event_type", "reject_reason", "metadata"],
        where={"recipient_id": recipient_ids, "event_type": STATEFUL_EVENTS},
        below_id=min(event.pk for event in events), order=["recipient_id", "timestamp", "id"],
    )  # fmt: skip
    for recipient_id, *event in earlier:
        states[recipient_id] = _state_after(states[recipient_id], *event)
    return states


def _campaign_events(events: Iterable[DeliveryEvent]) -> list[tuple[int, DeliveryEvent]]:
    """``(campaign id, event)`` for the events of campaign recipients, in order.

    Transactional and personal mail is told apart in memory, by its recipient's
    queue (the recorders hand the recipient over with the event), and so is
    other bulk mail whose send scope came loaded (the engine's) and names no
    campaign. The rest asks the campaigns themselves, by message, in one
    query: a campaign deleted since leaves its events uncounted rather than
    counters pointing at nothing.
    """
    bulk = [e for e in events if e.recipient_id and e.recipient.queue == Recipient.Queue.BULK]
    maybe = {e.message_id for e in bulk if _may_be_a_campaigns(e.recipient)}
    if not maybe:
        return []
    campaign_of = dict(_select(Campaign, ["message_id", "id"], where={"message_id": maybe}))
    return [(campaign_of[e.message_id], e) for e in bulk if e.message_id in campaign_of]


def _select(model, columns: list[str], *, where: dict, below_id: int | None = None, order=()) -> list[tuple]:
    """``SELECT columns FROM model WHERE column IN (…) … [AND id < below_id] ORDER BY …``, as plain SQL.

    The receiver runs in the transaction of every campaign outcome: the ORM's
    compiling costs several times the query itself. Only the model's names
    are formatted in; every value is a parameter. JSON columns come back decoded.
    """
    quote, table = connection.ops.quote_name, connection.ops.quote_name(model._meta.db_table)
    fields = [model._meta.get_field(name) for name in columns]
    conditions, params = [], []
    for name, values in where.items():
        values = list(values)
        conditions.append(f"{quote(name)} IN ({', '.join(['%s'] * len(values))})")
        params += values
    if below_id is not None:
        conditions.append(f"{quote('id')} < %s")
        params.append(below_id)
    sql = f"SELECT {', '.join(quote(f.column) for f in fields)} FROM {table} WHERE {' AND '.join(conditions)}"  # noqa: S608
    if order:
        sql += f" ORDER BY {', '.join(quote(name) for name in order)}"
    decoders = [(index, field) for index, field in enumerate(fields) if field.get_internal_type() == "JSONField"]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if decoders:
        rows = [list(row) for row in rows]
        for row in rows:
            for index, field in decoders:
                row[index] = field.from_db_value(row[index], None, connection)
    return rows


def _may_be_a_campaigns(recipient: Recipient) -> bool:
    """False when the recipient's message, as loaded, has a send scope that names no campaign (or none at all)."""
    if not Recipient.message.is_cached(recipient) or not Message.send_scope.is_cached(recipient.message):
        return True
    scope = getattr(recipient.message, "send_scope", None)
    return scope is not None and scope.campaign_id is not None


def _hour_of(moment):
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _clicked_url(event: DeliveryEvent) -> str:
    metadata = event.metadata or {}
    if event.event_type != "clicked" or metadata.get("machine"):
        return ""
    return str(metadata.get("url") or "")[: CampaignLinkTally.URL_MAX_LENGTH]


def _add_counts(model, key_fields: tuple[str, ...], rows: dict[tuple, dict[str, int]]) -> None:
    """Add ``{key: {count field: n}}`` to ``model``'s rows, creating the missing: INSERT … ON CONFLICT DO UPDATE.

    The rows go in key order, so that two transactions counting into the same
    rows lock them in the same order and cannot deadlock.
    """
    if not rows:
        return
    count_fields = sorted({name for counts in rows.values() for name in counts})
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = [quote(model._meta.get_field(name).column) for name in key_fields]
    counts = [quote(model._meta.get_field(name).column) for name in count_fields]
    updates = ", ".join(f"{column} = {table}.{column} + EXCLUDED.{column}" for column in counts)
    ordered = sorted(rows.items(), key=lambda item: tuple(str(part) for part in item[0]))
    with connection.cursor() as cursor:
        for start in range(0, len(ordered), _UPSERT_CHUNK):
            chunk = ordered[start : start + _UPSERT_CHUNK]
            placeholders = ", ".join(["(" + ", ".join(["%s"] * (len(columns) + len(counts))) + ")"] * len(chunk))
            params = [
                value
                for key, values in chunk
                for value in (*(_db_value(part) for part in key), *(values.get(name, 0) for name in count_fields))
            ]
            # Only names from the model are formatted in; every value is a parameter.
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns + counts)}) VALUES {placeholders} "  # noqa: S608
                f"ON CONFLICT ({', '.join(columns)}) DO UPDATE SET {updates}",
                params,
            )


def _db_value(value):
    """A key part as the database adapter takes it (an aware datetime as the connection stores it)."""
    if hasattr(value, "tzinfo"):
        return connection.ops.adapt_datetimefield_value(value)
    return value


def rebuild_tallies(campaign: Campaign) -> None:
    """Recount a campaign's counters from its delivery events (an admin's repair; the event log is the truth)."""
    with transaction.atomic():
        Campaign.objects.select_for_update().filter(pk=campaign.pk).first()  # one rebuild at a time
        for model in (CampaignTally, CampaignHourlyTally, CampaignLinkTally):
            model.objects.filter(campaign=campaign).delete()
        if campaign.message_id is None:
            return
        events = (
            DeliveryEvent.objects.filter(message_id=campaign.message_id, recipient__isnull=False)
            .select_related("recipient")
            .order_by("timestamp", "pk")
        )
        states: dict[int, str | None] = {}  # carried from chunk to chunk, in the order the events happened
        chunk: list[tuple[int, DeliveryEvent]] = []
        for event in events.iterator(_REBUILD_CHUNK):
            chunk.append((campaign.pk, event))
            if len(chunk) == _REBUILD_CHUNK:
                _count(chunk, states)
                chunk = []
        _count(chunk, states)
