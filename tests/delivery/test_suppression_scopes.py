"""Suppression scopes: one entry per address and scope, which streams each binds, one query per claim."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from campaigns.models import ContactList
from delivery.models import Suppression
from delivery.services import run_delivery, send_message, suppress_address
from delivery.services.engine import RunReport, claim_due_recipients
from delivery.services.suppression import (
    InvalidSuppressionScope,
    Sending,
    bounce_warnings,
    refusing_entries,
    remove_suppression,
)
from mailboxes.models import Message, Recipient
from tests.factories import DomainFactory, UserFactory

pytestmark = pytest.mark.django_db

ADDRESS = "someone@remote.example"


@pytest.fixture
def shop(db):
    return DomainFactory(name="shop.example")


@pytest.fixture
def newsletter(shop):
    return ContactList.objects.create(domain=shop, name="Newsletter")


@pytest.fixture
def sender(shop):
    return UserFactory(address="alice@shop.example", marketer=True)


def test_each_scope_holds_one_entry_per_address_and_renewing_finds_it(shop, newsletter):
    entries = [
        suppress_address(address=ADDRESS, reason="hard_bounce"),
        suppress_address(address=ADDRESS, reason="unsubscribe", scope="stream", domain=shop, stream="bulk"),
        suppress_address(address=ADDRESS, reason="manual", scope="stream", domain=shop, stream="transactional"),
        suppress_address(address=ADDRESS, reason="unsubscribe", scope="list", contact_list=newsletter),
    ]
    again = [
        suppress_address(address=ADDRESS.upper(), reason="hard_bounce"),
        suppress_address(address=ADDRESS, reason="unsubscribe", scope="stream", domain=shop, stream="bulk"),
        suppress_address(address=ADDRESS, reason="manual", scope="stream", domain=shop, stream="transactional"),
        suppress_address(address=ADDRESS, reason="unsubscribe", scope="list", contact_list=newsletter),
    ]

    assert [e.pk for e in again] == [e.pk for e in entries]
    assert Suppression.objects.count() == 4
    assert entries[3].domain == shop  # a list entry belongs to the list's workspace


@pytest.mark.parametrize(
    "fields",
    [
        {"scope": "global"},  # a second GLOBAL row (NULL domain and list would not collide in a plain UNIQUE)
        {"scope": "global", "stream": "bulk"},  # a GLOBAL entry names no stream
        {"scope": "stream", "stream": "bulk"},  # a STREAM entry needs its workspace
        {"scope": "stream", "stream": "personal", "domain": True},  # a person's own mail is never suppressed
        {"scope": "list", "domain": True},  # a LIST entry needs its list
    ],
)
def test_the_database_refuses_rows_that_break_the_scope_rules(shop, fields):
    suppress_address(address=ADDRESS, reason="hard_bounce")
    row = {"address": ADDRESS, "reason": "manual", "stream": "", **fields}
    if row.pop("domain", None):
        row["domain"] = shop

    with pytest.raises(IntegrityError), transaction.atomic():
        Suppression.objects.create(**row)


def test_a_scope_without_what_it_needs_is_refused_by_the_service(shop):
    with pytest.raises(InvalidSuppressionScope):
        suppress_address(address=ADDRESS, reason="manual", scope="stream", domain=shop, stream="personal")
    with pytest.raises(InvalidSuppressionScope):
        suppress_address(address=ADDRESS, reason="manual", scope="list")


def test_removal_takes_one_scope_and_leaves_the_others(shop, newsletter):
    suppress_address(address=ADDRESS, reason="hard_bounce")
    suppress_address(address=ADDRESS, reason="unsubscribe", scope="list", contact_list=newsletter)

    assert remove_suppression(address=ADDRESS, scope="list", contact_list=newsletter)

    assert list(Suppression.objects.values_list("scope", flat=True)) == ["global"]


def test_which_entries_bind_which_stream(shop, newsletter):
    other = DomainFactory(name="other.example")
    suppress_address(address="bounced@remote.example", reason="hard_bounce")
    suppress_address(address="left-list@remote.example", reason="unsubscribe", scope="list", contact_list=newsletter)
    suppress_address(
        address="left-all@remote.example", reason="unsubscribe", scope="stream", domain=shop, stream="bulk"
    )
    suppress_address(
        address="no-receipts@remote.example", reason="manual", scope="stream", domain=shop, stream="transactional"
    )

    def refused(address, stream, *, domain=shop, contact_list=newsletter):
        sending = Sending(address, stream, domain.pk, contact_list.pk if contact_list else None)
        entry = refusing_entries([sending]).get(sending)
        return entry.scope if entry else None

    assert refused("bounced@remote.example", "transactional") == "global"
    assert refused("bounced@remote.example", "bulk") == "global"
    assert refused("bounced@remote.example", "personal") is None
    assert refused("left-list@remote.example", "bulk") == "list"
    assert refused("left-list@remote.example", "bulk", contact_list=None) is None
    assert refused("left-list@remote.example", "transactional") is None
    assert refused("left-all@remote.example", "bulk", contact_list=None) == "stream"
    assert refused("left-all@remote.example", "transactional") is None
    assert refused("left-all@remote.example", "bulk", domain=other, contact_list=None) is None
    assert refused("no-receipts@remote.example", "transactional") == "stream"
    assert refused("no-receipts@remote.example", "bulk") is None


def test_compose_warnings_count_only_global_bounces(shop, newsletter):
    suppress_address(address=ADDRESS, reason="hard_bounce", scope="stream", domain=shop, stream="bulk")
    suppress_address(address=ADDRESS, reason="hard_bounce", scope="list", contact_list=newsletter)

    assert bounce_warnings([ADDRESS]) == []

    suppress_address(address=ADDRESS, reason="hard_bounce", detail="550 5.1.1")
    assert [w.address for w in bounce_warnings([ADDRESS])] == [ADDRESS]


def test_existing_global_entries_still_refuse_mail_of_messages_without_a_send_scope(sender, remote_domain, smtp_server):
    """Messages queued before scopes existed have no SendScope: GLOBAL entries still bind them."""
    message = send_message(user=sender, to=[ADDRESS], text="x", stream=Message.Stream.BULK)
    message.send_scope.delete()
    suppress_address(address=ADDRESS, reason="complaint")

    run_delivery()

    assert message.recipients.get().status == Recipient.Status.SUPPRESSED


def test_a_claim_checks_every_scope_in_the_same_number_of_queries_however_many_recipients(
    sender, shop, newsletter, remote_domain, smtp_server
):
    def claim_queries(count: int) -> int:
        """How many queries of the claim read the suppression list."""
        for n in range(count):
            stream = (Message.Stream.BULK, Message.Stream.TRANSACTIONAL, Message.Stream.PERSONAL)[n % 3]
            send_message(
                user=sender, to=[f"r{n}@remote.example"], text="x", stream=stream,
                contact_list_id=newsletter.pk if stream == Message.Stream.BULK else None,
            )  # fmt: skip
            if n % 2:
                suppress_address(
                    address=f"r{n}@remote.example", reason="unsubscribe", scope="list", contact_list=newsletter
                )
        with CaptureQueriesContext(connection) as queries:
            claim_due_recipients(message_id=None, queue=None, limit=500, report=RunReport())
        Recipient.objects.all().delete()
        return len([q for q in queries.captured_queries if '"delivery_suppression"' in q["sql"]])

    assert claim_queries(3) == claim_queries(30) == 1


def test_an_esp_reported_unsubscribe_stops_the_workspaces_marketing_not_its_receipts(sender, shop, settings, client):
    settings.MAIL_TRANSPORT = {
        "BACKEND": "delivery.transports.esp.AnymailTransport",
        "OPTIONS": {"EMAIL_BACKEND": "anymail.backends.test.EmailBackend"},
    }
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:s3cret"}
    message = send_message(user=sender, to=[ADDRESS], subject="News", text="x", stream=Message.Stream.BULK)
    run_delivery()
    change = {
        "RecordType": "SubscriptionChange", "MessageID": message.recipients.get().provider_message_id,
        "Recipient": ADDRESS, "SuppressSending": True, "SuppressionReason": "ManualSuppression",
        "ChangedAt": "2026-12-06T10:00:00Z",
    }  # fmt: skip

    response = client.post(
        "/anymail/postmark/tracking/", change, content_type="application/json",
        HTTP_AUTHORIZATION="Basic aG9vazpzM2NyZXQ=",
    )  # fmt: skip

    assert response.status_code == 200
    entry = Suppression.objects.get()
    assert (entry.scope, entry.domain, entry.stream, entry.source) == ("stream", shop, "bulk", "esp")


@pytest.mark.django_db(transaction=True)
def test_the_migration_makes_every_existing_entry_global():
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("delivery", "0004_suppression_source_and_expiry")], [("delivery", "0005_suppression_scopes")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps.get_model("delivery", "Suppression")
        old.objects.create(address="gone@remote.example", reason="hard_bounce", source="delivery")
        old.objects.create(address="annoyed@remote.example", reason="complaint", source="report")
        executor = MigrationExecutor(connection)
        executor.migrate(after)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    assert set(Suppression.objects.values_list("address", "scope", "domain", "stream", "contact_list")) == {
        ("gone@remote.example", "global", None, "", None),
        ("annoyed@remote.example", "global", None, "", None),
    }
