"""The marketer pages of contacts, lists and imports, their exports, and who may see them."""

import csv
import io

import pytest
from django.urls import reverse

from campaigns.models import Contact, ContactImport, ListMembership
from campaigns.services import contacts as services
from campaigns.services.imports import upload_contact_import
from tests.campaigns import contacts_support as support

alice, bob, mallory, workspace = support.alice, support.bob, support.mallory, support.workspace


@pytest.fixture
def data(workspace, alice):
    """A contact on a list, and an uploaded import, all Alice's."""
    news = services.create_list(workspace=workspace, name="News")
    contact = services.create_contact(
        workspace=workspace, address="ann@example.org", name="Ann", consent_source="form", attributes={"city": "Oslo"}
    )
    services.add_to_list(workspace=workspace, list_id=news.pk, contact_id=contact.pk, added_by=alice)
    upload = upload_contact_import(workspace=workspace, user=alice, file=support.csv_upload("email\nx@example.org\n"))
    return {"list": news, "contact": contact, "import": upload}


def endpoints(data) -> list[tuple[str, str, dict]]:
    """Every contacts/lists/imports endpoint that takes an id: (method, url, form)."""
    c, li, imp = data["contact"].pk, data["list"].pk, data["import"].pk
    return [
        ("get", reverse("campaigns:contact", args=[c]), {}),
        ("post", reverse("campaigns:contact", args=[c]), {"name": "x"}),
        ("post", reverse("campaigns:contact_erase", args=[c]), {}),
        ("post", reverse("campaigns:contact_join_list", args=[c]), {"list_id": li}),
        ("get", reverse("campaigns:list", args=[li]), {}),
        ("post", reverse("campaigns:list", args=[li]), {"name": "Mine"}),
        ("post", reverse("campaigns:list_delete", args=[li]), {}),
        ("post", reverse("campaigns:list_add_member", args=[li]), {"address": "m@evil.test", "consent": "yes"}),
        ("post", reverse("campaigns:list_remove_member", args=[li, c]), {}),
        ("get", reverse("campaigns:list_export", args=[li]), {}),
        ("get", reverse("campaigns:import", args=[imp]), {}),
        ("post", reverse("campaigns:import_start", args=[imp]), {"field_0": "email"}),
        ("get", reverse("campaigns:import_progress", args=[imp]), {}),
        ("get", reverse("campaigns:import_refused", args=[imp]), {}),
    ]


def test_another_workspace_marketer_gets_404_on_every_id_and_changes_nothing(client, mallory, data):
    client.force_login(mallory)
    for method, url, form in endpoints(data):
        response = getattr(client, method)(url, form)
        assert response.status_code == 404, (method, url)
    assert Contact.objects.get(pk=data["contact"].pk).name == "Ann"
    assert ListMembership.objects.filter(contact_list=data["list"]).count() == 1
    assert ContactImport.objects.get(pk=data["import"].pk).status == ContactImport.Status.UPLOADED


def test_mallory_sees_none_of_alices_contacts_in_her_own_pages_and_exports(client, mallory, data):
    client.force_login(mallory)
    for name in ("campaigns:contacts", "campaigns:lists", "campaigns:imports"):
        page = client.get(reverse(name))
        assert page.status_code == 200
        assert "ann@example.org" not in page.content.decode() and "News" not in page.content.decode()
    export = b"".join(client.get(reverse("campaigns:contacts_export")).streaming_content)
    assert b"ann@example.org" not in export


def test_an_end_user_gets_403_and_a_visitor_is_sent_to_sign_in(client, bob, data):
    names = ["campaigns:contacts", "campaigns:lists", "campaigns:imports", "campaigns:contacts_export"]
    client.force_login(bob)
    for name in names:
        assert client.get(reverse(name)).status_code == 403
    for method, url, form in endpoints(data):
        assert getattr(client, method)(url, form).status_code == 403, url
    client.logout()
    response = client.get(reverse("campaigns:contacts"))
    assert response.status_code == 302 and "/signin/" in response["Location"]


