"""The API against its own OpenAPI schema, with generated requests (schemathesis, through WSGI).

Bounded so it runs in the normal test suite: a few dozen examples per
operation. It checks that nothing answers 5xx, and that every answer has a
documented status, content type, headers and body shape.
"""

import importlib.util
import json

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mailboxes.services import create_label, save_draft
from mailboxes.services.uploads import create_upload
from tests.api.conftest import client_for
from tests.factories import deliver, raw_email, send_and_deliver
from webmail.wsgi import application

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _load_schema():
    """The schema as /api/schema serves it, generated in-process (no request needed at import time)."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    document = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
    loaded = schemathesis.openapi.from_dict(document)
    loaded.app = application  # requests go through WSGI, inside this process and its test transaction
    if importlib.util.find_spec("mailboxes.search") is None:
        # Search is built separately; until it exists the endpoint honestly answers 503.
        loaded = loaded.exclude(operation_id="emails_search")
    return loaded


schema = _load_schema()


@pytest.fixture
def _connection_kept_open():
    """The real WSGI handler closes the database connection after each request (Django's test
    client stops it doing so): that would end the test's transaction, on PostgreSQL."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def mailbox(db, settings, alice, bob, _connection_kept_open):
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    # Generous rates: the run is about schema conformance; throttling has its own test.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "100000/min", "token": "100000/min", "anon": "100000/min"},
    }
    # Something to find for small ids: mail in several folders, a label, a draft, an upload.
    label = create_label(user=alice, name="Work")
    for n in range(3):
        deliver(raw_email(to="alice@example.test", subject=f"Note {n}"), alice)
    send_and_deliver(user=bob, to=["alice@example.test"], subject="From Bob", text="Hi", html="<p>Hi <b>Alice</b></p>")
    sent = send_and_deliver(user=alice, to=["bob@example.test"], subject="To Bob", text="Hello")
    save_draft(user=alice, to=["bob@example.test"], subject="Draft", text="…")
    create_upload(user=alice, filename="notes.txt", content=b"notes")
    assert label.pk and sent.pk


@pytest.fixture
def token(alice):
    return client_for(alice).token


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI is reproducible
    database=None,  # and nothing written to .hypothesis/
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_schema(case, mailbox, token):
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
