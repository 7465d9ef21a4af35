"""Personas and data of the campaign page and API tests (a module: test modules import its fixtures).

Alice is a marketer of ``shop.test`` (which signs with DKIM), Bob an end user of
the same domain, Mallory a marketer of another workspace, ``evil.test``. The
workspace has a marketing template and a segment of three contacts, one of them
suppressed, so a campaign of alice's is ready to schedule once it names them.
"""

import factory
import pytest
from django.utils import timezone

from accounts.models import Domain
from accounts.services import ensure_dkim_key
from campaigns.models import Campaign, Segment
from campaigns.services.contacts import create_contact
from campaigns.services.templates import create_template
from delivery.models import Suppression
from delivery.services import suppress_address
from tests.campaigns.template_fixtures import alice_client, bob_client, client_for, mallory_client  # noqa: F401
from tests.factories import UserFactory

NEWSLETTER_HTML = """<h1>Hello {{ name }}</h1>
<p>Our December news.</p>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>"""


@pytest.fixture
def alice(db):
    user = UserFactory(address="alice@shop.test", display_name="Alice Liddell", marketer=True)
    ensure_dkim_key(domain_name="shop.test")
    return user


@pytest.fixture
def bob(alice):
    return UserFactory(address="bob@shop.test", display_name="Bob Builder")


@pytest.fixture
def mallory(db):
    return UserFactory(address="mallory@evil.test", display_name="Mallory", marketer=True)


@pytest.fixture
def workspace(alice):
    return Domain.objects.get(name="shop.test")


@pytest.fixture
def newsletter(alice):
    return create_template(
        user=alice, key="newsletter", name="Newsletter", stream="marketing", subject="News for {{ name }}",
        html=NEWSLETTER_HTML,
        variables=[{"name": "name", "type": "string", "required": False, "default": "friend", "example": "Ada"},
                   {"name": "unsubscribe_url", "type": "string", "required": False, "default": ""}],
    )  # fmt: skip


@pytest.fixture
def receipt(alice):
    """A transactional template: no campaign sends it."""
    return create_template(
        user=alice,
        key="receipt",
        name="Receipt",
        stream="transactional",
        subject="Receipt",
        html="<p>Thanks</p>",
        variables=[],
    )


@pytest.fixture
def customers(workspace):
    """Every contact of the workspace (an empty definition): three people, one of them suppressed."""
    for address, name in [("ann@remote.example", "Ann"), ("ben@remote.example", "Ben"), ("cy@remote.example", "Cy")]:
        create_contact(workspace=workspace, address=address, name=name, consent_source="test")
    suppress_address(
        address="cy@remote.example", reason=Suppression.Reason.MANUAL, scope=Suppression.Scope.STREAM,
        domain=workspace, stream="bulk",
    )  # fmt: skip
    return SegmentFactory(domain=workspace, name="Customers")


@pytest.fixture
def mallory_segment(mallory):
    return SegmentFactory(domain=Domain.objects.get(name="evil.test"), name="Mallory's")


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    name = factory.Sequence(lambda n: f"Segment {n}")
    definition = factory.LazyFunction(dict)


class CampaignFactory(factory.django.DjangoModelFactory):
    """A campaign in any status (a sending one as the pacer leaves it once it started)."""

    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    status = Campaign.Status.DRAFT
    from_address = "alice@shop.test"
    started_at = factory.LazyAttribute(
        lambda c: timezone.now() if c.status in ("sending", "paused", "sent", "cancelled") else None
    )


@pytest.fixture
def ready_draft(alice, workspace, newsletter, customers):
    """Alice's draft that passes the check before scheduling."""
    return CampaignFactory(
        domain=workspace, created_by=alice, name="December news", template=newsletter, segment=customers
    )
