"""The judged reason of a failure, shown where the delivery status per recipient is: the webmail and the API."""

import pytest
from django.urls import reverse

from delivery.services.events import record_delivery_event
from mailboxes.models import MailboxItem, Recipient
from tests.api.conftest import client_for
from tests.factories import send_and_deliver

pytestmark = pytest.mark.django_db


@pytest.fixture
def bounced(alice, bob):
    """alice's message whose remote recipient bounced: the mailbox was full."""
    message = send_and_deliver(user=alice, to=["bob@example.test", "carol@remote.example"], subject="Figures")
    carol = message.recipients.get(address="carol@remote.example")
    record_delivery_event(
        recipient=carol, event_type="bounced", transport="report:dsn", reason="mailbox_full",
        reject_reason="bounced", mta_response="552 5.2.2 Mailbox full", enhanced_status="5.2.2",
    )  # fmt: skip
    carol.refresh_from_db()
    assert carol.status == Recipient.Status.BOUNCED
    return MailboxItem.objects.get(user=alice, message=message, origin=MailboxItem.Origin.SENT)


def test_the_conversation_says_why_a_recipient_bounced(alice_client, bounced):
    url = reverse("mailboxes:thread", args=[bounced.thread_id])

    html = alice_client.get(url).content.decode()
    assert '<strong class="failure-reason">Mailbox full</strong>' in html
    assert html.count('class="failure-reason"') == 1  # bob, delivered, has none

    alice_client.post(reverse("set_language"), {"language": "zh-hans", "next": "/mail/"})
    assert '<strong class="failure-reason">邮箱已满</strong>' in alice_client.get(url).content.decode()


def test_the_api_gives_the_reason_of_each_recipient_and_event(alice, bounced):
    data = client_for(alice).get(f"/api/emails/{bounced.pk}/delivery").json()

    recipients = {r["address"]: r for r in data["recipients"]}
    carol, bob = recipients["carol@remote.example"], recipients["bob@example.test"]
    assert (carol["reason"], carol["reason_label"]) == ("mailbox_full", "Mailbox full")
    [event] = [e for e in carol["events"] if e["event_type"] == "bounced"]
    assert (event["reason"], event["reason_label"]) == ("mailbox_full", "Mailbox full")
    assert (bob["reason"], bob["reason_label"]) == ("", "")
