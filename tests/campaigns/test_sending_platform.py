"""The sending platform's parts together, as the issue's "Done when" puts them.

A contact imported from CSV gets a marketing message through the batch API;
the message is delivered over SMTP to a loopback sink, DKIM-signed over its
List-Unsubscribe headers; one POST to its URL, as a mailbox provider sends it,
unsubscribes the contact; from then on the API refuses marketing mail to that
address and the engine would refuse it at send time, while a transactional
receipt is still accepted, delivered and verifiable.
"""

import re
from email import message_from_bytes, policy
from urllib.parse import urlsplit

import pytest
from django.test import Client

from accounts.dkim import dns_records
from accounts.services import ensure_dkim_key
from campaigns.models import Contact, Template
from campaigns.services.contacts import create_list
from delivery.models import SendScope, Suppression
from delivery.services import run_delivery, suppress_address
from mailboxes.blobstore import read_blob
from mailboxes.models import Message, Recipient
from tests.api.conftest import assert_error, client_for
from tests.campaigns.contacts_support import run_import
from tests.campaigns.template_factories import make_template
from tests.campaigns.unsubscribe_world import dkim_verifies
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

READER = "reader@remote.example"
BATCH_URL = "/api/emails/send-template/batch"
URL = "/api/emails/send-template"
NEWS = {"orderId": "news", "amount": 1}


@pytest.fixture
def marketer(db, settings, tmp_path, dns_server):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    user = UserFactory(address="alice@shop.example", display_name="Alice at the shop", marketer=True)
    domain, _ = ensure_dkim_key(domain_name="shop.example")
    for record in dns_records(domain):
        if "_domainkey" in record:
            dns_server.resolver.add(record.replace("\t", " "))
    return user


@pytest.fixture
def templates(marketer):
    domain = marketer.addresses.get().domain
    return (
        make_template(domain=domain, key="newsletter", stream=Template.Stream.MARKETING, subject="News {{ orderId }}"),
        make_template(domain=domain, key="order_receipt"),
    )


@pytest.fixture
def api(marketer):
    client = client_for(marketer)
    client.default_format = "json"
    return client


def one_click(list_unsubscribe: str):
    [url] = re.findall(r"<(https?://[^>]+)>", list_unsubscribe)
    return Client(enforce_csrf_checks=True).post(
        urlsplit(url).path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )


def test_an_imported_contact_unsubscribes_with_one_post_and_still_gets_receipts(
    marketer, templates, api, remote_domain, smtp_server, django_capture_on_commit_callbacks
):
    workspace = marketer.addresses.get().domain
    newsletter = create_list(workspace=workspace, name="Newsletter")
    report = run_import(
        django_capture_on_commit_callbacks, workspace=workspace, user=marketer, contact_list=newsletter,
        content=f"email,name\n{READER},Reader\n", consent_given=True, consent_source="shop checkout",
    )  # fmt: skip
    assert (report.report["counts"]["created"], report.report["counts"]["added"]) == (1, 1)
    contact = Contact.objects.get(domain=workspace, address=READER)

    response = api.post(
        BATCH_URL, {"templateId": "newsletter", "personalizations": [{"to": [READER], "variables": NEWS}]}
    )
    assert response.status_code == 202, response.content
    run_delivery()

    [received] = smtp_server.messages
    assert dkim_verifies(received.content)
    delivered = message_from_bytes(received.content, policy=policy.default)
    signature = re.sub(r"\s", "", str(delivered["DKIM-Signature"]))
    assert {"list-unsubscribe", "list-unsubscribe-post"} <= set(re.search(r"h=([^;]+)", signature)[1].split(":"))
    assert delivered["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    assert one_click(str(delivered["List-Unsubscribe"])).status_code == 200

    entry = Suppression.objects.get(address=READER)  # within the request
    assert (entry.scope, entry.stream, entry.domain) == (Suppression.Scope.STREAM, Message.Stream.BULK, workspace)
    contact.refresh_from_db()
    assert contact.consent == Contact.Consent.OPTED_OUT
    again = api.post(URL, {"templateId": "newsletter", "to": [READER], "variables": NEWS})
    details = assert_error(again, 400, "invalid")["details"]
    assert any("suppressed recipient" in m for m in details["to"])
    receipt = api.post(URL, {"templateId": "order_receipt", "to": [READER], "variables": NEWS})
    assert receipt.status_code == 202, receipt.content
    run_delivery()

    assert len(smtp_server.messages) == 2
    assert dkim_verifies(smtp_server.messages[1].content)
    assert b"Receipt news" in smtp_server.messages[1].content


def test_marketing_queued_before_the_unsubscribe_is_refused_at_send_time(marketer, templates, api, remote_domain):
    workspace = marketer.addresses.get().domain
    response = api.post(
        BATCH_URL, {"templateId": "newsletter", "personalizations": [{"to": [READER], "variables": NEWS}]}
    )
    [queued] = response.json()["messages"]
    message = Message.objects.get(pk=queued["id"])
    assert SendScope.objects.get(message=message).domain == workspace  # the batch path records its workspace too

    unsubscribe_url = message_headers(message)["List-Unsubscribe"]
    assert one_click(unsubscribe_url).status_code == 200
    run_delivery()

    assert message.recipients.get().status == Recipient.Status.SUPPRESSED


def test_a_marketing_message_has_one_recipient_whose_link_it_carries(marketer, templates, api):
    response = api.post(URL, {"templateId": "newsletter", "to": [READER, "other@remote.example"], "variables": NEWS})

    details = assert_error(response, 400, "invalid")["details"]
    assert "one recipient" in details["to"][0]


def test_each_batch_recipient_gets_a_link_of_their_own(marketer, templates, api):
    people = [{"to": [f"r{i}@remote.example"], "variables": NEWS} for i in range(3)]

    response = api.post(BATCH_URL, {"templateId": "newsletter", "personalizations": people})

    assert response.status_code == 202, response.content
    links = {message_headers(m)["List-Unsubscribe"] for m in Message.objects.filter(stream=Message.Stream.BULK)}
    assert len(links) == 3


def test_a_transactional_batch_is_held_to_its_workspaces_transactional_entries(marketer, templates, api):
    workspace = marketer.addresses.get().domain
    suppress_address(
        address=READER, reason=Suppression.Reason.MANUAL, scope=Suppression.Scope.STREAM, domain=workspace,
        stream=Message.Stream.TRANSACTIONAL,
    )  # fmt: skip
    people = [{"to": [READER], "variables": NEWS}, {"to": ["fine@remote.example"], "variables": NEWS}]

    response = api.post(BATCH_URL, {"templateId": "order_receipt", "personalizations": people})

    details = assert_error(response, 400, "invalid")["details"]
    assert list(details) == ["personalizations.0.to"]


def test_a_marketing_unsubscribe_does_not_hold_receipts_back(marketer, templates, api):
    workspace = marketer.addresses.get().domain
    suppress_address(
        address=READER, reason=Suppression.Reason.UNSUBSCRIBE, scope=Suppression.Scope.STREAM, domain=workspace,
        stream=Message.Stream.BULK,
    )  # fmt: skip

    refused = api.post(URL, {"templateId": "newsletter", "to": [READER], "variables": NEWS})
    accepted = api.post(URL, {"templateId": "order_receipt", "to": [READER], "variables": NEWS})

    assert refused.status_code == 400
    assert accepted.status_code == 202, accepted.content


def message_headers(message: Message):
    return message_from_bytes(read_blob(message.blob), policy=policy.default)
