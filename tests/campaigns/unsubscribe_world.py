"""The people and workspaces of the unsubscribe tests: fixtures the test modules import.

Two workspaces: ``shop.example`` (alice, a marketer; its list "Newsletter"
and a contact on it) and ``other.example`` (mallory, a marketer of another
workspace). Both sign with DKIM keys published on the loopback DNS server.
Each fixture function is ``<name>_fixture``, registered under ``<name>``: a
test module imports the functions without shadowing its tests' arguments.
"""

import dkim
import pytest

from accounts.dkim import dns_records
from accounts.services import ensure_dkim_key
from campaigns.models import Contact, ContactList, ListMembership
from core.dns import get_resolver
from tests.factories import UserFactory

READER = "reader@remote.example"


def publish_dkim(dns_server, domain_name: str):
    domain, _ = ensure_dkim_key(domain_name=domain_name)
    for record in dns_records(domain):
        if "_domainkey" in record:
            dns_server.resolver.add(record.replace("\t", " "))
    return domain


def dkim_verifies(raw: bytes) -> bool:
    def dnsfunc(name, timeout=5):
        answer = get_resolver().resolve(name.decode().rstrip("."), "TXT")
        return b"".join(b"".join(r.strings) for r in answer)

    return dkim.verify(raw, dnsfunc=dnsfunc)


@pytest.fixture(name="marketer")
def marketer_fixture(db):
    """alice, a marketer of shop.example."""
    return UserFactory(address="alice@shop.example", display_name="Alice at the shop", marketer=True)


@pytest.fixture(name="shop")
def shop_fixture(marketer, dns_server):
    return publish_dkim(dns_server, "shop.example")


@pytest.fixture(name="other_marketer")
def other_marketer_fixture(db):
    """mallory, a marketer of another workspace."""
    return UserFactory(address="mallory@other.example", display_name="Mallory", marketer=True)


@pytest.fixture(name="other_shop")
def other_shop_fixture(other_marketer, dns_server):
    return publish_dkim(dns_server, "other.example")


@pytest.fixture(name="newsletter")
def newsletter_fixture(shop):
    return ContactList.objects.create(domain=shop, name="Newsletter")


@pytest.fixture(name="offers")
def offers_fixture(shop):
    return ContactList.objects.create(domain=shop, name="Offers")


@pytest.fixture(name="reader")
def reader_fixture(shop, newsletter, offers):
    """A contact of shop.example who opted in, on both its lists."""
    contact = Contact.objects.create(
        domain=shop, address=READER, consent=Contact.Consent.OPTED_IN, consent_ip="192.0.2.1"
    )
    for contact_list in (newsletter, offers):
        ListMembership.objects.create(contact_list=contact_list, contact=contact)
    return contact


@pytest.fixture(name="shop_admin")
def shop_admin_fixture(shop):
    """An admin (superuser) whose workspace is shop.example."""
    return UserFactory(address="root@shop.example", display_name="Root", admin=True)


@pytest.fixture(name="end_user")
def end_user_fixture(shop):
    """bob, an ordinary user of shop.example: no marketing area."""
    return UserFactory(address="bob@shop.example", display_name="Bob")
