import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from accounts.signin import KNOWN_DEVICE_COOKIE
from core import ratelimit

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
    settings.SIGNIN_CLIENT_MAX_FAILURES = 2
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


def sign_in(client, password, *, address="alice@example.test", ip="203.0.113.5"):
    return client.post(reverse("accounts:login"), {"username": address, "password": password}, REMOTE_ADDR=ip)


def guess(times, *, ip="198.51.100.66", address="alice@example.test"):
    """Mallory's wrong passwords, from a browser of her own."""
    mallory = Client()
    for _ in range(times):
        assert sign_in(mallory, "guess", address=address, ip=ip).status_code in (200, 429)


@pytest.fixture
def known_device(alice):
    """Alice's own browser, remembered from an earlier sign-in."""
    browser = Client()
    assert sign_in(browser, PASSWORD).status_code == 302
    assert browser.cookies[KNOWN_DEVICE_COOKIE]["httponly"]
    browser.post(reverse("accounts:logout"))
    return browser


def test_eight_wrong_passwords_then_the_right_one_from_the_same_client_is_refused(alice):
    guess(8, ip="203.0.113.5")
    assert sign_in(Client(), PASSWORD, ip="203.0.113.5").status_code == 429


def test_failures_from_another_client_do_not_lock_the_owner_out(alice):
    guess(8)
    response = sign_in(Client(), PASSWORD, ip="203.0.113.5")
    assert response.status_code == 302


def test_failures_counted_by_one_web_process_hold_in_another(alice, monkeypatch):
    """Two processes: two clients of the one database cache (CACHE_URL unset), each counting some failures."""
    from webmail.cache import DEFAULT_TABLE, DatabaseCache

    for process in range(2):
        monkeypatch.setattr(ratelimit, "cache", DatabaseCache(DEFAULT_TABLE, {}))
        guess(4, ip="203.0.113.5")
        assert process == 0 or sign_in(Client(), PASSWORD, ip="203.0.113.5").status_code == 429


def test_a_known_device_signs_in_while_the_address_is_locked_everywhere_else(alice, known_device, settings):
    settings.SIGNIN_ADDRESS_MAX_FAILURES = 12
    for n in range(4):  # a botnet: each client under its own limit, the address over the global one
        guess(3, ip=f"198.51.100.{n}")
    assert sign_in(Client(), PASSWORD, ip="203.0.113.9").status_code == 429
    assert sign_in(known_device, PASSWORD, ip="198.51.100.1").status_code == 302


def test_a_known_device_is_held_to_its_own_failures(alice, known_device):
    for _ in range(5):
        assert sign_in(known_device, "typo").status_code == 200
    assert sign_in(known_device, PASSWORD).status_code == 429
    assert sign_in(Client(), PASSWORD, ip="203.0.113.7").status_code == 302  # another place is not concerned


def test_a_known_device_is_known_only_for_the_addresses_it_signed_in_to(alice, bob, known_device):
    guess(5, address="bob@example.test", ip="203.0.113.5")
    assert sign_in(known_device, PASSWORD, address="bob@example.test", ip="203.0.113.5").status_code == 429


def test_a_tampered_known_device_cookie_is_ignored(alice, known_device):
    guess(5, ip="203.0.113.5")
    value = known_device.cookies[KNOWN_DEVICE_COOKIE].value
    known_device.cookies[KNOWN_DEVICE_COOKIE] = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    assert sign_in(known_device, PASSWORD, ip="203.0.113.5").status_code == 429


def test_the_limit_ends_with_its_window(alice, settings, monkeypatch):
    settings.SIGNIN_THROTTLE_WINDOW = 900
    monkeypatch.setattr(ratelimit, "clock", lambda: 9000.0)
    guess(5, ip="203.0.113.5")
    assert sign_in(Client(), PASSWORD, ip="203.0.113.5").status_code == 429
    monkeypatch.setattr(ratelimit, "clock", lambda: 9900.0)
    assert sign_in(Client(), PASSWORD, ip="203.0.113.5").status_code == 302


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
