"""A campaign's fan-out: it starts (its audience frozen), its people are released into the outbox at its pace, it ends.

- ``start_due_campaigns``: a scheduled campaign whose time came pins its
  template's active version, gets its ONE ``Message`` (the blob is a sample:
  what "show original" shows) and ``SendScope`` naming it, and freezes its
  audience: one ``CampaignRecipient`` per sendable contact, with the snapshot
  its message is rendered from. Whoever unsubscribes or is suppressed after
  that is still refused, at claim time, by the engine's suppression check.
- ``release_due`` (the pacer, every few seconds): each sending campaign's next
  people, as many as ``campaigns.pacing.allowance`` lets, become outbox rows
  (``mailboxes.Recipient``, bulk queue) with their "queued" events, in one
  transaction holding the campaign's row (a second pacer skips a campaign
  another holds, and the outbox's unique (message, address) would refuse a
  person released twice). Only a small window is released ahead
  (``CAMPAIGN_RELEASE_WINDOW``), so a pause or a cancel has little to stop.
  Then the bulk queue is dispatched. A sending campaign with everybody
  released and nothing left in the outbox is sent.
- ``park`` (pause) makes the campaign's waiting outbox rows due at no
  time, and the engine parks any it claims later; ``unpark`` (resume) makes
  them due again;
  ``reject_unsent`` (cancel) rejects what waits in the outbox at once. The
  people never released stay unreleased: a cancelled campaign never sends them.

A person whose snapshot lacks a variable the version requires is released
with no outbox row (``released_at`` set, ``recipient`` empty): their message
cannot be made, and the preflight only tried a sample.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BigIntegerField, BooleanField, CharField, Exists, F, Func, OuterRef, Subquery, Value
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.addresses import split_address
from campaigns import pacing, segments
from campaigns.models import Campaign, CampaignRecipient
from campaigns.personalize import UNSUBSCRIBE_VARIABLE, declares_unsubscribe, person_message, snapshot_values
from campaigns.rendering import RenderError, check_variables, example_values
from core.bulk import insert_objects, insert_rows
from core.lookups import any_of
from delivery.models import DeliveryEvent, SendScope
from delivery.services.events import events_recorded, new_delivery_event, refresh_message_statuses
from delivery.services.metrics import count_released
from delivery.services.submission import dispatch_due
from mailboxes.models import Message, Recipient
from mailboxes.services.store import store_message

logger = logging.getLogger(__name__)

WAITING = (Recipient.Status.QUEUED, Recipient.Status.DEFERRED)


def start_due_campaigns(*, now=None) -> list[int]:
    """Start every scheduled campaign whose send time passed; the ids of those this call started."""
    now = now or timezone.now()
    # A campaign held by an admin (``hold_reason``) does not start until the hold is released.
    due = Campaign.objects.filter(status=Campaign.Status.SCHEDULED, hold_reason="").exclude(send_at__gt=now)
    return [pk for pk in due.order_by("pk").values_list("pk", flat=True) if _start(pk, now)]


def _start(campaign_id: int, now) -> bool:
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update(skip_locked=True)
            .filter(pk=campaign_id, status=Campaign.Status.SCHEDULED)
            .first()
        )
        if campaign is None:  # another pacer started it, or it was unscheduled or cancelled meanwhile
            return False
        version = campaign.template.active_version
        campaign.version, campaign.started_at = version, now
        audience, frozen = _freeze(campaign, now)
        campaign.message = _campaign_message(campaign, version, now)
        SendScope.objects.create(
            message=campaign.message, domain=campaign.domain, campaign_id=campaign.pk,
            contact_list_id=_only_list(campaign.segment),
        )  # fmt: skip
        campaign.audience_size, campaign.suppressed_count = frozen, audience - frozen
        campaign.status, campaign.updated_at = Campaign.Status.SENDING, now
        campaign.save(
            update_fields=["version", "started_at", "message", "audience_size", "suppressed_count", "status",
                           "updated_at"]
        )  # fmt: skip
    logger.info("campaign %s started: %s recipients, %s suppressed", campaign.pk, frozen, audience - frozen)
    return True


def _freeze(campaign: Campaign, now) -> tuple[int, int]:
    """The segment's sendable contacts as the campaign's people, with their snapshots; (audience, frozen).

    One ``INSERT … SELECT``: the snapshots never pass through Python (a row at a
    time, that took 25 s for 100,000 people).
    """
    audience = segments.audience(campaign.segment, now=now).count()
    tracking = campaign.track_opens or campaign.track_clicks
    snapshot = {
        "campaign_id": Value(campaign.pk, output_field=BigIntegerField()),
        "contact_id": F("pk"),
        "address": F("address"),
        "domain": _DomainOf("address"),
        "name": F("name"),
        "locale": F("locale"),
        "variables": F("attributes"),
        "tracked": F("tracking_consent") if tracking else Value(False, output_field=BooleanField()),
    }
    # Annotated under other names (a Contact has address, name…), in the columns' order.
    people = (
        segments.sendable(campaign.segment, now=now)
        .annotate(**{f"snapshot_{column}": value for column, value in snapshot.items()})
        .values_list(*(f"snapshot_{column}" for column in snapshot))
        .order_by("pk")
    )
    select, params = people.query.sql_with_params()
    quote = connection.ops.quote_name
    columns = ", ".join(quote(CampaignRecipient._meta.get_field(name).column) for name in snapshot)
    with connection.cursor() as cursor:
        # Only names from the model are formatted in; every value is a parameter of the SELECT.
        cursor.execute(f"INSERT INTO {quote(CampaignRecipient._meta.db_table)} ({columns}) {select}", params)  # noqa: S608
        frozen = cursor.rowcount
    return audience, frozen


class _DomainOf(Func):
    """What follows an address's last ``@``, lower-cased (``split_address``'s domain, in SQL)."""

    output_field = CharField()

    def as_sql(self, compiler, connection, **extra):
        address, params = compiler.compile(self.source_expressions[0])
        if connection.vendor == "postgresql":
            return f"LOWER(SUBSTRING({address} FROM '[^@]*$'))", params
        # SQLite has no regular expressions: trimming every character but "@" from the right leaves
        # the address up to its last "@" (nothing, without one), and what follows is the domain.
        sql = f"LOWER(SUBSTR({address}, LENGTH(RTRIM({address}, REPLACE({address}, '@', ''))) + 1))"
        return sql, params * 3


def _campaign_message(campaign: Campaign, version, now) -> Message:
    """The campaign's one message; its bytes are the first person's rendering (or the sender's, for nobody)."""
    sample = campaign.audience.order_by("pk").first() or CampaignRecipient(
        campaign=campaign, address=campaign.from_address, domain=split_address(campaign.from_address)[1]
    )
    sample.tracked = False  # whoever opens the sample is not the person
    try:
        raw = person_message(campaign, version, sample, now=now)
    except RenderError:  # their snapshot lacks a variable (they will be left out): show the example values
        sample.variables = example_values(version.variables)
        raw = person_message(campaign, version, sample, now=now)
    message, _ = store_message(
        raw=raw, status=Message.Status.QUEUED, sender=campaign.created_by, created_at=now, stream=Message.Stream.BULK
    )
    return message


def _only_list(segment) -> int | None:
    """The list a one-list segment sends to: its list unsubscribes then refuse the campaign at send time too."""
    lists = (segment.definition or {}).get("lists") or []
    return int(lists[0]) if len(lists) == 1 else None


# --- the pacer ----------------------------------------------------------------------------------


def release_due(*, now=None) -> int:
    """Release each sending campaign's next people into the outbox, at its pace; how many were released."""
    now = now or timezone.now()
    released = 0
    for campaign_id in Campaign.objects.filter(status=Campaign.Status.SENDING).values_list("pk", flat=True):
        released += _release(campaign_id, now)
    finish_done(now=now)
    if released:
        dispatch_due(queue=Recipient.Queue.BULK)
    return released


def _release(campaign_id: int, now) -> int:
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update(skip_locked=True)
            .filter(pk=campaign_id, status=Campaign.Status.SENDING)
            .first()
        )
        if campaign is None:
            return 0
        count = pacing.allowance(campaign, now=now)
        if count <= 0:
            return 0
        people = list(campaign.audience.filter(released_at__isnull=True).order_by("pk")[:count])
        version = campaign.version
        ready = [person for person in people if _renderable(version, person)]
        expires_at = now + timedelta(seconds=settings.OUTBOUND_MAX_QUEUE_LIFETIME)
        ids = insert_rows(
            Recipient,
            [
                {
                    "message_id": campaign.message_id,
                    "address": person.address,
                    "name": person.name[:300],
                    "kind": Recipient.Kind.TO,
                    "domain": person.domain,
                    "queue": Recipient.Queue.BULK,
                    "next_attempt_at": now,
                    "expires_at": expires_at,
                }
                for person in ready
            ],
        )
        insert_rows(
            DeliveryEvent,
            [
                {"message_id": campaign.message_id, "recipient_id": pk, "event_type": "queued", "transport": "campaign"}
                for pk in ids
            ],
        )
        ready_ids = {p.pk for p in ready}
        # Each person's outbox row found by the outbox's unique (message, lower(address)) index: one
        # UPDATE, where bulk_update would build a CASE with a branch per person.
        outbox_row = Recipient.objects.annotate(lower_address=Lower("address")).filter(
            message_id=campaign.message_id, lower_address=OuterRef("address")
        )
        CampaignRecipient.objects.filter(any_of("pk", list(ready_ids))).update(
            recipient_id=Subquery(outbox_row.values("pk")[:1]), released_at=now
        )
        left_out = [p.pk for p in people if p.pk not in ready_ids]
        if left_out:
            CampaignRecipient.objects.filter(any_of("pk", left_out)).update(released_at=now)
        Campaign.objects.filter(pk=campaign.pk).update(released_count=F("released_count") + len(ids))
        count_released(len(ids))
    if len(ready) < len(people):
        logger.warning("campaign %s: %d people left out (variables missing)", campaign_id, len(people) - len(ready))
    return len(ids)


