"""GET /api/campaigns/<id>/results, and its place in the OpenAPI schema."""

import pytest
from rest_framework.test import APIClient

from delivery.services.events import record_delivery_event
from tests.api.conftest import assert_error, client_for
from tests.campaigns.results_world import (  # noqa: F401 - fixtures
    make_campaign,
    marketer_fixture,
    other_marketer_fixture,
    recipient_of,
    shop_fixture,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(shop):
    campaign = make_campaign(shop, ["ann@gmail.example", "bo@gmail.example", "cy@yahoo.example"])
    ann, bo = recipient_of(campaign, "ann@gmail.example"), recipient_of(campaign, "bo@gmail.example")
    record_delivery_event(recipient=ann, event_type="sent", transport="smtp")
    record_delivery_event(recipient=bo, event_type="bounced", transport="smtp", reject_reason="bounced")
    for unique in (True, False):
        record_delivery_event(
            recipient=ann, event_type="opened", transport="tracking", update_status=False,
            metadata={"machine": False, "unique": unique},
        )  # fmt: skip
    return campaign


def test_a_marketer_reads_the_results_of_a_campaign(marketer, campaign):
    response = client_for(marketer).get(f"/api/campaigns/{campaign.pk}/results")

    body = response.json()
    assert response.status_code == 200
    assert body["progress"] == {
        "audience": 3, "released": 3, "sent": 1, "deferred": 0, "bounced": 1, "not_sent": 0, "remaining": 1,
        "percent": 66,
    }  # fmt: skip
    assert (body["counts"]["delivered"], body["counts"]["bounced_soft"], body["counts"]["opened"]) == (1, 1, 1)
    assert body["counts"]["opens"] == 2
    assert (body["rates"]["delivered"], body["rates"]["opened"], body["rates"]["clicked"]) == (0.5, 1.0, 0.0)
    assert body["rates"]["clicked_of_opened"] == 0.0
    assert body["series_step"] == "hour" and body["series"][0]["sent"] == 1
    assert [d["domain"] for d in body["domains"]] == ["gmail.example"]
    assert body["links"] == []


def test_another_workspaces_campaign_and_an_end_user_get_a_404(other_marketer, campaign):
    end_user = UserFactory(address="eve@shop.example", display_name="Eve")  # of the workspace, not a marketer

    for user in (other_marketer, end_user):
        assert_error(client_for(user).get(f"/api/campaigns/{campaign.pk}/results"), 404, "not_found")
    assert_error(client_for(other_marketer).get("/api/campaigns/999999/results"), 404, "not_found")


def test_the_schema_documents_the_results_endpoint(db):
    schema = APIClient().get("/api/schema", {"format": "json"}).json()

    operation = schema["paths"]["/api/campaigns/{campaign_id}/results"]["get"]
    assert operation["operationId"] == "campaigns_results"
    assert {"200", "404"} <= set(operation["responses"])
    results = schema["components"]["schemas"]["CampaignResults"]["properties"]
    assert {"progress", "counts", "rates", "series", "domains", "links"} <= set(results)
