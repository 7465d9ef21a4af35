"""The campaign REST API: CRUD, the check, each transition, test sends, errors, workspaces and the schema."""

# ruff: noqa: F811 - the fixtures imported below are pytest fixtures, used as arguments

import datetime as dt

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Domain
from campaigns.models import Campaign
from mailboxes.models import Folder, MailboxItem
from tests.api.conftest import assert_error, client_for
from tests.campaigns.campaign_ui_world import (  # noqa: F401 - fixtures
    CampaignFactory,
    alice,
    bob,
    customers,
    mallory,
    mallory_segment,
    newsletter,
    ready_draft,
    receipt,
    workspace,
)

pytestmark = pytest.mark.django_db

LIST = "/api/campaigns"


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()
    yield
    cache.clear()


def json_client(user):
    client = client_for(user)
    client.default_format = "json"
    return client


@pytest.fixture
def api(alice):
    return json_client(alice)


@pytest.fixture
def mallory_api(mallory):
    return json_client(mallory)


def url(campaign, action: str = "") -> str:
    return f"/api/campaigns/{campaign.pk}" + (f"/{action}" if action else "")


# --- the schema ---------------------------------------------------------------------------------


def test_the_schema_documents_every_campaign_route(api):
    schema = api.get("/api/schema", {"format": "json"}).json()
    paths = schema["paths"]
    assert set(paths["/api/campaigns"]) >= {"get", "post"}
    assert set(paths["/api/campaigns/{campaign_id}"]) >= {"get", "patch", "delete"}
    assert "get" in paths["/api/campaigns/{campaign_id}/preflight"]
    for action in ("schedule", "unschedule", "pause", "resume", "cancel", "test"):
        operation = paths[f"/api/campaigns/{{campaign_id}}/{action}"]["post"]
        assert operation["operationId"] == f"campaigns_{action}"
        assert operation["tags"] == ["campaigns"]
        assert "404" in operation["responses"]
    assert "CampaignInputRequest" in schema["components"]["schemas"]


# --- create, read, change, delete ---------------------------------------------------------------


def test_create_reads_a_send_time_without_offset_in_the_campaign_time_zone(api, alice, newsletter, customers):
    response = api.post(LIST, {
        "name": "December news", "template": newsletter.pk, "segment": customers.pk,
        "from_address": "alice@shop.test", "time_zone": "Asia/Shanghai", "send_at": "2026-12-24T09:00",
        "finish_by": "2026-12-24T20:00+08:00", "max_per_hour": 6000, "track_opens": True,
    })  # fmt: skip

    assert response.status_code == 201, response.content
    body = response.json()
    campaign = Campaign.objects.get(pk=body["id"])
    assert campaign.send_at == dt.datetime(2026, 12, 24, 1, 0, tzinfo=dt.UTC)
    assert campaign.finish_by == dt.datetime(2026, 12, 24, 12, 0, tzinfo=dt.UTC)
    assert body["status"] == "draft" and body["send_at"] == "2026-12-24T01:00:00Z"
    assert body["send_at_local"] == "2026-12-24T09:00:00" and body["time_zone"] == "Asia/Shanghai"
    assert (body["template"], body["segment"], body["max_per_hour"]) == (newsletter.pk, customers.pk, 6000)
    assert body["progress"] == {
        "audience": 0, "released": 0, "sent": 0, "deferred": 0, "bounced": 0, "not_sent": 0, "remaining": 0,
        "percent": 0,
    }  # fmt: skip
    assert campaign.created_by == alice


def test_create_names_every_field_at_fault_at_once(api, receipt, mallory_segment):
    response = api.post(LIST, {
        "name": "  ", "template": receipt.pk, "segment": mallory_segment.pk, "time_zone": "Mars/Olympus",
        "send_at": "soon",
    })  # fmt: skip
    error = assert_error(response, 400, "invalid")
    assert {"name", "time_zone", "send_at"} <= set(error["details"])
    assert not Campaign.objects.exists()

    response = api.post(LIST, {"name": "X", "template": receipt.pk, "segment": mallory_segment.pk})
    error = assert_error(response, 400, "invalid")
    assert error["details"] == {"template": ["No such marketing template."], "segment": ["No such segment."]}


def test_a_time_the_clocks_skip_is_refused(api):
    response = api.post(LIST, {"name": "X", "time_zone": "America/New_York", "finish_by": "2027-03-14T02:30"})
    error = assert_error(response, 400, field="finish_by")
    assert "does not exist in America/New_York" in error["details"]["finish_by"][0]


