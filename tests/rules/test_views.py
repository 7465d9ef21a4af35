"""The settings pages of the mail rules: forms, errors, order, and isolation between users."""

import pytest
from django.urls import reverse

from accounts.services import update_preferences
from mailboxes.models import Label
from rules.models import AutoForward, BlockedSender, Filter, ForwardingAddress, VacationReply
from rules.services.filters import FilterActions, create_filter
from tests.factories import deliver, raw_email

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def test_the_settings_navigation_shows_the_three_rules_sections(alice_client):
    page = alice_client.get(reverse("rules:filters")).content.decode()
    for name in ("rules:filters", "rules:vacation", "rules:forwarding"):
        assert f'href="{reverse(name)}"' in page


def test_a_filter_is_created_with_a_new_label(alice_client, alice):
    response = alice_client.post(
        reverse("rules:filter_create"),
        {"query": "from:shop@example.com has:attachment", "new_label": "Receipts", "skip_inbox": "on"},
    )
    assert response.status_code == 302
    found = Filter.objects.get(user=alice)
    assert (found.query, found.label.name, found.skip_inbox, found.mark_read) == (
        "from:shop@example.com has:attachment", "Receipts", True, False,
    )  # fmt: skip
    page = alice_client.get(reverse("rules:filters")).content.decode()
    assert "from:shop@example.com has:attachment" in page and "Receipts" in page


def test_bad_criteria_are_shown_with_the_character_position(alice_client, alice):
    response = alice_client.post(reverse("rules:filter_create"), {"query": "from:a (subject:b", "star": "on"})
    assert response.status_code == 400
    assert "at character 8" in response.content.decode()
    assert not Filter.objects.exists()


def test_a_filter_needs_criteria_and_an_action(alice_client):
    assert alice_client.post(reverse("rules:filter_create"), {"query": "", "star": "on"}).status_code == 400
    response = alice_client.post(reverse("rules:filter_create"), {"query": "from:a@b.example"})
    assert response.status_code == 400
    assert "at least one thing" in response.content.decode()
    assert not Filter.objects.exists()


def test_the_search_page_links_to_a_filter_prefilled_with_the_query(alice_client):
    page = alice_client.get(reverse("mailboxes:search"), {"q": "from:shop has:attachment"}).content.decode()
    assert "/settings/filters/?q=from%3Ashop%20has%3Aattachment" in page
    form = alice_client.get(reverse("rules:filters"), {"q": "from:shop has:attachment"}).content.decode()
    assert 'value="from:shop has:attachment"' in form


def test_filters_are_reordered_with_up_and_down(alice_client, alice):
    first, second, third = (
        create_filter(user=alice, query=f"from:{n}@x.example", actions=FilterActions(star=True)) for n in "abc"
    )
    alice_client.post(reverse("rules:filter_move", args=[third.pk]), {"direction": "up"})
    assert list(Filter.objects.filter(user=alice).order_by("position").values_list("pk", flat=True)) == [
        first.pk, third.pk, second.pk,
    ]  # fmt: skip
    alice_client.post(reverse("rules:filter_move", args=[first.pk]), {"direction": "down"})
    assert list(Filter.objects.filter(user=alice).order_by("position").values_list("pk", flat=True)) == [
        third.pk, first.pk, second.pk,
    ]  # fmt: skip


def test_a_filter_is_edited_and_deleted(alice_client, alice):
    found = create_filter(user=alice, query="from:a@x.example", actions=FilterActions(star=True))
    assert alice_client.get(reverse("rules:filter_edit", args=[found.pk])).status_code == 200
    alice_client.post(reverse("rules:filter_edit", args=[found.pk]), {"query": "subject:invoice", "mark_read": "on"})
    found.refresh_from_db()
    assert (found.query, found.star, found.mark_read) == ("subject:invoice", False, True)
    alice_client.post(reverse("rules:filter_delete", args=[found.pk]))
    assert not Filter.objects.exists()


def test_another_users_filter_ids_are_not_found(client, alice, mallory):
    found = create_filter(user=alice, query="from:a@x.example", actions=FilterActions(star=True))
    client.force_login(mallory)
    assert client.get(reverse("rules:filter_edit", args=[found.pk])).status_code == 404
    assert client.post(reverse("rules:filter_edit", args=[found.pk]), {"query": "x", "star": "on"}).status_code == 404
    assert client.post(reverse("rules:filter_delete", args=[found.pk])).status_code == 404
    assert client.post(reverse("rules:filter_move", args=[found.pk]), {"direction": "up"}).status_code == 404
    assert Filter.objects.filter(pk=found.pk, query="from:a@x.example").exists()


def test_another_users_label_cannot_be_used_by_a_filter(client, alice, mallory):
    label = Label.objects.create(user=alice, name="Private")
    client.force_login(mallory)
    response = client.post(reverse("rules:filter_create"), {"query": "from:x@y.example", "label": label.pk})
    assert response.status_code == 400
    assert not Filter.objects.exists()


