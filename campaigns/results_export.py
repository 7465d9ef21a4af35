"""CSV export of a campaign's results: one row per person of its audience, produced chunk by chunk for streaming.

A chunk is a thousand people (keyset-paged by id) and their delivery events,
read in two queries: a 100,000-row export holds one chunk at a time.
"""

import csv
import io
from collections.abc import Iterator

from campaigns.contact_export import guard_cell
from campaigns.models import Campaign, CampaignRecipient
from delivery.models import DeliveryEvent

COLUMNS = [
    "address", "name", "domain", "status", "last_event", "last_event_at", "opens", "machine_opens", "clicks",
    "unsubscribed", "complained",
]  # fmt: skip
NOT_RELEASED = "not_released"  # frozen in the audience, not handed to the outbox yet
_CHUNK = 1000


def export_results(campaign: Campaign) -> Iterator[str]:
    """CSV text in chunks (the first with a BOM and the header), one row per audience member, in audience order."""
    yield "\ufeff" + _csv([COLUMNS])
    after = 0
    while True:
        people = list(
            CampaignRecipient.objects.filter(campaign=campaign, pk__gt=after)
            .order_by("pk")
            .values_list("pk", "address", "name", "domain", "recipient_id", "recipient__status")[:_CHUNK]
        )
        if not people:
            return
        after = people[-1][0]
        activity = _activity({recipient_id for *_, recipient_id, _ in people if recipient_id})
        rows = []
        for _, address, name, domain, recipient_id, status in people:
            seen = activity.get(recipient_id, _Activity())
            rows.append([
                address, name, domain, status or NOT_RELEASED, seen.last_event, seen.last_event_at, seen.opens,
                seen.machine_opens, seen.clicks, seen.unsubscribed, seen.complained,
            ])  # fmt: skip
        yield _csv(rows)


class _Activity:
    """What one recipient's events add up to."""

    def __init__(self):
        self.last_event, self.last_event_at = "", None
        self.opens = self.machine_opens = self.clicks = 0
        self.unsubscribed = self.complained = False

    def add(self, event_type: str, timestamp, metadata: dict) -> None:
        self.last_event, self.last_event_at = event_type, timestamp
        machine = bool((metadata or {}).get("machine"))
        if event_type == "opened":
            self.machine_opens += machine
            self.opens += not machine
        elif event_type == "clicked":
            self.clicks += not machine
        self.unsubscribed |= event_type == "unsubscribed"
        self.complained |= event_type == "complained"


def _activity(recipient_ids: set[int]) -> dict[int, _Activity]:
    activity: dict[int, _Activity] = {}
    if not recipient_ids:
        return activity
    events = (
        DeliveryEvent.objects.filter(recipient_id__in=recipient_ids)
        .order_by("timestamp", "pk")
        .values_list("recipient_id", "event_type", "timestamp", "metadata")
    )
    for recipient_id, event_type, timestamp, metadata in events:
        activity.setdefault(recipient_id, _Activity()).add(event_type, timestamp, metadata)
    return activity


def _csv(rows) -> str:
    text = io.StringIO()
    writer = csv.writer(text)
    for row in rows:
        writer.writerow([guard_cell(cell) for cell in row])
    return text.getvalue()
