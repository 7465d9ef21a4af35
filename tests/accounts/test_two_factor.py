"""Two-step sign-in: setup, the second step, replay, recovery codes, throttling, the admin and the API."""

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts import two_factor
from accounts.models import RecoveryCode, TwoFactorDevice
from accounts.services import create_api_token
from core import ratelimit
from tests.accounts.security_support import PASSWORD, code_at
from tests.factories import UserFactory
from webmail.errors import UserError

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, 15, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()
    yield
    cache.clear()


def enable(user, now=T0) -> tuple[str, list[str]]:
    secret = two_factor.start_setup(user=user, now=now)
    codes = two_factor.confirm_setup(user=user, code=code_at(secret, now), now=now)
    return secret, codes


def sign_in(client, address="alice@example.test", password=PASSWORD, **extra):
    return client.post(reverse("accounts:login"), {"username": address, "password": password, **extra})


def test_the_secret_is_stored_encrypted_and_setup_needs_a_good_code(alice):
    secret = two_factor.start_setup(user=alice, now=T0)
    stored = TwoFactorDevice.objects.get(user=alice).secret
    assert secret not in stored
    assert not two_factor.is_enabled(alice)
    with pytest.raises(UserError):
        two_factor.confirm_setup(user=alice, code="000000" if code_at(secret, T0) != "000000" else "111111", now=T0)
    codes = two_factor.confirm_setup(user=alice, code=code_at(secret, T0), now=T0)
    assert two_factor.is_enabled(alice)
    assert len(codes) == 10 and len(set(codes)) == 10
    hashes = set(RecoveryCode.objects.filter(user=alice).values_list("code_hash", flat=True))
    assert not any(code in hashes or code.replace("-", "") in hashes for code in codes)


def test_a_code_is_accepted_once_in_its_window(alice):
    secret, _codes = enable(alice)
    later = T0 + timedelta(minutes=5)
    code = code_at(secret, later)
    assert two_factor.verify_second_step(user=alice, code=code, now=later)
    assert not two_factor.verify_second_step(user=alice, code=code, now=later)  # replayed
    assert not two_factor.verify_second_step(user=alice, code=code, now=later + timedelta(seconds=20))


def test_a_code_one_step_old_is_accepted_but_not_two(alice):
    secret, _codes = enable(alice)
    now = T0 + timedelta(hours=1)
    assert not two_factor.verify_second_step(user=alice, code=code_at(secret, now - timedelta(seconds=60)), now=now)
    assert two_factor.verify_second_step(user=alice, code=code_at(secret, now - timedelta(seconds=30)), now=now)


def test_an_older_code_is_refused_after_a_newer_one(alice):
    secret, _codes = enable(alice)
    now = T0 + timedelta(hours=1)
    assert two_factor.verify_second_step(user=alice, code=code_at(secret, now), now=now)
    assert not two_factor.verify_second_step(user=alice, code=code_at(secret, now - timedelta(seconds=30)), now=now)


def test_a_recovery_code_works_once(alice):
    _secret, codes = enable(alice)
    assert two_factor.verify_second_step(user=alice, code=codes[3].upper(), now=T0)
    assert not two_factor.verify_second_step(user=alice, code=codes[3], now=T0)
    assert two_factor.remaining_recovery_codes(alice) == 9


def test_new_recovery_codes_replace_the_old_ones(alice):
    _secret, codes = enable(alice)
    with pytest.raises(UserError):
        two_factor.regenerate_recovery_codes(user=alice, password="wrong")
    fresh = two_factor.regenerate_recovery_codes(user=alice, password=PASSWORD, now=T0)
    assert not two_factor.verify_second_step(user=alice, code=codes[0], now=T0)
    assert two_factor.verify_second_step(user=alice, code=fresh[0], now=T0)


def test_turning_it_off_needs_the_password_and_a_code(alice):
    secret, _codes = enable(alice)
    now = T0 + timedelta(minutes=2)
    with pytest.raises(UserError):
        two_factor.disable(user=alice, password="wrong", code=code_at(secret, now), now=now)
    with pytest.raises(UserError):
        two_factor.disable(user=alice, password=PASSWORD, code="123", now=now)
    two_factor.disable(user=alice, password=PASSWORD, code=code_at(secret, now), now=now)
    assert not two_factor.is_enabled(alice)
    assert not RecoveryCode.objects.filter(user=alice).exists()


