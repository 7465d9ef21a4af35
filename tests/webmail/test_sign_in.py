import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()
    yield
    cache.clear()


def test_pages_need_a_signed_in_user(client):
    response = client.get(reverse("mailboxes:inbox"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_sign_in_with_the_right_password_opens_the_inbox(client, alice):
    response = client.post(reverse("accounts:login"), {"username": "alice@example.test", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("mailboxes:inbox")
    assert client.get(reverse("mailboxes:inbox")).status_code == 200


def test_a_wrong_password_is_a_form_error(client, alice):
    response = client.post(reverse("accounts:login"), {"username": "alice@example.test", "password": "nope"})
    assert response.status_code == 200
    assert b"do not match" in response.content


def test_repeated_failures_are_throttled_even_with_the_right_password(client, alice, settings):
    settings.SIGNIN_MAX_FAILURES = 3
    for _ in range(3):
        client.post(reverse("accounts:login"), {"username": "alice@example.test", "password": "guess"})
    response = client.post(reverse("accounts:login"), {"username": "alice@example.test", "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.content
    assert "_auth_user_id" not in client.session


def test_a_forwarded_for_header_does_not_reset_the_sign_in_limit(client, alice, settings):
    settings.SIGNIN_MAX_FAILURES = 2
    for n in range(2):
        client.post(
            reverse("accounts:login"),
            {"username": f"nobody{n}@example.test", "password": "guess"},
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
        )
    response = client.post(
        reverse("accounts:login"),
        {"username": "alice@example.test", "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="192.0.2.99",
    )
    assert response.status_code == 429


def test_sign_in_refuses_a_post_without_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("accounts:login"), {"username": "alice@example.test", "password": PASSWORD})
    assert response.status_code == 403


def test_sign_in_does_not_redirect_to_another_site(client, alice):
    response = client.post(
        reverse("accounts:login") + "?next=https://evil.example/",
        {"username": "alice@example.test", "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response.status_code == 302
    assert "evil.example" not in response["Location"]


def test_sign_out_is_a_post_and_ends_the_session(alice_client):
    assert alice_client.get(reverse("accounts:logout")).status_code == 405
    response = alice_client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert alice_client.get(reverse("mailboxes:inbox")).status_code == 302
