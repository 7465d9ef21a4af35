"""Personas and a template for the template-authoring tests (imported by those modules).

alice is a marketer of shop.test, bob an end user of the same domain, mallory a
marketer of another workspace (evil.test): her ids and alice's never mix.
"""

import pytest
from django.test import Client

from campaigns.services.templates import create_template
from tests.factories import UserFactory

RECEIPT_HTML = """<style>.total { color: #0a7; font-weight: bold; }</style>
<h1>Thank you, {{ name }}!</h1>
<p>Order {{ order_id }}: <span class="total">{{ amount }}</span></p>
{% for item in items %}<li>{{ item }}</li>{% endfor %}
"""
RECEIPT_VARIABLES = [
    {"name": "name", "type": "string", "required": True, "example": "Ada"},
    {"name": "order_id", "type": "string", "required": True, "example": "A-1001"},
    {"name": "amount", "type": "number", "required": False, "default": 0, "example": 99.5},
    {"name": "items", "type": "list", "required": False, "default": [], "example": ["Tea", "Cups"]},
]


@pytest.fixture
def alice(db):
    """A marketer of shop.test: owns the templates under test."""
    return UserFactory(address="alice@shop.test", display_name="Alice Liddell", marketer=True)


@pytest.fixture
def bob(db):
    """An end user of the same domain: no marketing area for him."""
    return UserFactory(address="bob@shop.test", display_name="Bob Builder")


@pytest.fixture
def mallory(db):
    """A marketer of another workspace: tries alice's ids everywhere."""
    return UserFactory(address="mallory@evil.test", display_name="Mallory", marketer=True)


@pytest.fixture
def receipt(alice):
    return create_template(
        user=alice, key="order_receipt", name="Order receipt", stream="transactional",
        subject="Your order {{ order_id }}", html=RECEIPT_HTML, variables=RECEIPT_VARIABLES,
    )  # fmt: skip


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alice_client(alice):
    return client_for(alice)


@pytest.fixture
def bob_client(bob):
    return client_for(bob)


@pytest.fixture
def mallory_client(mallory):
    return client_for(mallory)