def test_list_pages_newest_first_and_only_the_workspace(api, alice, workspace, mallory):
    mine = [CampaignFactory(domain=workspace, created_by=alice, name=f"C{i}") for i in range(3)]
    CampaignFactory(domain=Domain.objects.get(name="evil.test"), created_by=mallory)

    first = api.get(LIST, {"limit": 2}).json()
    assert [c["id"] for c in first["items"]] == [mine[2].pk, mine[1].pk]
    rest = api.get(LIST, {"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [c["id"] for c in rest["items"]] == [mine[0].pk] and rest["next_cursor"] is None


def test_list_reads_in_a_constant_number_of_queries(api, alice, workspace):
    def queries_to_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert api.get(LIST).status_code == 200
        return len(queries)

    CampaignFactory(domain=workspace, created_by=alice, status="sending")
    queries_to_list()  # the token and the throttles' cache rows are written on the first call
    one = queries_to_list()
    for status in ("draft", "sending", "paused", "sent") * 3:
        CampaignFactory(domain=workspace, created_by=alice, status=status)
    assert queries_to_list() == one


def test_read_patch_and_delete_a_draft(api, ready_draft):
    assert api.get(url(ready_draft)).json()["name"] == "December news"

    change = {"name": "January news", "send_at": "2027-01-05T08:15", "time_zone": "Europe/Paris"}
    response = api.patch(url(ready_draft), change)
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "January news" and response.json()["send_at"] == "2027-01-05T07:15:00Z"
    ready_draft.refresh_from_db()
    assert ready_draft.segment_id is not None  # untouched: only the fields given change

    assert api.delete(url(ready_draft)).status_code == 204
    assert not Campaign.objects.filter(pk=ready_draft.pk).exists()


def test_a_started_campaign_can_be_neither_changed_nor_deleted(api, alice, workspace):
    campaign = CampaignFactory(domain=workspace, created_by=alice, status="sending")
    assert_error(api.patch(url(campaign), {"name": "Changed"}), 409, "invalid_transition")
    assert_error(api.delete(url(campaign)), 409, "invalid_transition")


# --- the check and the transitions --------------------------------------------------------------


def test_preflight_lists_every_problem(api, alice, workspace, ready_draft):
    draft = CampaignFactory(domain=workspace, created_by=alice, from_address="")
    body = api.get(url(draft, "preflight")).json()
    assert body["ready"] is False
    assert {p["field"] for p in body["problems"]} == {"template", "segment", "from_address"}
    assert api.get(url(ready_draft, "preflight")).json() == {"ready": True, "problems": []}


def test_schedule_refuses_with_every_problem_then_schedules_when_ready(api, alice, workspace, ready_draft):
    draft = CampaignFactory(domain=workspace, created_by=alice)
    error = assert_error(api.post(url(draft, "schedule")), 400, "invalid")
    assert {"template", "segment"} <= set(error["details"])

    response = api.post(url(ready_draft, "schedule"))
    assert response.status_code == 200 and response.json()["status"] == "scheduled"
    assert api.post(url(ready_draft, "unschedule")).json()["status"] == "draft"


def test_pause_resume_and_cancel(api, alice, workspace):
    campaign = CampaignFactory(domain=workspace, created_by=alice, status="sending")
    paused = api.post(url(campaign, "pause")).json()
    assert paused["status"] == "paused" and paused["paused_at"] is not None
    assert api.post(url(campaign, "resume")).json()["status"] == "sending"
    cancelled = api.post(url(campaign, "cancel")).json()
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"] is not None
    error = assert_error(api.post(url(campaign, "resume")), 409, "invalid_transition")
    assert "Only a paused campaign can be resumed." in error["message"]


def test_a_test_send(api, ready_draft, bob, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # delivery runs once the message is stored
        response = api.post(url(ready_draft, "test"), {"to": ["bob@shop.test"]})
    assert response.status_code == 202 and response.json() == {"to": ["bob@shop.test"]}
    assert MailboxItem.objects.get(user=bob, folder=Folder.INBOX).message.subject == "[Test] News for Ann"
    assert_error(api.post(url(ready_draft, "test"), {"to": []}), 400, field="to")


# --- who may ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "action"),
    [("get", ""), ("patch", ""), ("delete", ""), ("get", "preflight"), ("post", "schedule"), ("post", "unschedule"),
     ("post", "pause"), ("post", "resume"), ("post", "cancel"), ("post", "test")],
)  # fmt: skip
def test_another_workspace_campaign_is_a_404(mallory_api, ready_draft, method, action):
    response = getattr(mallory_api, method)(url(ready_draft, action), {"to": ["mallory@evil.test"], "name": "Mine"})
    assert_error(response, 404, "not_found")
    ready_draft.refresh_from_db()
    assert ready_draft.status == "draft" and ready_draft.name == "December news"


def test_an_end_user_is_refused(bob):
    assert_error(json_client(bob).get(LIST), 403, "permission_denied")


def test_no_credentials_no_campaigns(client):
    assert_error(client.get(LIST), 401)
