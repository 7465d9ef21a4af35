"""Submitting mail: the one entry point the webmail, the API and campaigns call.

A submission is validated first (sender owns the From address, every address
parses, no CR/LF in headers, size, attachments are the user's own). Then ONE
transaction stores the blob, the ``Message``, the sender's Sent copy and one
``Recipient`` per envelope address, which is the outbox. Only after commit is
a delivery task dispatched; the reconciler re-dispatches anything a lost task
left behind, so mail is never lost between the two.
"""

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.addresses import split_address
from accounts.models import Domain
from core.bulk import insert_rows
from delivery.models import DeliveryEvent, IdempotencyKey, SendScope
from delivery.services.events import new_delivery_event
from delivery.services.metrics import counted_submission
from mailboxes.blobstore import write_blob_files
from mailboxes.compose import Composition, compose, render, require_recipients
from mailboxes.conversations import refresh_thread
from mailboxes.models import Folder, MailboxChange, MailboxItem, Message, Recipient
from mailboxes.services.correspondents import record_sent
from mailboxes.services.drafts import draft_composition, get_draft_for_update, reply_headers
from mailboxes.services.placement import place_message
from mailboxes.services.store import replace_message_content, store_message
from mailboxes.services.uploads import attachments_from_uploads
from observability.logs import log_context
from webmail.celery import BROKER_ERRORS
from webmail.errors import UserError

logger = logging.getLogger(__name__)


class IdempotencyKeyReused(UserError):
    code = "idempotency_key_reused"
    status = 422


@counted_submission()
def send_message(
    *,
    user,
    from_address: str | None = None,
    to=(),
    cc=(),
    bcc=(),
    subject: str = "",
    text: str = "",
    html: str = "",
    attachments=(),
    upload_ids=(),
    in_reply_to_item_id=None,
    idempotency_key: str | None = None,
    queue: str = Recipient.Queue.TRANSACTIONAL,
    sent_at: datetime | None = None,
    stream: str = Message.Stream.PERSONAL,
    sent_copy: bool = True,
    fingerprint: str | None = None,
    on_stored: Callable[[Message], None] | None = None,
    headers=(),
    contact_list_id: int | None = None,
    via_api: bool = False,
) -> Message:
    """Queue a new message for delivery and return it.

    ``attachments`` are ``OutgoingAttachment``s; ``upload_ids`` name the user's
    uploads. With an ``idempotency_key`` already used by this user for the
    same request, the first message is returned and nothing is sent again; the
    same key with a different request raises ``IdempotencyKeyReused``.
    ``sent_at`` back-dates the message (imports and demo data only). A
    ``stream`` other than personal (bulk, marketing) is held to the suppression
    list at send time; a person's own mail is not. ``headers`` are extra
    ``(name, value)`` fields from ``mailboxes.compose.EXTRA_HEADERS``
    (List-Unsubscribe…); ``contact_list_id`` names the list a bulk message was
    sent to, whose unsubscribes then refuse it. ``via_api``: submitted through
    the REST API, whose content is held to the outbound check like service mail
    (``reputation.services.content``).

    For sends on behalf of a service (templates): ``sent_copy=False`` keeps no
    copy in the sender's Sent folder; ``fingerprint`` identifies the request
    for the idempotency check when the caller knows it better than the
    rendered message does; ``on_stored(message)`` runs inside the transaction
    that stores the message, so what it writes commits or rolls back with it.

    ``channel=`` (a ``delivery.services.metrics.Channel``) counts the call in
    ``webmail_send_requests_total``, accepted or refused; left out, it is not counted.
    """
    files = [*attachments, *attachments_from_uploads(user=user, upload_ids=upload_ids)]
    in_reply_to, references = reply_headers(user=user, item_id=in_reply_to_item_id)
    composition = compose(
        user=user, from_address=from_address, to=to, cc=cc, bcc=bcc, subject=subject, text=text, html=html,
        attachments=files, in_reply_to=in_reply_to, references=references, headers=headers,
    )  # fmt: skip
    require_recipients(composition)
    if idempotency_key and not fingerprint:
        fingerprint = _fingerprint(composition, in_reply_to_item_id)
    if idempotency_key:
        earlier = _earlier_submission(user, idempotency_key, fingerprint)
        if earlier is not None:
            return earlier
    _refuse_inadmissible(user=user, composition=composition)
    now = sent_at or timezone.now()
    raw = render(composition, date=now, include_bcc=False)
    _screen(user=user, raw=raw, composition=composition, stream=stream, via_api=via_api)
    # The file and its flush to disk before the transaction, not in it (on SQLite: not in the one write lock);
    # a file without a row is harmless (``write_blob_files``).
    write_blob_files([raw])
    try:
        with transaction.atomic():
            message, _ = store_message(
                raw=raw, status=Message.Status.QUEUED, sender=user, created_at=now, stream=stream
            )
            if idempotency_key:
                IdempotencyKey.objects.create(user=user, key=idempotency_key, fingerprint=fingerprint, message=message)
            if stream != Message.Stream.PERSONAL:
                record_send_scope(
                    message=message, from_address=composition.from_address, contact_list_id=contact_list_id
                )
            sent_item = None
            if sent_copy:
                sent_item = place_message(
                    user=user, message=message, origin=MailboxItem.Origin.SENT, folder=Folder.SENT, is_read=True,
                    received_at=now, new_sent_message=True,
                )  # fmt: skip
                if stream == Message.Stream.PERSONAL:  # a person's own mail: whom they write to (compose suggestions)
                    record_sent(user_id=user.pk, recipients=composition.envelope_recipients(), at=now)
            # The quota and abuse counts commit with the message (one commit per send, not three); late in the
            # transaction, so the count rows they lock (shared by a domain's senders) are held briefly, but before
            # the outbox rows, which the first-send seeding of known correspondents must not see as history.
            # A quota that refuses rolls the message back.
            _count_submission(user=user, composition=composition)
            channel = "api" if via_api else stream
            recipients = enqueue_recipients(message=message, composition=composition, queue=queue, channel=channel)
            if on_stored is not None:
                on_stored(message)
        # For the caller's answer (the API's), the rows just written, as they were at the commit: not read back.
        # Attributes of their own, not the related managers' cache, which would hide later changes.
        message.sent_item, message.queued_recipients = sent_item, recipients
    except IntegrityError:
        if not idempotency_key:
            raise
        # A concurrent request with the same key won the race: answer as it did.
        earlier = _earlier_submission(user, idempotency_key, fingerprint)
        if earlier is None:
            raise
        return earlier
    return message


