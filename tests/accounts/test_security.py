"""Password changes, the sessions list, the recovery address, a forgotten password and the lockout help."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import security
from accounts.models import RecoveryAddress, UserSession
from core import ratelimit
from tests.accounts.security_support import NEW_PASSWORD, PASSWORD, link_in, mail_to
from webmail.errors import UserError

pytestmark = pytest.mark.django_db

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Version/18.0 Mobile Safari/604.1"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()
    yield
    cache.clear()


def signed_in(address="alice@example.test", *, ua=FIREFOX, ip="203.0.113.5", password=PASSWORD) -> Client:
    client = Client(HTTP_USER_AGENT=ua, REMOTE_ADDR=ip)
    response = client.post(reverse("accounts:login"), {"username": address, "password": password})
    assert response.status_code == 302, response
    return client


def is_signed_in(client) -> bool:
    return client.get(reverse("mailboxes:inbox")).status_code == 200


# --- password -------------------------------------------------------------------------------------


def change(client, old=PASSWORD, new=NEW_PASSWORD, again=None):
    data = {"old_password": old, "new_password1": new, "new_password2": new if again is None else again}
    return client.post(reverse("accounts:change_password"), data)


def test_changing_the_password_keeps_this_session_and_ends_the_others(alice):
    laptop, phone = signed_in(), signed_in(ua=PHONE, ip="198.51.100.7")
    response = change(laptop)
    assert response.status_code == 302
    assert is_signed_in(laptop) and not is_signed_in(phone)
    assert UserSession.objects.filter(user=alice).count() == 1
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)


@pytest.mark.parametrize(
    ("old", "new", "again", "field", "message"),
    [
        ("wrong", NEW_PASSWORD, None, "old_password", b"not your current password"),
        (PASSWORD, "short", None, "new_password1", b"too short"),
        (PASSWORD, "password123", None, "new_password1", b"too common"),
        (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", "new_password2", b"not the same"),
    ],
)
def test_a_refused_password_change_says_why(alice, old, new, again, field, message):
    client = signed_in()
    response = change(client, old, new, again)
    assert response.status_code == 400
    assert message in response.content
    assert field in response.context["errors"]
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


# --- sessions -------------------------------------------------------------------------------------


def test_the_sessions_list_shows_each_browser_and_network(alice):
    laptop = signed_in()
    signed_in(ua=PHONE, ip="2001:db8:1234:5678::9")
    page = laptop.get(reverse("accounts:settings_security"))
    assert b"Firefox on Linux" in page.content and b"Safari on iPhone" in page.content
    assert b"203.0.113.0/24" in page.content and b"2001:db8:1234::/48" in page.content
    assert b"203.0.113.5" not in page.content
    assert page.content.count(b"data-this-session") == 1


def test_signing_out_one_session_signs_that_browser_out(alice):
    laptop, phone = signed_in(), signed_in(ua=PHONE)
    other = UserSession.objects.get(user=alice, user_agent=PHONE)
    assert laptop.post(reverse("accounts:end_session", args=[other.pk])).status_code == 302
    assert not is_signed_in(phone) and is_signed_in(laptop)
    assert not UserSession.objects.filter(pk=other.pk).exists()


def test_another_users_session_is_404_and_stays(alice, mallory):
    signed_in()
    intruder = signed_in("mallory@example.test")
    session = UserSession.objects.get(user=alice)
    assert intruder.post(reverse("accounts:end_session", args=[session.pk])).status_code == 404
    assert intruder.post(reverse("accounts:end_session", args=[999_999])).status_code == 404
    assert UserSession.objects.filter(pk=session.pk).exists()


def test_sign_out_everywhere_else(alice, bob):
    laptop, phone, tablet = signed_in(), signed_in(ua=PHONE), signed_in()
    bobs = signed_in("bob@example.test")
    assert laptop.post(reverse("accounts:end_other_sessions")).status_code == 302
    assert is_signed_in(laptop) and not is_signed_in(phone) and not is_signed_in(tablet)
    assert is_signed_in(bobs)


def test_signing_out_forgets_the_session(alice):
    laptop = signed_in()
    laptop.post(reverse("accounts:logout"))
    assert not UserSession.objects.filter(user=alice).exists()


def test_last_seen_is_written_at_most_every_few_minutes(alice, settings, rf):
    settings.SESSION_TOUCH_SECONDS = 300
    client = signed_in()
    row = UserSession.objects.get(user=alice)
    request = rf.get("/")
    request.user = alice
    request.session = client.session
    request.session.pop("_session_seen")  # as if signed in long ago
    security.touch_session(request, now=T0)
    security.touch_session(request, now=T0 + timedelta(seconds=299))
    assert UserSession.objects.get(pk=row.pk).last_seen_at == T0
    security.touch_session(request, now=T0 + timedelta(seconds=300))
    assert UserSession.objects.get(pk=row.pk).last_seen_at == T0 + timedelta(seconds=300)


def test_every_login_joins_the_list(alice):
    client = Client()
    client.force_login(alice)  # login() without the webmail's form, as the admin's does
    assert UserSession.objects.filter(user=alice, session_key=client.session.session_key).exists()


def test_a_session_older_than_the_list_joins_it_at_its_next_request(alice):
    client = Client()
    client.force_login(alice)
    UserSession.objects.filter(user=alice).delete()
    session = client.session
    session.pop("_session_seen")
    session.save()
    assert is_signed_in(client)
    assert UserSession.objects.filter(user=alice, session_key=client.session.session_key).exists()


# --- recovery address -----------------------------------------------------------------------------


def test_a_recovery_address_is_verified_by_its_link(alice):
    client = signed_in()
    response = client.post(reverse("accounts:set_recovery_address"), {"address": "alice.home@elsewhere.example"})
    assert response.status_code == 302
    assert RecoveryAddress.objects.get(user=alice).verified_at is None
    (raw,) = mail_to("alice.home@elsewhere.example")
    path = link_in(raw, "/recovery/verify/")
    stranger = Client()  # opened in the mail app's browser, not signed in
    assert b"Confirm this address" in stranger.get(path).content
    assert RecoveryAddress.objects.get(user=alice).verified_at is None  # a GET (a link scanner) changes nothing
    assert stranger.post(path).status_code == 200
    assert RecoveryAddress.objects.get(user=alice).verified_at is not None


def test_the_verification_link_expires(alice, settings):
    settings.RECOVERY_ADDRESS_LINK_SECONDS = 3600
    security.set_recovery_address(user=alice, address="alice.home@elsewhere.example", now=T0)
    token = link_in(mail_to("alice.home@elsewhere.example")[0], "/recovery/verify/").split("/")[-2]
    with pytest.raises(security.InvalidLink):
        security.verify_recovery_address(token=token, now=T0 + timedelta(seconds=3601))
    assert security.verify_recovery_address(token=token, now=T0 + timedelta(seconds=3599)).verified_at


def test_a_tampered_or_superseded_link_is_refused(alice):
    security.set_recovery_address(user=alice, address="first@elsewhere.example", now=T0)
    token = link_in(mail_to("first@elsewhere.example")[0], "/recovery/verify/").split("/")[-2]
    with pytest.raises(security.InvalidLink):
        security.read_recovery_token(token[:-3] + "abc", now=T0)
    security.set_recovery_address(user=alice, address="second@elsewhere.example", now=T0)
    with pytest.raises(security.InvalidLink):
        security.verify_recovery_address(token=token, now=T0)


@pytest.mark.parametrize("address", ["alice@example.test", "ALICE@example.test", "not an address"])
def test_the_recovery_address_must_be_elsewhere(alice, address):
    with pytest.raises(UserError):
        security.set_recovery_address(user=alice, address=address)
    assert mail_to(address) == []


# --- forgotten password ---------------------------------------------------------------------------


@pytest.fixture
def recoverable(alice):
    security.set_recovery_address(user=alice, address="alice.home@elsewhere.example", now=T0)
    RecoveryAddress.objects.filter(user=alice).update(verified_at=T0)
    return alice


def forgot(client, address):
    return client.post(reverse("accounts:forgot_password"), {"address": address})


def test_forgot_password_answers_alike_whether_or_not_the_account_exists(recoverable, bob):
    answers = [
        re.sub(rb'"X-CSRFToken": "[^"]+"', b"", forgot(Client(REMOTE_ADDR=f"192.0.2.{n}"), a).content).replace(
            a.encode(), b"ADDR"
        )
        for n, a in enumerate(["alice@example.test", "bob@example.test", "nobody@example.test"])
    ]
    assert answers[0] == answers[1] == answers[2]
    assert len(mail_to("alice.home@elsewhere.example")) == 2  # the verification and the reset link


def test_the_reset_link_sets_a_new_password_and_signs_everything_out(recoverable):
    laptop = signed_in()
    assert forgot(Client(), "Alice@Example.test").status_code == 200
    path = link_in(mail_to("alice.home@elsewhere.example")[-1], "/signin/reset/")
    browser = Client()
    assert browser.get(path).status_code == 200
    response = browser.post(path, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:login")
    assert not is_signed_in(laptop) and not is_signed_in(browser)
    assert not UserSession.objects.filter(user=recoverable).exists()
    assert browser.post(path, {"new_password1": "another long one 77", "new_password2": "another long one 77"}
                        ).status_code == 400  # fmt: skip
    signed_in(password=NEW_PASSWORD)


def test_an_unverified_recovery_address_gets_no_reset_link(alice):
    security.set_recovery_address(user=alice, address="alice.home@elsewhere.example", now=T0)
    forgot(Client(), "alice@example.test")
    assert len(mail_to("alice.home@elsewhere.example")) == 1  # only the verification


def test_the_reset_link_expires(recoverable, settings):
    settings.PASSWORD_RESET_TIMEOUT = 3600
    security.request_password_reset(address="alice@example.test", client="192.0.2.1", now=T0)
    uid, token = link_in(mail_to("alice.home@elsewhere.example")[-1], "/signin/reset/").split("/")[-3:-1]
    assert security.user_for_reset(uidb64=uid, token=token, now=T0 + timedelta(seconds=3599)) == recoverable
    with pytest.raises(security.InvalidLink):
        security.user_for_reset(uidb64=uid, token=token, now=T0 + timedelta(seconds=3601))


def test_a_bad_reset_link_shows_an_error(client, recoverable):
    assert client.get(reverse("accounts:reset_password", args=["MQ", "nope-nope"])).status_code == 400
    assert client.get(reverse("accounts:reset_password", args=["!!", "nope-nope"])).status_code == 400


def test_forgot_password_is_throttled_per_address_and_per_client(recoverable, settings):
    settings.PASSWORD_RESET_MAX_PER_ADDRESS = 2
    settings.PASSWORD_RESET_MAX_PER_CLIENT = 3
    for n in range(2):
        assert forgot(Client(REMOTE_ADDR=f"192.0.2.{n}"), "alice@example.test").status_code == 200
    response = forgot(Client(REMOTE_ADDR="192.0.2.9"), "alice@example.test")
    assert response.status_code == 429 and b"Try again in" in response.content
    assert len(mail_to("alice.home@elsewhere.example")) == 1 + 2
    one = Client(REMOTE_ADDR="198.51.100.1")
    for n in range(3):
        assert forgot(one, f"nobody{n}@example.test").status_code == 200
    assert forgot(one, "bob@example.test").status_code == 429


def test_the_throttle_ends_with_its_window(recoverable, settings, monkeypatch):
    settings.PASSWORD_RESET_MAX_PER_ADDRESS = 1
    settings.PASSWORD_RESET_THROTTLE_WINDOW = 3600
    monkeypatch.setattr(ratelimit, "clock", lambda: 36_000.0)
    assert forgot(Client(), "alice@example.test").status_code == 200
    assert forgot(Client(), "alice@example.test").status_code == 429
    monkeypatch.setattr(ratelimit, "clock", lambda: 39_600.0)
    assert forgot(Client(), "alice@example.test").status_code == 200


# --- locked out -----------------------------------------------------------------------------------


def test_the_sign_in_page_says_what_to_do_when_locked_out(client, alice, settings, monkeypatch):
    settings.ADMIN_CONTACT = "postmaster@example.test"
    settings.SIGNIN_MAX_FAILURES = 2
    settings.SIGNIN_THROTTLE_WINDOW = 900
    page = client.get(reverse("accounts:login"))
    assert reverse("accounts:forgot_password").encode() in page.content
    assert b"postmaster@example.test" in page.content
    monkeypatch.setattr(ratelimit, "clock", lambda: 9000.0 + 300)  # 10 minutes left in the window
    for _ in range(2):
        client.post(reverse("accounts:login"), {"username": "alice@example.test", "password": "guess"})
    response = client.post(reverse("accounts:login"), {"username": "alice@example.test", "password": PASSWORD})
    assert response.status_code == 429
    assert b"Try again in 10 minutes" in response.content
    assert b'href="mailto:postmaster@example.test"' in response.content


def test_without_an_admin_contact_none_is_shown(client, alice, settings):
    settings.ADMIN_CONTACT = ""
    assert b"mailto:" not in client.get(reverse("accounts:login")).content


def test_a_sign_in_clears_the_rows_of_sessions_long_expired(alice, settings):
    settings.SESSION_COOKIE_AGE = 3600
    signed_in()
    UserSession.objects.filter(user=alice).update(last_seen_at=timezone.now() - timedelta(hours=2))
    signed_in()
    assert UserSession.objects.filter(user=alice).count() == 1