def test_the_password_alone_does_not_sign_in(client, alice):
    enable(alice)
    response = sign_in(client)
    assert response.status_code == 302 and response["Location"] == reverse("accounts:sign_in_code")
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("mailboxes:inbox")).status_code == 302
    page = client.get(reverse("accounts:sign_in_code"))
    assert b"authenticator app" in page.content


def test_the_code_completes_the_sign_in_and_keeps_next(client, alice):
    secret, _codes = enable(alice)
    sign_in(client, next="/settings/security/")
    response = client.post(reverse("accounts:sign_in_code"), {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302 and response["Location"] == "/settings/security/"
    assert client.get(reverse("mailboxes:inbox")).status_code == 200


def test_a_recovery_code_signs_in(client, alice):
    _secret, codes = enable(alice)
    sign_in(client)
    assert client.post(reverse("accounts:sign_in_code"), {"code": codes[0]}).status_code == 302
    assert client.get(reverse("mailboxes:inbox")).status_code == 200
    other = Client()
    sign_in(other)
    assert other.post(reverse("accounts:sign_in_code"), {"code": codes[0]}).status_code == 400


def test_the_code_page_without_a_password_step_goes_back_to_sign_in(client, alice):
    enable(alice)
    response = client.post(reverse("accounts:sign_in_code"), {"code": "123456"})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:login")


def test_the_first_step_expires(client, alice, settings, monkeypatch):
    secret, _codes = enable(alice)
    settings.TWO_FACTOR_PENDING_SECONDS = 300
    monkeypatch.setattr(ratelimit, "clock", lambda: 10_000.0)
    sign_in(client)
    monkeypatch.setattr(ratelimit, "clock", lambda: 10_301.0)
    response = client.post(reverse("accounts:sign_in_code"), {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:login")
    assert "_auth_user_id" not in client.session


def test_wrong_codes_are_throttled_like_passwords(client, alice, settings):
    settings.SIGNIN_MAX_FAILURES = 3
    secret, _codes = enable(alice)
    sign_in(client)
    for _ in range(3):
        assert client.post(reverse("accounts:sign_in_code"), {"code": "abc"}).status_code == 400
    response = client.post(reverse("accounts:sign_in_code"), {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 429
    assert b"Too many wrong codes" in response.content
    assert "_auth_user_id" not in client.session


def test_the_admin_form_refuses_a_password_alone_for_two_step_accounts(client, db):
    root = UserFactory(address="root@example.test", admin=True)
    secret, _codes = enable(root)
    response = client.post(
        reverse("admin:login"), {"username": "root@example.test", "password": PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == 200
    assert b"two-step sign-in" in response.content
    assert "_auth_user_id" not in client.session
    sign_in(client, address="root@example.test", next="/admin/")
    response = client.post(reverse("accounts:sign_in_code"), {"code": pyotp.TOTP(secret).now()})
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_the_admin_form_still_signs_in_staff_without_two_step(client, db):
    UserFactory(address="root@example.test", admin=True)
    response = client.post(
        reverse("admin:login"), {"username": "root@example.test", "password": PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_api_tokens_need_no_code(alice):
    enable(alice)
    _record, token = create_api_token(user=alice)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/labels").status_code == 200


def test_the_setup_page_shows_the_key_once_and_the_codes_once(client, alice):
    client.force_login(alice)
    page = client.get(reverse("accounts:two_factor_setup"))
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    secret = page.context["secret"]
    assert b"<svg" in page.content and secret.encode() in page.content
    wrong = client.post(reverse("accounts:two_factor_setup"), {"code": "99999x"})
    assert wrong.status_code == 400 and secret.encode() in wrong.content
    done = client.post(reverse("accounts:two_factor_setup"), {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200 and len(done.context["new_recovery_codes"]) == 10
    settings_page = client.get(reverse("accounts:settings_security"))
    assert secret.encode() not in settings_page.content
    assert b'data-two-factor-state="on"' in settings_page.content
    assert client.get(reverse("accounts:two_factor_setup")).status_code == 302  # no new key while it is on
