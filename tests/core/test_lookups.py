"""``AnyOf``: ``IN (…)`` as one array parameter on PostgreSQL, the same rows everywhere."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.lookups import any_of
from delivery.models import Suppression
from delivery.services import send_message
from delivery.services.suppression import suppress_address
from mailboxes.models import Recipient


@pytest.fixture
def recipients(alice):
    message = send_message(user=alice, to=["bob@remote.example", "o'brien@other.example"], subject="hi", text="x")
    return list(message.recipients.order_by("pk"))


def test_selects_the_same_rows_as_in(recipients):
    ids = [r.pk for r in recipients] + [10**9]
    assert list(Recipient.objects.filter(any_of("pk", ids)).order_by("pk")) == recipients
    assert set(Recipient.objects.filter(any_of("domain", {"other.example", None}))) == {recipients[1]}
    assert Recipient.objects.filter(any_of("message_id", [recipients[0].message_id])).count() == 2


def test_quotes_strings_and_compares_them_whole(db):
    suppress_address(address="o'brien@other.example", reason=Suppression.Reason.MANUAL)
    assert Suppression.objects.filter(any_of("address", ["o'brien@other.example"])).count() == 1
    assert not Suppression.objects.filter(any_of("address", ["o'brien@other"])).exists()


def test_an_empty_list_matches_nothing(recipients):
    assert list(Recipient.objects.filter(any_of("pk", []))) == []
    assert Recipient.objects.filter(any_of("pk", [None])).update(attempts=5) == 0


def test_updates_through_it(recipients):
    assert Recipient.objects.filter(any_of("pk", [recipients[0].pk])).update(attempts=7) == 1
    recipients[0].refresh_from_db()
    assert recipients[0].attempts == 7


def test_one_parameter_for_the_whole_list_on_postgresql(recipients):
    with CaptureQueriesContext(connection) as queries:
        list(Recipient.objects.filter(any_of("pk", range(1, 200))))
    sql = queries.captured_queries[-1]["sql"]
    if connection.vendor == "postgresql":
        assert "= ANY(" in sql and sql.count(",") < 200 + 40  # the array literal, no IN list
    else:
        assert " IN (" in sql
