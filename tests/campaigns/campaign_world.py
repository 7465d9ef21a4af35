"""The workspace of the campaign tests: fixtures the test modules import, and helpers to run a campaign.

``shop.example`` (alice, a marketer, whose domain signs with a DKIM key
published on the loopback DNS) sends the marketing template "spring" to the
list "Newsletter" (segment "Everyone on the newsletter"). Its contacts live at
``remote.example``, whose MX is the loopback SMTP server (``remote_domain``).
Each fixture function is ``<name>_fixture``, registered under ``<name>``.
"""

from datetime import UTC, datetime

import pytest

from campaigns.models import Contact, ContactList, ListMembership, Segment
from campaigns.services.campaigns import create_campaign
from campaigns.services.templates import create_template
from delivery.services.engine import run_delivery
from mailboxes.models import Recipient
from tests.campaigns.unsubscribe_world import marketer_fixture, shop_fixture  # noqa: F401 - fixtures

SPRING_HTML = """<html><body><h1>Hello {{ first_name }}!</h1>
<p>Our spring sale starts now, {{ name }}.</p></body></html>"""
SPRING_VARIABLES = [
    {"name": "first_name", "type": "string", "required": True, "example": "Ada"},
    {"name": "name", "type": "string", "example": "Ada Lovelace"},
]
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(name="spring")
def spring_fixture(marketer, shop):
    return create_template(
        user=marketer, key="spring", name="Spring sale", stream="marketing", subject="Spring for {{ first_name }}",
        html=SPRING_HTML, variables=SPRING_VARIABLES,
    )  # fmt: skip


@pytest.fixture(name="newsletter")
def newsletter_fixture(shop):
    return ContactList.objects.create(domain=shop, name="Newsletter")


@pytest.fixture(name="everyone")
def everyone_fixture(shop, newsletter):
    return Segment.objects.create(domain=shop, name="Everyone on the newsletter", definition={"lists": [newsletter.pk]})


def add_contacts(shop, newsletter, addresses, **fields) -> list[Contact]:
    """Opted-in contacts on the newsletter, each with a first name from its local part."""
    contacts = []
    for address in addresses:
        local = address.split("@")[0]
        contact = Contact.objects.create(
            domain=shop, address=address, name=f"{local.title()} Example", consent=Contact.Consent.OPTED_IN,
            attributes={"first_name": local.title()}, **fields,
        )  # fmt: skip
        ListMembership.objects.create(contact_list=newsletter, contact=contact)
        contacts.append(contact)
    return contacts


def new_campaign(marketer, spring, everyone, **fields):
    values = {"name": "Spring 2026", "template": spring, "segment": everyone, "from_address": "alice@shop.example",
              "from_name": "The Shop"} | fields  # fmt: skip
    return create_campaign(user=marketer, **values)


def deliver_bulk() -> None:
    """What a bulk worker does with the outbox now (the real engine)."""
    run_delivery(queue=Recipient.Queue.BULK)
