import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.services import create_api_token


@pytest.fixture(autouse=True)
def _fresh_throttles(db):
    """Throttle counters live in the cache (a table unless CACHE_URL says otherwise): each test starts with none."""
    cache.clear()
    yield
    cache.clear()


def client_for(user) -> APIClient:
    """An API client authenticated the way services are: a Bearer token."""
    _, token = create_api_token(user=user, name="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    client.token = token
    return client


@pytest.fixture
def api(alice):
    return client_for(alice)


@pytest.fixture
def bob_api(bob):
    return client_for(bob)


@pytest.fixture
def mallory_api(mallory):
    return client_for(mallory)


def assert_error(response, status: int, code: str | None = None, field: str | None = None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["message"]
    if code:
        assert body["error"]["code"] == code, body
    if field:
        assert field in body["error"]["details"], body
    return body["error"]