def test_senders_and_domains_are_blocked_and_unblocked(alice_client, alice):
    alice_client.post(reverse("rules:block"), {"sender": "Pest@Spam.Example"})
    alice_client.post(reverse("rules:block"), {"sender": "@junk.example"})
    assert set(BlockedSender.objects.filter(user=alice).values_list("kind", "value")) == {
        ("address", "pest@spam.example"), ("domain", "junk.example"),
    }  # fmt: skip
    page = alice_client.get(reverse("rules:filters")).content.decode()
    assert "pest@spam.example" in page and "Everyone at junk.example" in page
    blocked = BlockedSender.objects.get(value="junk.example")
    alice_client.post(reverse("rules:unblock", args=[blocked.pk]))
    assert not BlockedSender.objects.filter(pk=blocked.pk).exists()


def test_block_sender_from_a_conversation_blocks_its_from_address(alice_client, alice, mallory, client):
    [item] = deliver(raw_email(sender="Pest <pest@spam.example>", to="alice@example.test"), alice)
    response = alice_client.post(reverse("rules:block_sender_of", args=[item.pk]))
    assert response.status_code == 302
    assert BlockedSender.objects.filter(user=alice, value="pest@spam.example").exists()
    client.force_login(mallory)
    assert client.post(reverse("rules:block_sender_of", args=[item.pk])).status_code == 404
    assert not BlockedSender.objects.filter(user=mallory).exists()


def test_the_conversation_page_offers_block_sender(alice_client, alice):
    [item] = deliver(raw_email(sender="Pest <pest@spam.example>", to="alice@example.test"), alice)
    page = alice_client.get(reverse("mailboxes:thread", args=[item.thread_id])).content.decode()
    assert reverse("rules:block_sender_of", args=[item.pk]) in page


def test_another_users_blocked_sender_is_not_found(client, alice, mallory):
    blocked = BlockedSender.objects.create(user=alice, kind="address", value="a@b.example")
    client.force_login(mallory)
    assert client.post(reverse("rules:unblock", args=[blocked.pk])).status_code == 404
    assert BlockedSender.objects.filter(pk=blocked.pk).exists()


ENDS_BEFORE_IT_STARTS = {
    "enabled": "on", "subject": "Away", "body": "Back on Monday.", "starts_on": "2026-12-20", "ends_on": "2026-12-10",
    "interval_days": "4",
}  # fmt: skip


def test_the_vacation_reply_is_saved_and_validated(alice_client, alice):
    response = alice_client.post(reverse("rules:vacation"), ENDS_BEFORE_IT_STARTS)
    assert response.status_code == 400
    assert "comes before" in response.content.decode()
    response = alice_client.post(
        reverse("rules:vacation"),
        {"enabled": "on", "subject": "Away", "body": "Back on Monday.", "starts_on": "2026-12-01",
         "ends_on": "2026-12-31", "interval_days": "7", "contacts_only": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    reply = VacationReply.objects.get(user=alice)
    assert (reply.enabled, reply.interval_days, reply.contacts_only) == (True, 7, True)
    assert str(reply.ends_on) == "2026-12-31"
    for bad in ("0", "31", "x"):
        data = {"enabled": "on", "body": "Away.", "interval_days": bad}
        assert alice_client.post(reverse("rules:vacation"), data).status_code == 400


def test_another_users_forwarding_address_is_not_found(client, alice, mallory):
    record = ForwardingAddress.objects.create(user=alice, address="me@elsewhere.example")
    client.force_login(mallory)
    assert client.post(reverse("rules:forwarding_delete", args=[record.pk])).status_code == 404
    assert client.post(reverse("rules:forwarding_resend", args=[record.pk])).status_code == 404
    assert client.post(reverse("rules:forwarding_all"), {"address": record.pk, "keep": "inbox"}).status_code == 404
    assert ForwardingAddress.objects.filter(pk=record.pk).exists()
    assert not AutoForward.objects.filter(user=mallory, address__isnull=False).exists()


def test_an_unverified_address_cannot_be_used_for_forwarding(alice_client, alice):
    record = ForwardingAddress.objects.create(user=alice, address="me@elsewhere.example")
    alice_client.post(reverse("rules:forwarding_all"), {"address": record.pk, "keep": "archive"})
    assert not AutoForward.objects.filter(user=alice, address__isnull=False).exists()
    response = alice_client.post(reverse("rules:filter_create"), {"query": "from:x@y.example", "forward_to": record.pk})
    assert response.status_code == 400
    assert not Filter.objects.exists()


def test_pages_need_a_signed_in_user(client):
    for name in ("rules:filters", "rules:vacation", "rules:forwarding"):
        assert client.get(reverse(name)).status_code == 302


def test_a_forged_verification_link_is_not_found(client):
    assert client.get(reverse("rules:forwarding_verify", args=["forged:token"])).status_code == 404


def test_the_rules_pages_are_translated(alice_client):
    alice_client.post(reverse("set_language"), {"language": "zh-hans", "next": "/mail/"})
    assert "创建过滤器" in alice_client.get(reverse("rules:filters")).content.decode()
    assert "休假自动回复" in alice_client.get(reverse("rules:vacation")).content.decode()
    assert "转发地址" in alice_client.get(reverse("rules:forwarding")).content.decode()


def test_a_chinese_user_sees_the_vacation_error_in_chinese(alice_client, alice):
    update_preferences(user=alice, language="zh-hans")
    response = alice_client.post(reverse("rules:vacation"), ENDS_BEFORE_IT_STARTS)
    assert response.status_code == 400
    page = response.content.decode()
    assert "最后一天早于第一天。" in page and "comes before" not in page
    assert not VacationReply.objects.filter(user=alice, enabled=True).exists()