def _renderable(version, person: CampaignRecipient) -> bool:
    values = snapshot_values(
        address=person.address, name=person.name, locale=person.locale, attributes=person.variables
    )
    if declares_unsubscribe(version):
        values[UNSUBSCRIBE_VARIABLE] = "-"
    return not check_variables(version.variables, values)[1]


def finish_done(*, now=None) -> int:
    """Sending campaigns with everybody released and nobody waiting in the outbox are sent; how many."""
    now = now or timezone.now()
    unreleased = CampaignRecipient.objects.filter(campaign=OuterRef("pk"), released_at__isnull=True)
    pending = Recipient.objects.filter(message_id=OuterRef("message_id"), status__in=Recipient.PENDING_STATUSES)
    return (
        Campaign.objects.filter(status=Campaign.Status.SENDING)
        .exclude(Exists(unreleased))
        .exclude(Exists(pending))
        .update(status=Campaign.Status.SENT, finished_at=now, updated_at=now)
    )


# --- resume and cancel --------------------------------------------------------------------------


def park(*, campaign: Campaign, now) -> int:
    """The campaign's waiting outbox rows are due at no time until it resumes (part of pause).

    At once, rather than claim by claim: a claim that only parks sends
    nothing, so the engine's own parking (for rows a worker held while the
    pause committed) would take a claim per batch. Rows a worker holds now are
    skipped: their send is in flight.
    """
    if campaign.message_id is None:
        return 0
    waiting = Recipient.objects.select_for_update(skip_locked=True).filter(
        message_id=campaign.message_id, status__in=WAITING, next_attempt_at__isnull=False
    )
    ids = list(waiting.values_list("pk", flat=True))
    return Recipient.objects.filter(any_of("pk", ids)).update(next_attempt_at=None, updated_at=now) if ids else 0


