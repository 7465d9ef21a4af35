"""Leaving through a campaign's mail is that campaign's "unsubscribed" event; older tokens keep working."""

import re
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.test import Client

from campaigns.models import CampaignRecipient
from campaigns.unsubscribe import list_unsubscribe_headers, make_token, read_token
from delivery.models import DeliveryEvent, Suppression
from tests.campaigns.tracking_world import member_fixture  # noqa: F401 - fixture
from tests.campaigns.unsubscribe_world import (  # noqa: F401 - fixtures
    READER,
    marketer_fixture,
    newsletter_fixture,
    offers_fixture,
    other_marketer_fixture,
    other_shop_fixture,
    reader_fixture,
    shop_fixture,
)

pytestmark = pytest.mark.django_db


def one_click(path: str):
    return Client(enforce_csrf_checks=True).post(
        path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )


def unsubscribed_events():
    return list(DeliveryEvent.objects.filter(event_type="unsubscribed"))


def test_one_click_from_a_campaigns_header_records_one_unsubscribed_event(member, shop, newsletter):
    headers = list_unsubscribe_headers(domain=shop, address=READER, contact_list=newsletter, recipient_id=member.pk)
    [url] = re.findall(r"<(https?://[^>]+)>", headers["List-Unsubscribe"])

    assert one_click(urlsplit(url).path).status_code == 200
    assert one_click(urlsplit(url).path).status_code == 200  # a provider posting twice

    [event] = unsubscribed_events()
    assert event.recipient == member.recipient
    assert event.metadata == {"scope": "list", "source": Suppression.Source.ONE_CLICK}
    member.refresh_from_db()
    assert member.unsubscribed_at == event.timestamp
    assert member.recipient.status == "sent"
    assert Suppression.objects.filter(address=READER, scope=Suppression.Scope.LIST, contact_list=newsletter).exists()


def test_leaving_all_marketing_on_the_page_records_the_event(member, shop, client):
    token = make_token(domain_id=shop.pk, address=READER, recipient_id=member.pk)

    response = client.post(f"/u/{token}/choice/", {"choice": "all"})

    assert response.status_code == 302
    [event] = unsubscribed_events()
    assert event.metadata == {"scope": "stream", "source": Suppression.Source.PAGE}


def test_a_token_without_a_campaign_recipient_unsubscribes_and_records_no_event(member, shop, newsletter):
    token = make_token(domain_id=shop.pk, address=READER, contact_list_id=newsletter.pk)

    assert one_click(f"/u/{token}/").status_code == 200
    assert Suppression.objects.filter(address=READER, contact_list=newsletter).exists()
    assert unsubscribed_events() == []


def test_a_token_made_before_campaign_recipients_is_still_valid(shop, newsletter, reader):
    """The three-field tokens of mail sent before this change: same salt, same shape."""
    old = signing.Signer(salt="campaigns.unsubscribe").sign_object([shop.pk, READER, newsletter.pk])

    assert old == make_token(domain_id=shop.pk, address=READER, contact_list_id=newsletter.pk)
    assert read_token(old).recipient_id is None
    assert one_click(f"/u/{old}/").status_code == 200


def test_a_campaign_recipient_of_another_workspace_or_address_gets_no_event(member, other_shop):
    for token in (
        make_token(domain_id=other_shop.pk, address=READER, recipient_id=member.pk),
        make_token(domain_id=member.campaign.domain_id, address="someone@remote.example", recipient_id=member.pk),
    ):
        assert one_click(f"/u/{token}/").status_code == 200
    assert unsubscribed_events() == []
    assert CampaignRecipient.objects.get(pk=member.pk).unsubscribed_at is None


def test_a_token_with_a_malformed_campaign_recipient_is_refused(shop):
    signer = signing.Signer(salt="campaigns.unsubscribe")
    for fields in ([shop.pk, READER, None, "7"], [shop.pk, READER, None, 7, 8]):
        assert one_click(f"/u/{signer.sign_object(fields)}/").status_code == 400
