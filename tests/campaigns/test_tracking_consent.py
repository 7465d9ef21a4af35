"""A contact's consent to open and click tracking: on the contact page, in the list, in CSV imports and exports."""

import pytest
from django.urls import reverse

from campaigns.contact_export import export_contacts
from campaigns.models import Contact
from campaigns.services import contacts as services
from tests.campaigns import contacts_support as support

alice, mallory, workspace = support.alice, support.mallory, support.workspace


@pytest.fixture
def ann(workspace):
    return services.create_contact(workspace=workspace, address="ann@example.org", name="Ann", consent_source="form")


def test_the_contact_page_sets_and_clears_tracking_consent(client, alice, ann):
    client.force_login(alice)
    url = reverse("campaigns:contact", args=[ann.pk])

    client.post(url, {"name": "Ann", "tracking_consent": "yes"})
    ann.refresh_from_db()
    assert ann.tracking_consent is True
    page = client.get(url).content.decode()
    assert 'name="tracking_consent" value="yes" checked' in page

    client.post(url, {"name": "Ann"})  # the box left unticked
    ann.refresh_from_db()
    assert ann.tracking_consent is False
    assert 'name="tracking_consent" value="yes" checked' not in client.get(url).content.decode()


def test_the_contact_list_says_who_allows_tracking(client, alice, ann, workspace):
    services.create_contact(workspace=workspace, address="bea@example.org")
    services.update_contact(workspace=workspace, contact_id=ann.pk, name="Ann", locale="", attributes={},
                            tracking_consent=True)  # fmt: skip
    client.force_login(alice)

    page = client.get(reverse("campaigns:contacts")).content.decode()

    ann_row, bea_row = page.split("ann@example.org</a>")[1], page.split("bea@example.org</a>")[1]
    assert ann_row.split("</tr>")[0].count("Not allowed") == 0 and "Allowed" in ann_row.split("</tr>")[0]
    assert "Not allowed" in bea_row.split("</tr>")[0]


def test_another_workspace_cannot_change_tracking_consent(client, mallory, ann):
    client.force_login(mallory)

    response = client.post(reverse("campaigns:contact", args=[ann.pk]), {"name": "x", "tracking_consent": "yes"})

    assert response.status_code == 404
    ann.refresh_from_db()
    assert ann.tracking_consent is False


def test_an_update_without_tracking_consent_leaves_it(workspace, ann):
    services.update_contact(workspace=workspace, contact_id=ann.pk, name="Ann", locale="", attributes={},
                            tracking_consent=True)  # fmt: skip
    services.update_contact(workspace=workspace, contact_id=ann.pk, name="Ann B.", locale="", attributes={})

    ann.refresh_from_db()
    assert (ann.name, ann.tracking_consent) == ("Ann B.", True)


def test_a_csv_column_of_tracking_consent_is_guessed_and_imported(
    alice, workspace, ann, django_capture_on_commit_callbacks
):
    services.update_contact(workspace=workspace, contact_id=ann.pk, name="Ann", locale="", attributes={},
                            tracking_consent=True)  # fmt: skip
    content = "email,name,tracking\nann@example.org,Ann,\nbea@example.org,Bea,yes\ncid@example.org,Cid,no\n"

    done = support.run_import(django_capture_on_commit_callbacks, workspace=workspace, user=alice, content=content)

    assert [c["field"] for c in done.mapping["columns"]] == ["email", "name", "tracking_consent"]
    assert done.report["counts"]["created"] == 2 and done.report["counts"]["updated"] == 1
    consent = dict(Contact.objects.filter(domain=workspace).values_list("address", "tracking_consent"))
    assert consent == {"ann@example.org": True, "bea@example.org": True, "cid@example.org": False}


def test_a_bad_tracking_consent_value_refuses_the_row(alice, workspace, django_capture_on_commit_callbacks):
    content = "email,tracking consent\nbea@example.org,perhaps\n"

    done = support.run_import(django_capture_on_commit_callbacks, workspace=workspace, user=alice, content=content)

    assert done.report["counts"]["invalid_value"] == 1
    assert not Contact.objects.filter(address="bea@example.org").exists()


def test_the_export_has_the_tracking_consent_column(workspace, ann):
    services.update_contact(workspace=workspace, contact_id=ann.pk, name="Ann", locale="", attributes={},
                            tracking_consent=True)  # fmt: skip

    rows = support.read_csv_bytes("".join(export_contacts(workspace=workspace)).encode())

    assert rows[1][rows[0].index("tracking_consent")] == "true"
