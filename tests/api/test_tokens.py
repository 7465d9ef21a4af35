import hashlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import create_api_token, revoke_api_token
from core import ratelimit
from tests.api.conftest import assert_error
from webmail.errors import NotFound


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_token_is_shown_once_and_stored_only_as_its_sha256(alice):
    record, token = create_api_token(user=alice, name="billing")
    assert token.startswith("wm_") and len(token) > 40
    stored = ApiToken.objects.get(pk=record.pk)
    assert stored.key_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {stored.key_hash, stored.prefix, stored.name}
    assert stored.prefix == token[:10]


def test_a_token_authenticates_as_its_user_and_records_its_use(alice):
    record, token = create_api_token(user=alice)
    response = bearer(token).get("/api/labels")
    assert response.status_code == 200
    record.refresh_from_db()
    assert record.last_used_at is not None


def test_a_revoked_token_is_401(alice):
    record, token = create_api_token(user=alice)
    revoke_api_token(user=alice, token_id=record.pk)
    assert_error(bearer(token).get("/api/labels"), 401, "authentication_failed")


def test_a_token_of_a_deactivated_user_is_401(alice):
    _, token = create_api_token(user=alice)
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    assert_error(bearer(token).get("/api/labels"), 401)


@pytest.mark.parametrize("header", ["Bearer wm_nope", "Bearer", "Bearer a b", "Bearer \u00e9t\u00e9"])
def test_a_wrong_or_malformed_token_is_401(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_error(client.get("/api/labels"), 401)


def test_repeated_wrong_tokens_from_one_client_are_429(alice, settings):
    settings.API_TOKEN_MAX_FAILURES = 3
    for n in range(3):
        assert_error(bearer(f"wm_guess{n}").get("/api/labels"), 401, "authentication_failed")
    response = bearer("wm_guess3").get("/api/labels")
    error = assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0 and "seconds" in error["message"]
    assert_error(bearer("wm_guess4").get("/api/labels", REMOTE_ADDR="203.0.113.8"), 401)  # another client


def test_wrong_tokens_from_the_same_client_do_not_lock_a_valid_token_out(alice, settings):
    settings.API_TOKEN_MAX_FAILURES = 2
    for n in range(3):
        bearer(f"wm_guess{n}").get("/api/labels")
    _, token = create_api_token(user=alice)
    assert bearer(token).get("/api/labels").status_code == 200


def test_the_wrong_token_limit_ends_with_its_window(db, settings, monkeypatch):
    settings.API_TOKEN_MAX_FAILURES, settings.API_TOKEN_FAILURE_WINDOW = 1, 600
    monkeypatch.setattr(ratelimit, "clock", lambda: 6000.0)
    bearer("wm_guess").get("/api/labels")
    assert_error(bearer("wm_guess").get("/api/labels"), 429)
    monkeypatch.setattr(ratelimit, "clock", lambda: 6600.0)
    assert_error(bearer("wm_guess").get("/api/labels"), 401)


def test_no_credentials_is_401_with_www_authenticate(db):
    response = APIClient().get("/api/mailbox/inbox")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_someone_elses_token_cannot_be_revoked(alice, mallory):
    record, token = create_api_token(user=alice)
    with pytest.raises(NotFound):
        revoke_api_token(user=mallory, token_id=record.pk)
    assert bearer(token).get("/api/labels").status_code == 200


def test_the_session_of_the_webmail_authenticates_too(client, alice):
    client.force_login(alice)
    assert client.get("/api/labels").status_code == 200


def test_createapitoken_prints_a_working_token(alice):
    out = StringIO()
    call_command("createapitoken", "Alice@Example.test", "--name", "cli", stdout=out, stderr=StringIO())
    token = out.getvalue().strip()
    assert bearer(token).get("/api/labels").status_code == 200
    assert ApiToken.objects.get(user=alice).name == "cli"


def test_createapitoken_refuses_an_unknown_address(db):
    with pytest.raises(CommandError):
        call_command("createapitoken", "nobody@example.test", stdout=StringIO(), stderr=StringIO())


def test_admin_makes_a_token_shows_it_once_and_revokes(client, alice, django_user_model):
    admin = django_user_model.objects.create_superuser("root@example.test", "root@example.test", "pw")
    client.force_login(admin)
    response = client.post("/admin/accounts/apitoken/add/", {"user": alice.pk, "name": "from admin"}, follow=True)
    assert response.status_code == 200
    record = ApiToken.objects.get(user=alice)
    shown = [str(m) for m in response.context["messages"]]
    token = next(word for m in shown for word in m.split() if word.startswith("wm_"))
    assert bearer(token).get("/api/labels").status_code == 200
    client.post("/admin/accounts/apitoken/", {"action": "revoke_tokens", "_selected_action": [record.pk]}, follow=True)
    assert_error(bearer(token).get("/api/labels"), 401)
