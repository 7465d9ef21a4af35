"""With the Celery broker down, whatever was stored is answered as stored: the reconcilers send it."""

import pytest
from django.urls import reverse

from delivery.services import run_delivery
from inbound.models import InboundMessage
from inbound.services.reception import accept_message
from mailboxes.models import Folder, MailboxItem, Message, Recipient
from mailboxes.services.undo import send_due_messages
from tests.api.conftest import client_for
from tests.factories import raw_email
from tests.support.broker import unreachable_broker

# Tasks are published on commit: the test's own transaction must really commit.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker_down():
    with unreachable_broker():
        yield


def test_api_send_is_202_with_the_stored_message_when_the_broker_is_down(alice, bob, broker_down):
    api = client_for(alice)

    response = api.post("/api/emails/send", {"to": ["bob@example.test"], "subject": "Hi", "body": "x"}, format="json")

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == Message.Status.QUEUED
    assert body["recipients"] == [{"address": "bob@example.test", "kind": "to", "status": Recipient.Status.QUEUED}]
    message = MailboxItem.objects.get(pk=body["id"], user=alice).message
    assert message.recipients.get().status == Recipient.Status.QUEUED
    assert run_delivery().delivered == 1  # what a worker does once the reconciler has dispatched it


def test_webmail_send_and_send_now_work_when_the_broker_is_down(alice, bob, broker_down, client):
    client.force_login(alice)
    form = {
        "to": "bob@example.test",
        "cc": "",
        "bcc": "",
        "subject": "Hi",
        "body": "x",
        "draft_id": "",
        "in_reply_to": "",
    }

    response = client.post(reverse("mailboxes:send"), form)

    assert response.status_code == 302
    draft = MailboxItem.objects.get(user=alice, folder=Folder.DRAFTS)
    MailboxItem.objects.filter(pk=draft.pk).update(send_at=draft.send_at.replace(year=2000))
    assert client.post(reverse("mailboxes:send_now", args=[draft.pk])).json() == {"sent": True}
    assert Recipient.objects.get(message=draft.message).status == Recipient.Status.QUEUED
    assert send_due_messages() == 0


def test_inbound_message_is_stored_when_the_broker_is_down(alice, broker_down):
    job = accept_message(
        raw=raw_email(to="alice@example.test"), mail_from="x@remote.example", rcpt_tos=["alice@example.test"],
        client_ip="192.0.2.1", helo="remote.example",
    )  # fmt: skip

    assert InboundMessage.objects.get(pk=job.pk).status == InboundMessage.Status.QUEUED
