"""What the webmail says about the suppression list: a warning at compose time, and why a recipient was refused."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from delivery.models import Suppression
from delivery.services import run_delivery, send_message, suppress_address
from mailboxes.models import MailboxItem, Message, Recipient

pytestmark = pytest.mark.django_db

BOUNCED_ON = timezone.now() - timedelta(days=2)


@pytest.fixture
def bounced_address(db):
    return suppress_address(
        address="gone@remote.example", reason=Suppression.Reason.HARD_BOUNCE,
        detail="550 5.1.1 No such mailbox", now=BOUNCED_ON,
    ).address  # fmt: skip


def test_compose_warns_next_to_a_recipient_who_bounced_and_says_it_is_tried_anyway(alice_client, bounced_address):
    html = alice_client.get(reverse("mailboxes:compose"), {"to": "Gone <gone@remote.example>"}).content.decode()

    when = date_format(timezone.localtime(BOUNCED_ON), "DATE_FORMAT")
    assert 'data-bounce-warning="gone@remote.example"' in html
    assert f"Mail to gone@remote.example bounced on {when}: 550 5.1.1 No such mailbox; it will be tried anyway." in html


def test_the_warnings_follow_the_address_fields(alice_client, bounced_address):
    url = reverse("mailboxes:recipient_warnings")
    warned = alice_client.get(url, {"to": "ok@remote.example", "cc": "x <gone@remote.example>"}, HTTP_HX_REQUEST="true")
    assert "gone@remote.example bounced on" in warned.content.decode()
    quiet = alice_client.get(url, {"to": "ok@remote.example"}, HTTP_HX_REQUEST="true")
    assert quiet.status_code == 200 and "bounced" not in quiet.content.decode()


def test_a_refused_recipients_badge_says_why_and_since_when(alice_client, alice, bounced_address, dns_server):
    message = send_message(user=alice, to=["gone@remote.example"], text="x", stream=Message.Stream.BULK)
    run_delivery(message_id=message.pk)
    assert message.recipients.get().status == Recipient.Status.SUPPRESSED
    item = MailboxItem.objects.get(user=alice, message=message, origin=MailboxItem.Origin.SENT)

    html = alice_client.get(reverse("mailboxes:thread", args=[item.thread_id])).content.decode()

    when = date_format(timezone.localtime(BOUNCED_ON), "DATE_FORMAT")
    assert f'<span class="status-badge">Not sent: bounced on {when}</span>' in html