def test_the_contacts_page_lists_searches_and_pages_without_a_query_per_contact(
    client, alice, workspace, django_assert_num_queries
):
    client.force_login(alice)
    for n in range(5):
        services.create_contact(workspace=workspace, address=f"p{n:03}@example.org", name=f"Person {n}")
    client.get(reverse("campaigns:contacts"))  # the session and the language are warm
    with django_assert_num_queries(8 + 1) as few:  # + 1: the user's preferences (time zone)
        client.get(reverse("campaigns:contacts"))
    for n in range(5, 120):
        services.create_contact(workspace=workspace, address=f"p{n:03}@example.org", name=f"Person {n}")
    with django_assert_num_queries(len(few.captured_queries)):
        page = client.get(reverse("campaigns:contacts"))

    html = page.content.decode()
    assert "p000@example.org" in html and "p050@example.org" not in html  # 50 a page
    assert "Page 1 of 3 (120 in all)" in html
    assert "p050@example.org" in client.get(reverse("campaigns:contacts"), {"page": 2}).content.decode()
    found = client.get(reverse("campaigns:contacts"), {"q": "Person 11"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="rows")
    assert found.content.decode().lstrip().startswith('<div id="rows">')
    assert "p110@example.org" in found.content.decode() and "p001@example.org" not in found.content.decode()


def test_the_lists_page_counts_members_per_status_in_one_query(client, alice, workspace, django_assert_num_queries):
    client.force_login(alice)
    for n in range(3):
        contact_list = services.create_list(workspace=workspace, name=f"List {n}")
        for m in range(n + 1):
            contact = services.create_contact(workspace=workspace, address=f"l{n}m{m}@example.org", consent_source="x")
            services.add_to_list(workspace=workspace, list_id=contact_list.pk, contact_id=contact.pk, added_by=alice)
    ListMembership.objects.filter(contact__address="l2m0@example.org").update(status="unsubscribed")
    ListMembership.objects.filter(contact__address="l2m1@example.org").update(status="pending")
    client.get(reverse("campaigns:lists"))
    with django_assert_num_queries(7 + 1):  # + 1: the user's preferences (time zone)
        page = client.get(reverse("campaigns:lists"))

    rows = [[cell.strip() for cell in row.split("</td>")[1:4]] for row in page.content.decode().split("<tr>")[2:]]
    assert [[c.rsplit(">", 1)[-1] for c in row] for row in rows] == [["1", "0", "0"], ["2", "0", "0"], ["1", "1", "1"]]


def test_a_contact_is_created_edited_with_typed_attributes_and_erased_from_its_page(client, alice, workspace):
    client.force_login(alice)
    response = client.post(reverse("campaigns:contact_create"), {"address": "New@Example.org", "name": "New"})
    contact = Contact.objects.get(domain=workspace)
    assert response["Location"] == reverse("campaigns:contact", args=[contact.pk])

    client.post(
        reverse("campaigns:contact", args=[contact.pk]),
        {
            "name": "Newer", "locale": "zh-hans", "attr_name": ["orders", "vip", "since", ""],
            "attr_type": ["number", "boolean", "date", "string"], "attr_value": ["7", "yes", "2024-01-02", ""],
        },
    )  # fmt: skip
    contact.refresh_from_db()
    assert (contact.address, contact.name, contact.locale) == ("new@example.org", "Newer", "zh-hans")
    assert contact.attributes == {"orders": 7, "vip": True, "since": "2024-01-02"}
    page = client.get(reverse("campaigns:contact", args=[contact.pk])).content.decode()
    assert 'value="2024-01-02"' in page and 'value="yes"' in page

    bad = client.post(
        reverse("campaigns:contact", args=[contact.pk]),
        {
            "name": "x",
            "attr_name": ["orders"],
            "attr_type": ["number"],
            "attr_value": ["lots"],
            "next": reverse("campaigns:contact", args=[contact.pk]),
        },  # fmt: skip
        follow=True,
    )
    assert "lots is not a number." in bad.content.decode()
    contact.refresh_from_db()
    assert contact.attributes["orders"] == 7

    client.post(reverse("campaigns:contact_erase", args=[contact.pk]))
    assert not Contact.objects.exists()


def test_a_list_page_adds_members_with_consent_and_double_opt_in_makes_them_pending(client, alice, workspace):
    client.force_login(alice)
    client.post(reverse("campaigns:lists"), {"name": "Plain"})
    client.post(reverse("campaigns:lists"), {"name": "Confirmed", "double_opt_in": "on"})
    plain = workspace.contact_lists.get(name="Plain")
    confirmed = workspace.contact_lists.get(name="Confirmed")
    assert (plain.double_opt_in, confirmed.double_opt_in) == (False, True)

    refused = client.post(
        reverse("campaigns:list_add_member", args=[plain.pk]), {"address": "a@example.org", "next": "/"}, follow=True
    )
    assert "has not opted in" in refused.content.decode()
    client.post(reverse("campaigns:list_add_member", args=[plain.pk]), {"address": "a@example.org", "consent": "yes"})
    client.post(reverse("campaigns:list_add_member", args=[confirmed.pk]), {"address": "b@example.org"})

    statuses = dict(ListMembership.objects.values_list("contact__address", "status"))
    assert statuses == {"a@example.org": "subscribed", "b@example.org": "pending"}
    page = client.get(reverse("campaigns:list", args=[confirmed.pk])).content.decode()
    assert "b@example.org" in page and "0 subscribed · 1 waiting for confirmation · 0 unsubscribed" in page


def test_exports_stream_every_column_and_guard_formulas(client, alice, workspace):
    client.force_login(alice)
    news = services.create_list(workspace=workspace, name="News")
    evil = services.create_contact(
        workspace=workspace, address="evil@example.org", name="=HYPERLINK(\"http://x.example\",\"click\")",
        attributes={"note": "+cmd|' /C calc'!A0", "score": -5, "tag": "@SUM(A1)", "vip": True}, consent_source="-form",
    )  # fmt: skip
    services.create_contact(workspace=workspace, address="plain@example.org", name="Plain", attributes={"city": "Oslo"})
    services.add_to_list(workspace=workspace, list_id=news.pk, contact_id=evil.pk, added_by=alice)

    response = client.get(reverse("campaigns:contacts_export"))
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    header = rows[0]
    assert header[:4] == ["address", "name", "locale", "consent"]
    assert header[-5:] == ["city", "note", "score", "tag", "vip"]
    evil_row = dict(zip(header, rows[1], strict=True))
    assert evil_row["name"] == '\'=HYPERLINK("http://x.example","click")'
    assert (evil_row["note"], evil_row["tag"], evil_row["score"], evil_row["vip"]) == (
        "'+cmd|' /C calc'!A0", "'@SUM(A1)", "-5", "true",
    )  # fmt: skip
    assert evil_row["consent_source"] == "'-form"
    assert dict(zip(header, rows[2], strict=True))["city"] == "Oslo"

    listed = client.get(reverse("campaigns:list_export", args=[news.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(listed.streaming_content).decode("utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == ["evil@example.org"]
    assert dict(zip(rows[0], rows[1], strict=True))["status"] == "subscribed"


def test_the_import_pages_upload_preview_start_show_progress_and_report(
    client, alice, workspace, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    news = services.create_list(workspace=workspace, name="News")
    data = "Email;Vorname;Punkte\nanna@example.org;Änna;3\nabuse@example.org;Abuse;1\nkaputt;X;2\n".encode("cp1252")
    response = client.post(reverse("campaigns:imports"), {"file": support.csv_upload(data, name="leute.csv")})
    upload = ContactImport.objects.get()
    assert response["Location"] == reverse("campaigns:import", args=[upload.pk])

    preview = client.get(response["Location"]).content.decode()
    assert "Windows-1252" in preview and "semicolon" in preview
    assert 'name="field_0"' in preview and "anna@example.org" in preview

    form = {"field_0": "email", "field_1": "name", "field_2": "attribute", "attribute_2": "points", "type_2": "number"}
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(
            reverse("campaigns:import_start", args=[upload.pk]),
            {**form, "list_id": news.pk, "consent": "yes", "consent_source": "trade fair"},
        )
    assert started.status_code == 302
    upload.refresh_from_db()
    assert upload.status == ContactImport.Status.DONE

    refresh = client.get(reverse("campaigns:import_progress", args=[upload.pk]), HTTP_HX_REQUEST="true")
    assert refresh["HX-Refresh"] == "true"
    report = client.get(reverse("campaigns:import", args=[upload.pk])).content.decode()
    assert "Download all 2 rows (CSV)" in report and "kaputt" in report
    refused = b"".join(client.get(reverse("campaigns:import_refused", args=[upload.pk])).streaming_content)
    assert [r[2] for r in csv.reader(io.StringIO(refused.decode("utf-8-sig")))][1:] == ["abuse@example.org", "kaputt"]
    assert Contact.objects.get(domain=workspace).attributes == {"points": 3}


def test_the_progress_bar_polls_every_second_while_the_import_runs(client, alice, workspace):
    client.force_login(alice)
    upload = upload_contact_import(workspace=workspace, user=alice, file=support.csv_upload("email\na@example.org\n"))
    ContactImport.objects.filter(pk=upload.pk).update(status="running", processed_rows=1, total_rows=4)

    page = client.get(reverse("campaigns:import", args=[upload.pk])).content.decode()
    partial = client.get(reverse("campaigns:import_progress", args=[upload.pk]), HTTP_HX_REQUEST="true")

    for html in (page, partial.content.decode()):
        assert 'hx-trigger="every 1s"' in html
        assert '<progress id="progress-bar" max="4" value="1">' in html
    assert partial.content.decode().lstrip().startswith('<div id="import-progress"')


def test_uploading_something_that_is_not_csv_shows_why(client, alice, workspace):
    client.force_login(alice)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    response = client.post(reverse("campaigns:imports"), {"file": support.csv_upload(png, name="contacts.csv")})

    assert response.status_code == 400
    assert "This is a PNG image, not a CSV file." in response.content.decode()
    assert not ContactImport.objects.exists()


def test_a_mapping_without_an_email_column_is_refused_on_the_page(client, alice, workspace):
    client.force_login(alice)
    upload = upload_contact_import(
        workspace=workspace, user=alice, file=support.csv_upload("email,name\na@example.org,A\n")
    )

    response = client.post(
        reverse("campaigns:import_start", args=[upload.pk]), {"field_0": "ignore", "field_1": "name"}
    )

    assert response.status_code == 400
    assert "Choose exactly one column of email addresses." in response.content.decode()
    upload.refresh_from_db()
    assert upload.status == ContactImport.Status.UPLOADED


def test_pages_render_in_chinese(client, alice, data):
    client.force_login(alice)
    client.cookies["django_language"] = "zh-hans"
    page = client.get(reverse("campaigns:lists"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "新建列表" in page


def test_a_contact_page_costs_the_same_queries_whatever_its_lists(client, alice, workspace, django_assert_num_queries):
    client.force_login(alice)
    contact = services.create_contact(workspace=workspace, address="a@example.org", consent_source="form")
    url = reverse("campaigns:contact", args=[contact.pk])

    def join(n):
        contact_list = services.create_list(workspace=workspace, name=f"List {n}")
        services.add_to_list(workspace=workspace, list_id=contact_list.pk, contact_id=contact.pk, added_by=alice)

    join(0)
    client.get(url)
    with django_assert_num_queries(9 + 1) as one_list:  # + 1: the user's preferences (time zone)
        client.get(url)
    for n in range(1, 5):
        join(n)
    with django_assert_num_queries(len(one_list.captured_queries)):
        page = client.get(url).content.decode()
    assert all(f"List {n}" in page for n in range(5))
