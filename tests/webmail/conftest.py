import pytest
from django.test import Client

from tests.factories import deliver, raw_email


@pytest.fixture(autouse=True)
def _plain_static(settings):
    """No manifest: templates resolve static URLs without collectstatic."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def mallory_client(mallory):
    client = Client()
    client.force_login(mallory)
    return client


@pytest.fixture
def csrf_client(alice):
    """A signed-in browser that sends no CSRF token: every POST must be refused."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    return client


@pytest.fixture
def inbox_item(alice):
    """A message from bob in alice's inbox."""
    raw = raw_email(
        subject="Quarterly numbers",
        sender="Bob Builder <bob@remote.example>",
        to="alice@example.test",
        body="Here are the numbers.\nSee https://example.org/report",
    )
    return deliver(raw, alice)[0]


def html_email(html: str, *, subject="HTML mail", to="alice@example.test", extra_parts: str = "") -> bytes:
    boundary = "BOUNDARY42"
    lines = [
        "From: Sender <sender@remote.example>",
        f"To: {to}",
        f"Subject: {subject}",
        "Date: Mon, 01 Jun 2026 10:00:00 +0000",
        "Message-ID: <html-1@remote.example>",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "Plain version.",
        f"--{boundary}",
        "Content-Type: text/html; charset=utf-8",
        "",
        html,
        extra_parts,
        f"--{boundary}--",
        "",
    ]
    return "\r\n".join(lines).encode()
