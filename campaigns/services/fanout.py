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
- ``unpark`` (resume) makes the rows the engine parked due again;
  ``reject_unsent`` (cancel) rejects what waits in the outbox at once. The
  people never released stay unreleased: a cancelled campaign never sends them.

A person whose snapshot lacks a variable the version requires is released
with no outbox row (``released_at`` set, ``recipient`` empty): their message
cannot be made, and the preflight only tried a sample.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from accounts.addresses import split_address
from campaigns import pacing, segments
from campaigns.models import Campaign, CampaignRecipient
from campaigns.personalize import UNSUBSCRIBE_VARIABLE, declares_unsubscribe, person_message, snapshot_values
from campaigns.rendering import check_variables
from core.bulk import insert_objects, insert_rows
from core.lookups import any_of
from delivery.models import DeliveryEvent, SendScope
from delivery.services.events import events_recorded, new_delivery_event, refresh_message_statuses
from delivery.services.submission import dispatch_due
from mailboxes.models import Message, Recipient
from mailboxes.services.store import store_message

logger = logging.getLogger(__name__)

FREEZE_CHUNK = 2000
WAITING = (Recipient.Status.QUEUED, Recipient.Status.DEFERRED)


def start_due_campaigns(*, now=None) -> list[int]:
    """Start every scheduled campaign whose send time passed; the ids of those this call started."""
    now = now or timezone.now()
    due = Campaign.objects.filter(status=Campaign.Status.SCHEDULED).exclude(send_at__gt=now)
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
    """The segment's sendable contacts as the campaign's people, with their snapshots; (audience, frozen)."""
    audience = segments.audience(campaign.segment, now=now).count()
    tracking = campaign.track_opens or campaign.track_clicks
    contacts = (
        segments.sendable(campaign.segment, now=now)
        .order_by("pk")
        .values_list("pk", "address", "name", "locale", "attributes", "tracking_consent")
    )
    frozen, chunk = 0, []
    for pk, address, name, locale, attributes, consent in contacts.iterator(chunk_size=FREEZE_CHUNK):
        chunk.append(
            {
                "campaign_id": campaign.pk,
                "contact_id": pk,
                "address": address,
                "domain": split_address(address)[1].lower(),
                "name": name,
                "locale": locale,
                "variables": attributes or {},
                "tracked": tracking and consent,
            }  # fmt: skip
        )
        if len(chunk) == FREEZE_CHUNK:
            frozen += len(insert_rows(CampaignRecipient, chunk))
            chunk = []
    frozen += len(insert_rows(CampaignRecipient, chunk))
    return audience, frozen


def _campaign_message(campaign: Campaign, version, now) -> Message:
    """The campaign's one message; its bytes are the first person's rendering (or the sender's, for nobody)."""
    sample = campaign.audience.order_by("pk").first() or CampaignRecipient(
        campaign=campaign, address=campaign.from_address, domain=split_address(campaign.from_address)[1]
    )
    sample.tracked = False  # whoever opens the sample is not the person
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
                }  # fmt: skip
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
        for person, pk in zip(ready, ids, strict=True):
            person.recipient_id = pk
        for person in people:
            person.released_at = now
        CampaignRecipient.objects.bulk_update(people, ["recipient", "released_at"], batch_size=500)
        Campaign.objects.filter(pk=campaign.pk).update(released_count=F("released_count") + len(ids))
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
