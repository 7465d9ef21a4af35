"""A tracked campaign recipient whose mail was really delivered: the fixture the tracking tests import.

Registered as ``member`` (see ``unsubscribe_world`` for the naming): the
people and workspaces are that module's.
"""

from datetime import timedelta

import pytest

from campaigns.models import Campaign, CampaignRecipient
from campaigns.services.contacts import update_contact
from delivery.services import run_delivery, send_message
from mailboxes.models import Message
from tests.campaigns.unsubscribe_world import READER


@pytest.fixture(name="member")
def member_fixture(marketer, shop, reader, remote_domain):
    """reader (who allows tracking), in a campaign of shop.example that tracks opens and clicks; the mail was
    delivered an hour ago."""
    update_contact(workspace=shop, contact_id=reader.pk, name="", locale="", attributes={}, tracking_consent=True)
    message = send_message(user=marketer, to=[READER], subject="News", text="Sale!", stream=Message.Stream.BULK)
    run_delivery()
    outbox = message.recipients.get()
    assert outbox.status == outbox.Status.SENT
    outbox.last_attempt_at -= timedelta(hours=1)
    outbox.save(update_fields=["last_attempt_at"])
    campaign = Campaign.objects.create(domain=shop, name="Sale", message=message, track_opens=True, track_clicks=True)
    return CampaignRecipient.objects.create(
        campaign=campaign, contact=reader, address=READER, domain="remote.example", tracked=True, recipient=outbox
    )
