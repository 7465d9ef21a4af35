"""Campaign data for the results tests, built row by row (the fan-out that makes it in production is elsewhere).

``make_campaign`` gives a campaign of the workspace with its one bulk message,
its send scope, and for each address a frozen audience row released to the
outbox. ``sample_renderer`` stands in for the campaign renderer while the real
engine delivers: every recipient gets the stored sample bytes.
"""

import pytest
from django.utils import timezone

from accounts.models import Domain
from campaigns.models import Campaign, CampaignRecipient
from delivery import personalization
from delivery.models import SendScope
from mailboxes.blobstore import read_blob
from mailboxes.models import Message, Recipient
from mailboxes.services import store_message
from tests.factories import UserFactory, raw_email


@pytest.fixture(name="marketer")
def marketer_fixture(db):
    """alice, a marketer of shop.example."""
    return UserFactory(address="alice@shop.example", display_name="Alice at the shop", marketer=True)


@pytest.fixture(name="shop")
def shop_fixture(marketer):
    return Domain.objects.get(name="shop.example")


@pytest.fixture(name="other_marketer")
def other_marketer_fixture(db):
    """mallory, a marketer of another workspace."""
    return UserFactory(address="mallory@other.example", display_name="Mallory", marketer=True)


def make_campaign(domain, addresses, *, status=Campaign.Status.SENDING, name="Spring sale", now=None) -> Campaign:
    now = now or timezone.now()
    raw = raw_email(sender=f"Shop <news@{domain.name}>", to="subscriber@remote.example", subject=name)
    message, _ = store_message(raw=raw, status=Message.Status.QUEUED, stream=Message.Stream.BULK)
    campaign = Campaign.objects.create(
        domain=domain, name=name, status=status, message=message, from_address=f"news@{domain.name}",
        audience_size=len(addresses), released_count=len(addresses), started_at=now, track_opens=True,
        track_clicks=True,
    )  # fmt: skip
    SendScope.objects.create(message=message, domain=domain, campaign_id=campaign.pk)
    for address in addresses:
        recipient = Recipient.objects.create(
            message=message, address=address, kind=Recipient.Kind.TO, domain=address.rpartition("@")[2],
            queue=Recipient.Queue.BULK, next_attempt_at=now,
        )  # fmt: skip
        CampaignRecipient.objects.create(
            campaign=campaign, address=address, domain=recipient.domain, recipient=recipient, released_at=now,
            tracked=True,
        )  # fmt: skip
    return campaign


def recipient_of(campaign: Campaign, address: str) -> Recipient:
    return Recipient.objects.select_related("message").get(message=campaign.message, address=address)


class SampleRenderer:
    """Each recipient's bytes are the message's sample; paused and cancelled campaigns are held, as the real one."""

    def held(self, campaign_ids):
        held = Campaign.objects.filter(pk__in=campaign_ids, status__in=["paused", "cancelled"])
        return dict(held.values_list("pk", "status"))

    def render(self, recipients):
        return {r.pk: read_blob(r.message.blob) for r in recipients}


@pytest.fixture(name="sample_renderer")
def sample_renderer_fixture():
    before = personalization._registered
    personalization.register(SampleRenderer())
    yield
    personalization._registered = before
