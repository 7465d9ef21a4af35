"""The segment pages: the list, the editor and its live count, saving, deleting, and who may see what."""

import pytest
from django.urls import reverse

from campaigns.models import Campaign, Contact, ListMembership, Segment
from campaigns.services import contacts as contact_services
from campaigns.services import segments as services
from delivery.models import Suppression
from tests.campaigns import contacts_support as support

alice, bob, mallory, workspace = support.alice, support.bob, support.mallory, support.workspace


@pytest.fixture
def world(workspace, alice):
    """A list of three (one suppressed), a contact outside it, and a saved segment of Alice's."""
    news = contact_services.create_list(workspace=workspace, name="News")
    for local, plan in (("ann", "pro"), ("bob", "free"), ("cem", "pro")):
        contact = Contact.objects.create(
            domain=workspace, address=f"{local}@example.org", consent="opted_in", attributes={"plan": plan}
        )
        ListMembership.objects.create(contact_list=news, contact=contact)
    Contact.objects.create(domain=workspace, address="dee@example.org", attributes={"plan": "pro"})
    Suppression.objects.create(address="cem@example.org", scope="global", reason="hard_bounce")
    segment = services.create_segment(
        workspace=workspace, name="Pro readers", created_by=alice,
        definition={"lists": [news.pk], "rules": [{"field": "attributes.plan", "op": "equals", "value": "pro"}]},
    )  # fmt: skip
    return {"list": news, "segment": segment}


def form(name="Pro", *, lists=(), match="all", rules=(), exclude_lists=(), exclude_segments=(), segment_id=None):
    data = {
        "name": name, "match": match, "lists": [str(i) for i in lists],
        "exclude_lists": [str(i) for i in exclude_lists], "exclude_segments": [str(i) for i in exclude_segments],
        "rule_field": [r[0] for r in rules], "rule_key": [r[1] for r in rules], "rule_op": [r[2] for r in rules],
        "rule_value": [r[3] for r in rules],
    }  # fmt: skip
    if segment_id:
        data["segment_id"] = str(segment_id)
    return data