def _log_submitted(message: Message, composition: Composition, *, queue: str, channel: str) -> None:
    """The first line of a message's way (docs/LOGS.md): the ids to follow it by, once it is stored."""
    with log_context(message_id=message.pk, queue_id=queue):
        logger.info(
            "message %s submitted (%s) by user %s: Message-ID <%s>, %d recipients",
            message.pk, channel, message.sender_id, message.message_id, len(composition.envelope_recipients()),
        )  # fmt: skip


def _admit(*, user, composition: Composition, stream: str) -> None:
    """Refuse (with a clear error) what a hold, an unverified domain or a quota does not allow now."""
    from reputation.services.admission import admit_submission  # reputation reads delivery's models

    admit_submission(
        user=user, from_address=composition.from_address, stream=stream,
        recipient_addresses=[address for _, _, address in composition.envelope_recipients()],
    )  # fmt: skip


def _refuse_inadmissible(*, user, composition: Composition) -> None:
    """``_admit`` without the quotas and counts (``_count_submission``): a hold, an unverified domain."""
    from reputation.services.admission import refuse_inadmissible

    refuse_inadmissible(
        user=user, from_address=composition.from_address,
        recipient_addresses=[address for _, _, address in composition.envelope_recipients()],
    )  # fmt: skip


def _count_submission(*, user, composition: Composition) -> None:
    """The rest of ``_admit``: the quotas (which may still refuse) and the compromise checks' count."""
    from reputation.services.admission import count_submission

    count_submission(
        user=user, from_address=composition.from_address,
        recipient_addresses=[address for _, _, address in composition.envelope_recipients()],
    )  # fmt: skip


def _screen(*, user, raw: bytes, composition: Composition, stream: str, via_api: bool) -> None:
    """Score the content and check its links: refuse service and API mail that fails, note a person's."""
    from reputation.services.content import screen_submission

    screen_submission(
        user=user, raw=raw, text=composition.text, html=composition.html, subject=composition.subject,
        stream=stream, via_api=via_api,
    )  # fmt: skip


def record_send_scope(*, message: Message, from_address: str, contact_list_id: int | None) -> SendScope:
    """Which workspace (the From address's hosted domain) and list the message is sent for, for suppression."""
    domain = Domain.objects.filter(name=split_address(from_address)[1].lower()).first()
    return SendScope.objects.create(message=message, domain=domain, contact_list_id=contact_list_id)


@counted_submission()
def send_draft(*, user, draft_id) -> Message:
    """Queue a draft for delivery (``channel=`` as for ``send_message``)."""
    now = timezone.now()
    with transaction.atomic():
        item = get_draft_for_update(user=user, draft_id=draft_id)
        composition = draft_composition(user=user, item=item)
        require_recipients(composition)
        _admit(user=user, composition=composition, stream=item.message.stream)
        raw = render(composition, date=now, include_bcc=False)
        _screen(user=user, raw=raw, composition=composition, stream=item.message.stream, via_api=False)
        replace_message_content(message=item.message, raw=raw, status=Message.Status.QUEUED)
        item.folder, item.previous_folder, item.received_at = Folder.SENT, "", now
        item.save(update_fields=["folder", "previous_folder", "received_at", "updated_at"])
        refresh_thread(item.thread)
        # New date, folder and bytes (no Bcc): the search index must follow.
        MailboxChange.record(user_id=item.user_id, item_ids=[item.pk], kind=MailboxChange.Kind.UPDATED)
        enqueue_recipients(message=item.message, composition=composition, channel="draft")
        record_sent(user_id=user.pk, recipients=composition.envelope_recipients(), at=now)
    return item.message


