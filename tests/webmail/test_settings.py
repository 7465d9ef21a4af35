"""The settings page: the user's API tokens (list, create and see once, revoke)."""

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import create_api_token, revoke_api_token
from webmail.errors import UserError

pytestmark = pytest.mark.django_db


def _create(client, name="laptop script"):
    return client.post(reverse("accounts:create_api_token"), {"name": name})


def _token_in(response) -> str:
    html = response.content.decode()
    return html.split("data-new-token")[0].rsplit('value="', 1)[1].split('"', 1)[0]


def test_the_layout_links_to_settings(alice_client):
    html = alice_client.get(reverse("mailboxes:inbox")).content.decode()
    assert f'href="{reverse("accounts:settings")}"' in html


def test_settings_lists_the_users_tokens_only(alice_client, alice, mallory):
    create_api_token(user=alice, name="backup job")
    old, _ = create_api_token(user=alice, name="old phone")
    revoke_api_token(user=alice, token_id=old.pk)
    create_api_token(user=mallory, name="mallory's secret tool")
    html = alice_client.get(reverse("accounts:api_tokens")).content.decode()
    assert "backup job" in html and "old phone" in html and "Revoked" in html and "Never" in html
    assert "mallory" not in html


def test_a_new_token_is_shown_once_and_works_for_the_api(alice_client, alice):
    response = _create(alice_client)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    token = _token_in(response)
    record = ApiToken.objects.get(user=alice)
    assert record.name == "laptop script" and token.startswith(record.prefix)
    assert "shown only this once" in response.content.decode()

    again = alice_client.get(reverse("accounts:api_tokens")).content.decode()
    assert token not in again and "data-new-token" not in again
    assert record.prefix in again  # recognisable, not recoverable

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/mailbox/inbox").status_code == 200


def test_a_too_long_name_is_a_form_error_and_makes_nothing(alice_client, alice):
    response = _create(alice_client, name="x" * 101)
    assert response.status_code == 400
    assert "at most 100 characters" in response.content.decode()
    assert not ApiToken.objects.filter(user=alice).exists()


@pytest.mark.parametrize("name", ["null\x00byte", "bell\x07"])
def test_control_characters_in_the_name_are_a_form_error(alice_client, alice, name):
    response = _create(alice_client, name=name)
    assert response.status_code == 400
    assert "control characters" in response.content.decode()
    assert not ApiToken.objects.filter(user=alice).exists()


def test_the_service_refuses_a_lone_surrogate_too(alice):
    with pytest.raises(UserError):
        create_api_token(user=alice, name="lone \ud800 surrogate")  # from a command line, say


def test_revoke_stops_the_token_at_once(alice_client, alice):
    record, token = create_api_token(user=alice, name="ci")
    response = alice_client.post(reverse("accounts:revoke_api_token", args=[record.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("accounts:api_tokens")
    record.refresh_from_db()
    assert record.revoked_at is not None
    assert "revoked" in alice_client.get(reverse("accounts:api_tokens")).content.decode()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/mailbox/inbox").status_code == 401


def test_another_users_token_id_is_404_and_stays_active(mallory_client, alice):
    record, _ = create_api_token(user=alice, name="alice's")
    assert mallory_client.post(reverse("accounts:revoke_api_token", args=[record.pk])).status_code == 404
    assert mallory_client.post(reverse("accounts:revoke_api_token", args=[999999])).status_code == 404
    record.refresh_from_db()
    assert record.revoked_at is None


def test_create_and_revoke_need_csrf(csrf_client, alice):
    record, _ = create_api_token(user=alice)
    assert csrf_client.post(reverse("accounts:create_api_token"), {"name": "x"}).status_code == 403
    assert csrf_client.post(reverse("accounts:revoke_api_token", args=[record.pk])).status_code == 403
    assert ApiToken.objects.filter(user=alice).count() == 1
    record.refresh_from_db()
    assert record.revoked_at is None


def test_settings_need_sign_in(db):
    response = Client().get(reverse("accounts:settings"))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


def test_settings_page_in_chinese(alice_client, alice):
    create_api_token(user=alice, name="备份")
    alice_client.post(reverse("set_language"), {"language": "zh-hans", "next": "/settings/"})
    html = alice_client.get(reverse("accounts:api_tokens")).content.decode()
    assert "设置" in html and "API 令牌" in html and "吊销" in html
