"""The batch path writes the outbox, event, template-send, scope and idempotency rows the one-message path writes.

``send_template_batch`` inserts them as plain rows (``core.bulk.insert_rows``),
not model instances; these tests hold every column to what ``send_template``
stores for the same request (ids, message ids and times aside).
"""

import gc
from datetime import timedelta

from django.conf import settings

from campaigns.models import TemplateSend
from campaigns.services import sending
from campaigns.services.sending import send_template, send_template_batch
from delivery.models import DeliveryEvent, IdempotencyKey, SendScope
from mailboxes.models import Recipient
from tests.campaigns.template_factories import make_template

PERSON = {
    "to": ["Zoë Ünïcode <Zoe@Remote.Example>", "plain@remote.example"],
    "cc": ['"Lee, Carl" <carl@other.example>'],
    "bcc": ["hidden@remote.example", "PLAIN@remote.example"],  # the second is a duplicate of a To address
    "variables": {"orderId": "A-1", "amount": 2},
}
TIMES = ("updated_at", "next_attempt_at", "expires_at", "timestamp", "created_at")


def columns(obj, *skip) -> dict:
    skip = {"id", "message_id", "recipient_id", *TIMES, *skip}
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields if f.attname not in skip}


def rows_of(message) -> dict:
    recipients = list(Recipient.objects.filter(message=message).order_by("pk"))
    return {
        "recipients": [columns(r) for r in recipients],
        "events": [
            (recipients.index(e.recipient), columns(e))
            for e in DeliveryEvent.objects.filter(message=message).order_by("pk")
        ],
        "template send": columns(TemplateSend.objects.get(message=message)),
        "scope": columns(SendScope.objects.get(message=message)),
    }


def test_every_row_of_a_batch_message_is_the_one_message_paths_row(alice):
    make_template()
    single = send_template(
        user=alice, template_key="order_receipt", variables=PERSON["variables"], to=PERSON["to"], cc=PERSON["cc"],
        bcc=PERSON["bcc"], locale="en", idempotency_key="one",
    )  # fmt: skip
    batch = send_template_batch(
        user=alice, template_key="order_receipt", from_address=None, locale="en", idempotency_key="many",
        personalizations=[PERSON, {"to": ["second@remote.example"], "variables": {"orderId": "B-2", "amount": 3}}],
    )  # fmt: skip

    assert rows_of(batch[0]) == rows_of(single)
    assert len(rows_of(batch[0])["recipients"]) == 4 and len(rows_of(batch[1])["recipients"]) == 1
    for message in batch:
        for recipient in Recipient.objects.filter(message=message):
            assert recipient.expires_at - recipient.next_attempt_at == timedelta(
                seconds=settings.OUTBOUND_MAX_QUEUE_LIFETIME
            )
            assert recipient.updated_at >= recipient.next_attempt_at
            assert recipient.events.get().timestamp >= recipient.next_attempt_at
    keys = [IdempotencyKey.objects.get(message=message) for message in batch]
    assert [columns(k, "key", "fingerprint") for k in keys] == [
        columns(IdempotencyKey.objects.get(key="one"), "key", "fingerprint")
    ] * 2
    assert len({k.fingerprint for k in keys}) == 1 and len({k.key for k in keys}) == 2


def test_a_batch_runs_with_the_older_objects_set_aside_from_garbage_collection(alice, monkeypatch):
    """gc.freeze for the batch's duration, undone after; a process that froze its objects itself stays frozen."""
    make_template()
    seen = []
    write = sending.write_blob_files
    monkeypatch.setattr(sending, "write_blob_files", lambda raws: (seen.append(gc.get_freeze_count()), write(raws)))
    person = {"to": ["ann@remote.example"], "variables": {"orderId": "A-1", "amount": 2}}

    send_template_batch(user=alice, template_key="order_receipt", from_address=None, personalizations=[person])
    assert seen[0] > 0 and gc.get_freeze_count() == 0

    gc.freeze()
    try:
        send_template_batch(user=alice, template_key="order_receipt", from_address=None, personalizations=[person])
        assert seen[1] > 0 and gc.get_freeze_count() > 0  # not unfrozen by the batch
    finally:
        gc.unfreeze()
