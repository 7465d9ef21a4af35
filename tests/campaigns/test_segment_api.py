"""/api/segments: list, create, read, update, delete, count a saved segment or an unsaved definition;
workspace isolation, errors in the API's one format, and conformance to the OpenAPI schema."""

import pytest
from hypothesis import HealthCheck, settings

from campaigns import segments
from campaigns.models import Campaign, Contact, ListMembership, Segment
from campaigns.services import contacts as contact_services
from delivery.models import Suppression
from tests.api import test_schemathesis as api_schema
from tests.api.conftest import assert_error, client_for
from tests.campaigns import contacts_support as support

alice, bob, mallory, workspace = support.alice, support.bob, support.mallory, support.workspace
_connection_kept_open = api_schema._connection_kept_open

PRO = {"field": "attributes.plan", "op": "equals", "value": "pro"}


@pytest.fixture
def api(alice):
    client = client_for(alice)
    client.default_format = "json"
    return client


@pytest.fixture
def news(workspace):
    """A list of three pros and a free one; one pro is suppressed, and a pro outside the list."""
    news = contact_services.create_list(workspace=workspace, name="News")
    for local, plan in (("ann", "pro"), ("bob", "pro"), ("cem", "pro"), ("dan", "free")):
        contact = Contact.objects.create(domain=workspace, address=f"{local}@example.org", attributes={"plan": plan})
        ListMembership.objects.create(contact_list=news, contact=contact)
    Contact.objects.create(domain=workspace, address="out@example.org", attributes={"plan": "pro"})
    Suppression.objects.create(address="cem@example.org", scope="global", reason="complaint")
    return news


def test_a_marketer_creates_reads_lists_updates_and_deletes_a_segment(api, news, workspace):
    created = api.post("/api/segments", {"name": "Pros", "definition": {"lists": [news.pk], "rules": [PRO]}})
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["name"] == "Pros" and body["definition"]["rules"] == [PRO] and body["definition"]["match"] == "all"
    pk = body["id"]

    assert api.get(f"/api/segments/{pk}").json()["definition"]["lists"] == [news.pk]
    assert [s["name"] for s in api.get("/api/segments").json()] == ["Pros"]
    assert api.get(f"/api/segments/{pk}/count").json() == {"audience": 3, "suppressed": 1, "sendable": 2}

    renamed = api.patch(f"/api/segments/{pk}", {"name": "Pro readers"})
    assert renamed.status_code == 200 and renamed.json()["definition"]["rules"] == [PRO]
    widened = api.patch(f"/api/segments/{pk}", {"definition": {"rules": [PRO]}}).json()
    assert widened["name"] == "Pro readers" and widened["definition"]["lists"] == []
    assert api.get(f"/api/segments/{pk}/count").json() == {"audience": 4, "suppressed": 1, "sendable": 3}

    assert api.delete(f"/api/segments/{pk}").status_code == 204
    assert not Segment.objects.filter(pk=pk).exists()


def test_the_count_is_what_sendable_returns(api, news, workspace):
    definition = {"lists": [news.pk], "rules": [PRO]}
    counted = api.post("/api/segments/count", {"definition": definition}).json()
    will_send = segments.sendable(Segment(domain=workspace, definition=definition))
    assert counted["sendable"] == will_send.count() == 2
    assert counted["audience"] - counted["suppressed"] == counted["sendable"]
    assert sorted(will_send.values_list("address", flat=True)) == ["ann@example.org", "bob@example.org"]


def test_every_problem_of_a_definition_comes_back_at_once_keyed_by_where(api, news):
    response = api.post(
        "/api/segments",
        {
            "name": "Broken",
            "definition": {
                "lists": [news.pk, 999999],
                "match": "most",
                "rules": [{"field": "attributes.age", "op": "gt", "value": "old"}, {"field": "shoe", "op": "equals"}],
            },
        },
    )
    error = assert_error(response, 400, "invalid")
    assert set(error["details"]) == {
        "definition.lists", "definition.match", "definition.rules.0.value", "definition.rules.1.field",
    }  # fmt: skip
    assert "999999" in error["details"]["definition.lists"][0]
    counted = api.post("/api/segments/count", {"definition": {"rules": [{"field": "engagement", "op": "x"}]}})
    assert_error(counted, 400, "invalid", field="definition.rules.0.op")
    assert_error(api.post("/api/segments/count", {"definition": "everyone"}), 400, "invalid", field="definition")
    assert_error(api.post("/api/segments", {"definition": {}}), 400, "invalid", field="name")
    assert not Segment.objects.filter(name="Broken").exists()


def test_a_duplicate_name_is_a_409_and_a_segment_in_use_cannot_be_deleted(api, news, workspace, alice):
    first = api.post("/api/segments", {"name": "Pros", "definition": {"rules": [PRO]}}).json()
    assert_error(api.post("/api/segments", {"name": "Pros"}), 409, "conflict", field="name")
    Campaign.objects.create(domain=workspace, name="Launch", segment_id=first["id"], status="sending")
    error = assert_error(api.delete(f"/api/segments/{first['id']}"), 409, "segment_in_use")
    assert "Launch" in error["message"]


def test_a_segment_cannot_exclude_itself(api):
    pk = api.post("/api/segments", {"name": "Self", "definition": {}}).json()["id"]
    response = api.patch(f"/api/segments/{pk}", {"definition": {"exclude_segments": [pk]}})
    assert_error(response, 400, "invalid", field="definition.exclude_segments")


def test_another_workspace_sees_404s_and_cannot_name_alices_lists_or_segments(api, news, mallory):
    pk = api.post("/api/segments", {"name": "Pros", "definition": {"rules": [PRO]}}).json()["id"]
    theirs = client_for(mallory)
    theirs.default_format = "json"
    for method, url in [
        ("get", f"/api/segments/{pk}"),
        ("patch", f"/api/segments/{pk}"),
        ("delete", f"/api/segments/{pk}"),
        ("get", f"/api/segments/{pk}/count"),
    ]:
        assert_error(getattr(theirs, method)(url, {"name": "Mine"}), 404, "not_found")
    assert theirs.get("/api/segments").json() == []
    response = theirs.post(
        "/api/segments/count",
        {"definition": {"lists": [news.pk], "exclude_lists": [news.pk], "exclude_segments": [pk]}},
    )
    error = assert_error(response, 400, "invalid")
    assert set(error["details"]) == {"definition.lists", "definition.exclude_lists", "definition.exclude_segments"}
    assert Segment.objects.get(pk=pk).name == "Pros"


def test_an_end_user_is_refused_and_a_visitor_must_authenticate(bob, news):
    assert_error(client_for(bob).get("/api/segments"), 403, "permission_denied")
    from rest_framework.test import APIClient

    assert APIClient().get("/api/segments").status_code in (401, 403)


# --- the schema, with generated requests from a marketer ------------------------------------

segment_schema = api_schema.schema.include(tag="segments")


@pytest.fixture
def marketer_token(db, settings, alice, news, _connection_kept_open):
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "100000/min", "token": "100000/min", "anon": "100000/min"},
    }
    Segment.objects.create(domain=news.domain, name="Pros", definition={"lists": [news.pk], "rules": [PRO]})
    return client_for(alice).token


@segment_schema.parametrize()
@settings(
    max_examples=25, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)  # fmt: skip
def test_the_segments_api_conforms_to_its_schema(case, marketer_token):
    case.call_and_validate(headers={"Authorization": f"Bearer {marketer_token}"}, checks=api_schema.CHECKS)
