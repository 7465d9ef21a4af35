"""The rules' services: applying a filter to existing mail, forwarding verification, local delivery."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from mailboxes.models import Folder, MailboxItem
from mailboxes.parsing import parse_message
from mailboxes.search.indexing import index_changes
from rules.exceptions import InvalidCriteria, InvalidForwardingAddress, InvalidVerificationLink
from rules.models import Filter, ForwardingAddress
from rules.services.filters import FilterActions, create_filter, parse_criteria
from rules.services.forwarding import (
    add_forwarding_address,
    forwarding_address_for_token,
    resend_verification,
    verification_token,
    verify_forwarding_address,
)
from tests.factories import deliver, raw_email, send_and_deliver

pytestmark = pytest.mark.django_db(transaction=True)


def test_criteria_errors_carry_the_position():
    with pytest.raises(InvalidCriteria) as caught:
        parse_criteria("from:a OR")
    assert caught.value.position == 7
    with pytest.raises(InvalidCriteria):
        parse_criteria("   ")


def test_applying_a_filter_to_existing_mail_uses_search_scoped_to_the_user(alice, bob):
    for n in range(3):
        deliver(raw_email(sender="Shop <orders@shop.example>", subject=f"Order {n}", to="alice@example.test"), alice)
    deliver(raw_email(sender="Sam <sam@else.example>", subject="Other", to="alice@example.test"), alice)
    [bobs] = deliver(raw_email(sender="Shop <orders@shop.example>", subject="Bob's order"), bob)
    index_changes()

    found = create_filter(
        user=alice, query="from:shop.example", actions=FilterActions(new_label="Shop", skip_inbox=True),
        apply_to_existing=True,
    )  # fmt: skip

    found.refresh_from_db()
    assert (found.backfill_status, found.backfill_count) == (Filter.Backfill.DONE, 3)
    shop = MailboxItem.objects.filter(user=alice, message__from_address="orders@shop.example")
    assert all(item.folder == Folder.ARCHIVE for item in shop)
    assert all([label.name for label in item.labels.all()] == ["Shop"] for item in shop)
    assert MailboxItem.objects.get(user=alice, message__subject="Other").folder == Folder.INBOX
    bobs.refresh_from_db()
    assert (bobs.folder, bobs.labels.count()) == (Folder.INBOX, 0)


def test_the_filters_page_shows_the_count_applied(client, alice):
    deliver(raw_email(sender="orders@shop.example", subject="Order", to="alice@example.test"), alice)
    index_changes()
    client.force_login(alice)
    response = client.post(
        reverse("rules:filter_create"), {"query": "from:shop.example", "star": "on", "apply_to_existing": "on"},
        follow=True,
    )  # fmt: skip
    assert "Applied to 1 existing message" in response.content.decode()


def test_mail_between_hosted_users_meets_the_recipients_rules(alice, bob):
    create_filter(user=alice, query="from:bob", actions=FilterActions(new_label="Bob", skip_inbox=True))
    send_and_deliver(user=bob, to=["alice@example.test"], subject="From Bob", text="Hi")
    item = MailboxItem.objects.get(user=alice, message__subject="From Bob")
    assert item.folder == Folder.ARCHIVE
    assert [label.name for label in item.labels.all()] == ["Bob"]


def test_a_hosted_user_can_block_another(alice, bob):
    from rules.services.blocking import block_sender

    block_sender(user=alice, sender="bob@example.test")
    send_and_deliver(user=bob, to=["alice@example.test"], subject="Blocked", text="Hi")
    assert MailboxItem.objects.get(user=alice, message__subject="Blocked").folder == Folder.TRASH


def test_a_forwarding_address_is_verified_through_the_link_in_the_mail_sent_to_it(
    client, alice, remote_domain, smtp_server, settings
):
    settings.WEBMAIL_BASE_URL = "http://testserver"
    record = add_forwarding_address(user=alice, address="Me@Remote.Example")
    assert record.address == "me@remote.example" and not record.is_verified

    [mail] = [m for m in smtp_server.messages if m.rcpt_tos == ["me@remote.example"]]
    parsed = parse_message(mail.content)
    assert parsed.from_address == "alice@example.test"
    link = re.search(r"http://testserver(/\S+)", parsed.text).group(1)
    page = client.get(link)  # no sign-in needed: the target's owner may have no account here
    assert page.status_code == 200 and "me@remote.example" in page.content.decode()
    record.refresh_from_db()
    assert not record.is_verified  # a GET (a link scanner) changes nothing
    client.post(link)
    record.refresh_from_db()
    assert record.is_verified


def test_verification_links_expire_and_die_with_their_address(alice, remote_domain, smtp_server):
    record = add_forwarding_address(user=alice, address="me@remote.example")
    token = verification_token(record)
    later = datetime.now(UTC) + timedelta(days=8)
    with pytest.raises(InvalidVerificationLink):
        from unittest import mock

        with mock.patch("django.core.signing.time.time", return_value=later.timestamp()):
            forwarding_address_for_token(token)
    with pytest.raises(InvalidVerificationLink):
        forwarding_address_for_token(token[:-2] + "xx")
    record.delete()
    with pytest.raises(InvalidVerificationLink):
        verify_forwarding_address(token=token)


def test_own_addresses_and_duplicates_are_refused_and_resends_are_throttled(alice, remote_domain, smtp_server):
    with pytest.raises(InvalidForwardingAddress):
        add_forwarding_address(user=alice, address="alice@example.test")
    now = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    record = add_forwarding_address(user=alice, address="me@remote.example", now=now)
    with pytest.raises(InvalidForwardingAddress):
        add_forwarding_address(user=alice, address="ME@remote.example", now=now)
    with pytest.raises(InvalidForwardingAddress):
        resend_verification(user=alice, address_id=record.pk, now=now + timedelta(minutes=1))
    resend_verification(user=alice, address_id=record.pk, now=now + timedelta(minutes=6))
    assert len([m for m in smtp_server.messages if m.rcpt_tos == ["me@remote.example"]]) == 2
    assert ForwardingAddress.objects.filter(user=alice).count() == 1