def enqueue_recipients(
    *, message: Message, composition: Composition, queue: str = Recipient.Queue.TRANSACTIONAL, channel: str = "service"
):
    """The outbox rows of a message, and its dispatch once the transaction commits.

    ``channel`` (api, personal, draft…) is for the submission's log line, written at the commit.
    Returns the recipients, in the order they were written.
    """
    rows = _outbox_rows(message, composition, queue=queue, now=timezone.now())
    recipients = Recipient.objects.bulk_create(Recipient(**row) for row in rows)
    DeliveryEvent.objects.bulk_create(
        new_delivery_event(recipient=recipient, event_type="queued", transport="submission") for recipient in recipients
    )

    def committed():
        _log_submitted(message, composition, queue=queue, channel=channel)
        dispatch_delivery(message_id=message.pk, queue=queue)

    transaction.on_commit(committed)
    return recipients


def enqueue_many_recipients(*, messages: list[tuple[Message, Composition]], queue: str) -> None:
    """``enqueue_recipients`` for many stored messages at once: one insert of recipients, one of events.

    The rows are plain dicts (a model instance per row cost more than the
    inserts): ``_outbox_rows``' and a queued event's columns. Once
    the transaction commits, ONE ``deliver_due`` task for the queue delivers
    them all (a task per message would put a thousand tasks on the broker for
    one batch send).
    """
    now = timezone.now()
    recipients = [
        row for message, composition in messages for row in _outbox_rows(message, composition, queue=queue, now=now)
    ]
    ids = insert_rows(Recipient, recipients)
    insert_rows(
        DeliveryEvent,
        [
            {
                "message_id": row["message_id"],
                "recipient_id": pk,
                "event_type": "queued",
                "transport": "submission",
            }
            for row, pk in zip(recipients, ids, strict=True)
        ],
    )
    transaction.on_commit(lambda: dispatch_due(queue=queue))


def _outbox_rows(message: Message, composition: Composition, *, queue: str, now) -> list[dict]:
    """The columns of one ``Recipient`` per envelope address of the message, due now."""
    expires_at = now + timedelta(seconds=settings.OUTBOUND_MAX_QUEUE_LIFETIME)
    return [
        {
            "message_id": message.pk,
            "address": address,
            "name": name[:300],
            "kind": kind,
            "domain": split_address(address)[1].lower(),
            "queue": queue,
            "next_attempt_at": now,
            "expires_at": expires_at,
        }  # fmt: skip
        for kind, name, address in composition.envelope_recipients()
    ]


def dispatch_due(*, queue: str) -> None:
    """Ask a worker to deliver everything due on ``queue``; with the broker down, leave it to the reconciler."""
    from delivery.tasks import deliver_due  # tasks import services: import here, not at module level

    try:
        deliver_due.apply_async(kwargs={"queue": queue}, queue=queue)
    except BROKER_ERRORS:
        logger.warning("broker unreachable: the %s queue waits in the outbox for the reconciler", queue, exc_info=True)


def dispatch_delivery(*, message_id: int, queue: str = Recipient.Queue.TRANSACTIONAL) -> None:
    """Ask a worker to deliver the message; with the broker down, leave it to the reconciler.

    The message is stored when this runs (after commit): a broker error must not
    turn its submission into a failure that a client would answer by sending again.
    """
    from delivery.tasks import deliver_message  # tasks import services: import here, not at module level

    with log_context(message_id=message_id, queue_id=queue):
        logger.info("message %s queued for delivery on the %s queue", message_id, queue)
        try:
            deliver_message.apply_async(args=[message_id], queue=queue)
        except BROKER_ERRORS:
            logger.warning(
                "broker unreachable: message %s waits in the outbox for the reconciler", message_id, exc_info=True
            )


def _fingerprint(composition: Composition, in_reply_to_item_id) -> str:
    request = {
        "from": composition.from_address,
        "to": composition.to,
        "cc": composition.cc,
        "bcc": composition.bcc,
        "subject": composition.subject,
        "text": composition.text,
        "html": composition.html,
        "attachments": [
            [a.filename, a.content_type, hashlib.sha256(a.content).hexdigest()] for a in composition.attachments
        ],
        "in_reply_to": str(in_reply_to_item_id or ""),
    }
    if composition.headers:  # only then: fingerprints of requests without extra headers stay what they were
        request["headers"] = composition.headers
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()


def _earlier_submission(user, key: str, fingerprint: str) -> Message | None:
    record = IdempotencyKey.objects.select_related("message").filter(user=user, key=key).first()
    if record is None:
        return None
    if record.fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used for a different message.", field="idempotency_key"
        )
    return record.message