def unpark(*, campaign: Campaign, now) -> int:
    """The campaign's outbox rows the engine parked while it was paused are due again (part of resume)."""
    if campaign.message_id is None:
        return 0
    count = Recipient.objects.filter(
        message_id=campaign.message_id, status__in=WAITING, next_attempt_at__isnull=True
    ).update(next_attempt_at=now, updated_at=now)
    if count:
        transaction.on_commit(lambda: dispatch_due(queue=Recipient.Queue.BULK))
    return count


def reject_unsent(*, campaign: Campaign, now) -> int:
    """Reject the campaign's outbox rows that wait (queued, deferred or parked), at once (part of cancel).

    Rows a worker holds right now are skipped (their send is in flight and ends
    as it ends); anything the engine claims later it rejects itself.
    """
    if campaign.message_id is None:
        return 0
    waiting = list(
        Recipient.objects.select_for_update(skip_locked=True).filter(message_id=campaign.message_id, status__in=WAITING)
    )
    if not waiting:
        return 0
    description = "Not sent: the campaign was cancelled."
    Recipient.objects.filter(any_of("pk", [r.pk for r in waiting])).update(
        status=Recipient.Status.SUPPRESSED, response=description, next_attempt_at=None, updated_at=now
    )
    events = [
        new_delivery_event(
            recipient=recipient,
            event_type="rejected",
            reject_reason="other",
            transport="campaign",
            description=description,
            metadata={"cancelled": True},
        )  # fmt: skip
        for recipient in waiting
    ]
    insert_objects(events)
    events_recorded.send(sender=DeliveryEvent, events=events)
    transaction.on_commit(lambda: refresh_message_statuses([campaign.message_id]))
    return len(waiting)
