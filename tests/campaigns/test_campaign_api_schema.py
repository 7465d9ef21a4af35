"""The campaign API against its own OpenAPI schema, as a marketer with campaigns to act on (schemathesis, WSGI).

The API-wide run (tests/api/test_schemathesis.py) calls these operations as an
end user, who is refused; here generated requests reach the services: nothing
answers 5xx, and every answer has a documented status and body shape.
"""

# ruff: noqa: F811 - the fixtures imported below are pytest fixtures, used as arguments

import pytest
from hypothesis import HealthCheck, settings

from tests.api.conftest import client_for
from tests.api.test_schemathesis import CHECKS, _connection_kept_open, _load_schema  # noqa: F401 - a fixture
from tests.campaigns.campaign_ui_world import (  # noqa: F401 - fixtures
    CampaignFactory,
    alice,
    customers,
    newsletter,
    ready_draft,
    workspace,
)

schema = _load_schema().include(tag="campaigns")


@pytest.fixture
def campaigns(settings, alice, workspace, ready_draft, _connection_kept_open):
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "100000/min", "token": "100000/min", "anon": "100000/min"},
    }
    for status in ("scheduled", "sending", "paused", "sent"):  # small ids in every status
        CampaignFactory(domain=workspace, created_by=alice, status=status)


@pytest.fixture
def token(alice):
    return client_for(alice).token


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_campaign_api_conforms_to_its_schema(case, campaigns, token):
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