def test_the_editor_shows_the_count_with_the_suppressed_apart_and_a_sample(client, alice, world):
    client.force_login(alice)
    page = client.get(reverse("campaigns:segment", args=[world["segment"].pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-count="audience">2<' in html and 'data-count="suppressed">1<' in html
    assert 'data-count="sendable">1<' in html
    assert "ann@example.org" in html and "cem@example.org" in html and "dee@example.org" not in html
    assert 'aria-current="page">Segments<' in html


def test_the_live_count_follows_the_unsaved_form(client, alice, world):
    client.force_login(alice)
    url = reverse("campaigns:segment_preview")
    everyone = client.post(url, form()).content.decode()
    assert 'data-count="audience">4<' in everyone
    narrowed = client.post(url, form(rules=[("attribute", "plan", "equals", "pro"), ("address", "", "contains", "d")]))
    assert 'data-count="audience">1<' in narrowed.content.decode()
    anyone = client.post(
        url, form(match="any", rules=[("attribute", "plan", "equals", "free"), ("address", "", "contains", "dee")])
    )
    assert 'data-count="audience">2<' in anyone.content.decode()
    broken = client.post(url, form(rules=[("attribute", "plan", "gt", "lots")])).content.decode()
    assert "A number." in broken and "data-count" not in broken


def test_a_marketer_creates_a_segment_from_the_form_and_its_definition_is_typed(client, alice, world, workspace):
    client.force_login(alice)
    response = client.post(
        reverse("campaigns:segment_new"),
        form(
            "Engaged pros", lists=[world["list"].pk], exclude_segments=[world["segment"].pk],
            rules=[("attribute", "plan", "in", "pro, free"), ("engagement", "", "opened_within", "30"),
                   ("attribute", "age", "gte", "18"), ("name", "", "is_set", "")],
        ),
    )  # fmt: skip
    created = Segment.objects.get(domain=workspace, name="Engaged pros")
    assert response.status_code == 302 and response["Location"] == reverse("campaigns:segment", args=[created.pk])
    assert created.definition == {
        "lists": [world["list"].pk], "match": "all", "exclude_lists": [], "exclude_segments": [world["segment"].pk],
        "rules": [
            {"field": "attributes.plan", "op": "in", "value": ["pro", "free"]},
            {"field": "engagement", "op": "opened_within", "value": 30},
            {"field": "attributes.age", "op": "gte", "value": 18},
            {"field": "name", "op": "is_set"},
        ],
    }  # fmt: skip
    assert created.created_by == alice


def test_a_bad_form_is_shown_again_with_every_problem_and_nothing_lost(client, alice, world, workspace):
    client.force_login(alice)
    response = client.post(
        reverse("campaigns:segment_new"),
        form("Broken", rules=[("attribute", "age", "gt", "old"), ("engagement", "", "clicked_within", "-3")]),
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "A number." in html and "A whole number of days" in html
    assert 'value="Broken"' in html and 'value="old"' in html
    assert not Segment.objects.filter(name="Broken").exists()


def test_a_duplicate_name_is_a_clear_error(client, alice, world):
    client.force_login(alice)
    response = client.post(reverse("campaigns:segment_new"), form("Pro readers"))
    assert response.status_code == 400
    assert "A segment with this name exists already." in response.content.decode()


def test_saving_a_segment_that_excludes_itself_is_refused(client, alice, world):
    client.force_login(alice)
    pk = world["segment"].pk
    response = client.post(reverse("campaigns:segment", args=[pk]), form("Pro readers", exclude_segments=[pk]))
    assert response.status_code == 400 and "cannot exclude itself" in response.content.decode()
    preview = client.post(reverse("campaigns:segment_preview"), form(exclude_segments=[pk], segment_id=pk))
    assert "cannot exclude itself" in preview.content.decode()


def test_the_list_loads_each_count_after_the_page(client, alice, world, django_assert_max_num_queries):
    client.force_login(alice)
    for n in range(5):
        services.create_segment(workspace=world["list"].domain, name=f"S{n}", definition={}, created_by=alice)
    with django_assert_max_num_queries(12):  # no count per segment: those come one by one
        page = client.get(reverse("campaigns:segments"))
    assert "Pro readers" in page.content.decode()
    count = client.get(reverse("campaigns:segment_count", args=[world["segment"].pk]), headers={"HX-Request": "true"})
    assert count.content.decode().startswith("1 ") and "+1 suppressed" in count.content.decode()


def test_a_segment_of_a_scheduled_campaign_cannot_be_deleted_and_others_can(client, alice, world, workspace):
    client.force_login(alice)
    segment = world["segment"]
    campaign = Campaign.objects.create(domain=workspace, name="December", segment=segment, status="scheduled")
    response = client.post(reverse("campaigns:segment_delete", args=[segment.pk]), follow=True)
    assert "The campaign “December” is scheduled to this segment" in response.content.decode()
    assert Segment.objects.filter(pk=segment.pk).exists()

    Campaign.objects.filter(pk=campaign.pk).update(status="sent")
    client.post(reverse("campaigns:segment_delete", args=[segment.pk]))
    assert not Segment.objects.filter(pk=segment.pk).exists()
    assert Campaign.objects.get(pk=campaign.pk).segment is None


def test_a_segment_another_one_excludes_cannot_be_deleted(alice, world, workspace):
    from webmail.errors import Conflict

    services.create_segment(
        workspace=workspace, name="Others", definition={"exclude_segments": [world["segment"].pk]}, created_by=alice
    )
    with pytest.raises(Conflict, match="“Others” excludes this one"):
        services.delete_segment(workspace=workspace, segment_id=world["segment"].pk)


def test_another_workspaces_marketer_gets_404_and_cannot_use_alices_ids(client, mallory, world):
    client.force_login(mallory)
    pk = world["segment"].pk
    for method, url in [
        ("get", reverse("campaigns:segment", args=[pk])),
        ("post", reverse("campaigns:segment", args=[pk])),
        ("get", reverse("campaigns:segment_count", args=[pk])),
        ("post", reverse("campaigns:segment_delete", args=[pk])),
    ]:
        assert getattr(client, method)(url, form("Mine")).status_code == 404, url
    assert Segment.objects.get(pk=pk).name == "Pro readers"
    assert "Pro readers" not in client.get(reverse("campaigns:segments")).content.decode()
    preview = client.post(
        reverse("campaigns:segment_preview"), form(lists=[world["list"].pk], exclude_segments=[pk])
    ).content.decode()
    assert f"No such list: {world['list'].pk}." in preview and f"No such segment: {pk}." in preview
    assert "data-count" not in preview
    assert client.post(reverse("campaigns:segment_preview"), form(segment_id=pk)).status_code == 404


def test_an_end_user_gets_403_and_a_visitor_is_sent_to_sign_in(client, bob, world):
    client.force_login(bob)
    assert client.get(reverse("campaigns:segments")).status_code == 403
    assert client.post(reverse("campaigns:segment_preview"), form()).status_code == 403
    client.logout()
    assert "/signin/" in client.get(reverse("campaigns:segments"))["Location"]
