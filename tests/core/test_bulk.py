"""core.bulk.insert_rows: plain rows stored as saving a model instance per row would store them."""

from datetime import UTC, datetime

import pytest

from core.bulk import insert_objects, insert_rows
from delivery.models import DeliveryEvent, SendRate, SendScope
from mailboxes.services.store import store_message
from tests.factories import DomainFactory, raw_email

SLOT = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


def columns(obj, *, skip=("id",)) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields if f.attname not in skip}


@pytest.fixture
def messages(db):
    return [store_message(raw=raw_email(subject=f"Hello {n}"))[0] for n in range(3)]


def test_rows_get_the_model_defaults_and_come_back_with_their_ids_in_order(db):
    rows = [{"scope": "domain", "key": f"d{n}.test", "slot": SLOT} for n in range(5)]

    ids = insert_rows(SendRate, rows)

    assert [columns(SendRate.objects.get(pk=pk)) for pk in ids] == [
        columns(SendRate(**row)) for row in rows
    ]  # attempts=0, the field's default, on each
    assert len(set(ids)) == 5


def test_more_rows_than_one_statement_takes_keep_their_order(db):
    rows = [{"scope": "sender", "key": str(n), "slot": SLOT, "attempts": n} for n in range(700)]

    ids = insert_rows(SendRate, rows)

    stored = dict(SendRate.objects.values_list("pk", "attempts"))
    assert [stored[pk] for pk in ids] == list(range(700))


def test_json_and_callable_defaults_are_what_a_saved_instance_gets(messages):
    before = datetime.now(UTC)
    ids = insert_rows(
        DeliveryEvent,
        [{"message_id": m.pk, "event_type": "queued", "transport": "submission"} for m in messages],
    )
    saved = DeliveryEvent(message=messages[0], event_type="queued", transport="submission")
    saved.save()

    events = [DeliveryEvent.objects.get(pk=pk) for pk in ids]
    skip = ("id", "timestamp")
    assert [columns(e, skip=skip) for e in events] == [
        {**columns(DeliveryEvent.objects.get(pk=saved.pk), skip=skip), "message_id": m.pk} for m in messages
    ]
    assert events[0].metadata == {} and events[0].esp_event is None
    assert len({e.timestamp for e in events}) == 1 and events[0].timestamp >= before  # one default for the call


def test_a_primary_key_that_is_not_generated_is_inserted_as_given(messages):
    domain = DomainFactory(name="scope.test")

    keys = insert_rows(SendScope, [{"message_id": m.pk, "domain_id": domain.pk} for m in messages[:2]])
    insert_objects([SendScope(message=messages[2], domain=domain)])  # the instance path, for the same table

    assert keys == [m.pk for m in messages[:2]]
    assert sorted(SendScope.objects.values_list("message_id", "domain_id", "contact_list_id")) == [
        (m.pk, domain.pk, None) for m in messages
    ]


def test_no_rows_no_statement(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert insert_rows(SendRate, []) == []
