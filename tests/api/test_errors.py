"""One error format everywhere, throttling, and the documentation."""

import pytest
from rest_framework.test import APIClient

from tests.api.conftest import assert_error, client_for


def test_unknown_api_addresses_are_json_404s(api):
    assert_error(api.get("/api/nothing/here"), 404, "not_found")
    assert_error(api.post("/api/emails/12/unknown", {}, format="json"), 404, "not_found")
    assert_error(api.get("/api/emails/not-a-number"), 404, "not_found")


def test_an_id_too_large_for_the_database_is_404(api):
    assert_error(api.get(f"/api/emails/{2**64}"), 404)
    assert_error(api.get(f"/api/labels/{2**70}"), 404)


def test_wrong_method_is_405(api):
    assert_error(api.put("/api/labels", {}, format="json"), 405, "method_not_allowed")


def test_a_form_encoded_body_is_415(api):
    response = api.post("/api/labels", {"name": "x"})  # multipart: only uploads take it
    assert_error(response, 415, "unsupported_media_type")


@pytest.fixture
def rates(settings):
    def set_rates(**rates):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"user": "1000/min", "token": "1000/min", "anon": "1000/min", **rates},
        }

    return set_rates


def test_throttled_per_token_with_retry_after(alice, rates):
    rates(token="2/min")
    first, second = client_for(alice), client_for(alice)
    assert first.get("/api/labels").status_code == 200
    assert first.get("/api/labels").status_code == 200
    response = first.get("/api/labels")
    error = assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    assert "seconds" in error["message"]
    assert second.get("/api/labels").status_code == 200  # another token of the same user has its own budget


def test_a_throttle_slides_into_the_next_window(alice, rates, monkeypatch):
    """The previous minute's requests weigh by how much of the sliding minute they still fill."""
    from core import ratelimit

    now = [6000.0]  # the start of a minute
    monkeypatch.setattr(ratelimit, "clock", lambda: now[0])
    rates(token="4/min")
    api = client_for(alice)
    for _ in range(4):
        assert api.get("/api/labels").status_code == 200
    refused = api.get("/api/labels")
    assert_error(refused, 429, "throttled")
    assert refused["Retry-After"] == "75"  # a quarter into the next minute, 4 * 0.75 + 1 fits in 4
    now[0] = 6060.0
    assert_error(api.get("/api/labels"), 429, "throttled")  # refused requests did not count: still 4 * 1 + 1
    now[0] = 6075.0
    assert api.get("/api/labels").status_code == 200
    assert_error(api.get("/api/labels"), 429, "throttled")


def test_throttled_per_user_across_tokens(alice, bob, rates):
    rates(user="3/min")
    first, second = client_for(alice), client_for(alice)
    for client in (first, second, first):
        assert client.get("/api/labels").status_code == 200
    assert_error(second.get("/api/labels"), 429, "throttled")
    assert client_for(bob).get("/api/labels").status_code == 200


def test_requests_without_credentials_are_throttled_by_address(db, rates):
    rates(anon="1/min")
    assert_error(APIClient().get("/api/downloads/guess"), 404)
    assert_error(APIClient().get("/api/downloads/guess"), 429, "throttled")


def test_a_forwarded_for_header_does_not_buy_a_new_budget(db, rates):
    rates(anon="1/min")
    assert_error(APIClient().get("/api/downloads/guess", HTTP_X_FORWARDED_FOR="192.0.2.1"), 404)
    assert_error(APIClient().get("/api/downloads/guess", HTTP_X_FORWARDED_FOR="192.0.2.2"), 429, "throttled")


def test_schema_is_openapi_3_with_bearer_auth_and_examples(db):
    response = APIClient().get("/api/schema", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    send = schema["paths"]["/api/emails/send"]["post"]
    assert send["requestBody"]["content"]["application/json"]["examples"]
    assert "422" in send["responses"] and "429" in send["responses"]
    assert send["responses"]["404"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    for path in ("/api/emails/search", "/api/mailbox/{folder}", "/api/emails/{email_id}", "/api/labels"):
        assert path in schema["paths"]


def test_docs_are_served_from_local_static_files(client, db):
    response = client.get("/api/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "//cdn" not in page and "unpkg" not in page
    assert client.get("/api/redoc").status_code == 200


def test_an_unexpected_exception_is_a_json_500_and_is_logged(api, settings, monkeypatch, caplog):
    from webmail.api import views

    settings.DEBUG = False

    def broken(self, request):
        raise RuntimeError("a bug")

    monkeypatch.setattr(views.LabelListView, "get", broken)

    with caplog.at_level("ERROR", logger="django.request"):
        response = api.get("/api/labels")

    error = assert_error(response, 500, "server_error")
    assert "a bug" not in error["message"]  # no internals to the client
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.exc_info[0] is RuntimeError and record.status_code == 500
