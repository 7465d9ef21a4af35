"""The preference page behind the unsubscribe link, and the marketer's suppression page."""

import re

import pytest
from django.test import Client

from campaigns.models import Contact, ListMembership
from campaigns.unsubscribe import make_token
from delivery.models import Suppression
from delivery.services import suppress_address
from tests.campaigns.unsubscribe_world import (  # noqa: F401 - fixtures
    READER,
    end_user_fixture,
    marketer_fixture,
    newsletter_fixture,
    offers_fixture,
    other_marketer_fixture,
    other_shop_fixture,
    reader_fixture,
    shop_admin_fixture,
    shop_fixture,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def link(shop, newsletter, reader):
    return f"/u/{make_token(domain_id=shop.pk, address=READER, contact_list_id=newsletter.pk)}/"


def csrf_token(page_html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page_html).group(1)


def choose(link: str, choice: str, *, language: str = "en"):
    """A person on the preference page: loads it (CSRF cookie and token), then presses a button."""
    browser = Client(enforce_csrf_checks=True, headers={"Accept-Language": language})
    page = browser.get(link)
    return browser.post(f"{link}choice/", {"choice": choice, "csrfmiddlewaretoken": csrf_token(page.content.decode())})


# --- the preference page ---------------------------------------------------------------------


def test_the_preference_page_shows_the_choices_and_changes_nothing(link):
    response = Client().get(link)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Unsubscribe from “Newsletter”" in html
    assert "Unsubscribe from all marketing mail from shop.example" in html
    assert not Suppression.objects.exists()
    assert ListMembership.objects.filter(status=ListMembership.Status.UNSUBSCRIBED).count() == 0


def test_the_preference_page_speaks_chinese(link):
    html = Client(headers={"Accept-Language": "zh-hans"}).get(link).content.decode()

    assert "退订" in html
    assert 'lang="zh-hans"' in html


def test_choosing_all_marketing_on_the_page_opts_the_contact_out(link, reader):
    response = choose(link, "all")

    assert response.status_code == 302
    entry = Suppression.objects.get()
    assert (entry.scope, entry.stream, entry.source) == ("stream", "bulk", Suppression.Source.PAGE)
    reader.refresh_from_db()
    assert reader.consent == Contact.Consent.OPTED_OUT
    assert "You receive no marketing mail from shop.example" in Client().get(response["Location"]).content.decode()


def test_the_pages_forms_need_the_csrf_token(link):
    response = Client(enforce_csrf_checks=True).post(f"{link}choice/", {"choice": "all"})

    assert response.status_code == 403
    assert not Suppression.objects.exists()


def test_resubscribe_removes_what_the_token_allowed_but_never_a_global_entry(link, reader, newsletter):
    choose(link, "list")
    choose(link, "all")
    suppress_address(address=READER, reason=Suppression.Reason.COMPLAINT)
    assert Suppression.objects.count() == 3

    choose(link, "resubscribe")

    assert list(Suppression.objects.values_list("scope", "reason")) == [("global", "complaint")]
    assert reader.memberships.get(contact_list=newsletter).status == ListMembership.Status.SUBSCRIBED
    reader.refresh_from_db()
    assert (reader.consent, reader.consent_source) == (Contact.Consent.OPTED_IN, "resubscribe (page)")


def test_resubscribe_leaves_a_marketers_entry(link, shop):
    suppress_address(
        address=READER, reason=Suppression.Reason.MANUAL, source=Suppression.Source.MARKETER,
        scope=Suppression.Scope.STREAM, domain=shop, stream="bulk",
    )  # fmt: skip

    choose(link, "resubscribe")

    assert Suppression.objects.filter(reason=Suppression.Reason.MANUAL).exists()


# --- the suppression page ----------------------------------------------------------------------


@pytest.fixture
def entries(shop, newsletter, reader, other_shop):
    """shop.example's LIST and STREAM entries, GLOBAL ones for its contact and a stranger, and other.example's."""
    make = suppress_address
    return {
        "list": make(address=READER, reason="unsubscribe", scope="list", contact_list=newsletter),
        "stream": make(address="left@remote.example", reason="unsubscribe", scope="stream", domain=shop, stream="bulk"),
        "global": make(address=READER, reason="hard_bounce", detail="550 5.1.1 gone"),
        "stranger": make(address="stranger@remote.example", reason="complaint"),
        "theirs": make(
            address="theirs@remote.example", reason="manual", scope="stream", domain=other_shop, stream="bulk"
        ),
    }


def shown(response) -> set[int]:
    return {int(pk) for pk in re.findall(r'data-suppression="(\d+)"', response.content.decode())}


def test_a_marketer_sees_the_workspaces_entries_and_the_global_ones_of_its_contacts(
    client, marketer, entries, django_assert_max_num_queries
):
    client.force_login(marketer)
    with django_assert_max_num_queries(12):
        response = client.get("/marketing/suppressions/")

    assert response.status_code == 200
    assert shown(response) == {entries["list"].pk, entries["stream"].pk, entries["global"].pk}
    assert "Remove" not in response.content.decode()


def test_the_page_searches_by_address_and_filters_by_scope_and_reason(client, marketer, entries):
    client.force_login(marketer)

    assert shown(client.get("/marketing/suppressions/", {"q": "LEFT@"})) == {entries["stream"].pk}
    assert shown(client.get("/marketing/suppressions/", {"scope": "list"})) == {entries["list"].pk}
    assert shown(client.get("/marketing/suppressions/", {"reason": "hard_bounce"})) == {entries["global"].pk}
    rows = client.get("/marketing/suppressions/", {"scope": "global"}, headers={"HX-Request": "true"})
    assert shown(rows) == {entries["global"].pk} and "<html" not in rows.content.decode()


def test_the_page_is_paginated(client, marketer, shop):
    for n in range(51):
        suppress_address(address=f"p{n}@remote.example", reason="manual", scope="stream", domain=shop, stream="bulk")
    client.force_login(marketer)

    first, second = client.get("/marketing/suppressions/"), client.get("/marketing/suppressions/", {"page": 2})

    assert (len(shown(first)), len(shown(second))) == (50, 1)


def test_mallory_of_another_workspace_sees_nothing_of_alices(client, other_marketer, entries):
    client.force_login(other_marketer)

    response = client.get("/marketing/suppressions/")

    assert shown(response) == {entries["theirs"].pk}


def test_a_marketer_cannot_remove_an_entry(client, marketer, entries):
    client.force_login(marketer)

    response = client.post(f"/marketing/suppressions/{entries['stream'].pk}/remove/")

    assert response.status_code == 403
    assert Suppression.objects.filter(pk=entries["stream"].pk).exists()


def test_an_admin_removes_an_entry_and_sees_every_global_one(client, shop_admin, entries):
    client.force_login(shop_admin)
    page = client.get("/marketing/suppressions/")
    assert {entries["global"].pk, entries["stranger"].pk} <= shown(page)
    assert entries["theirs"].pk not in shown(page)

    response = client.post(f"/marketing/suppressions/{entries['global'].pk}/remove/")

    assert response.status_code == 302
    assert not Suppression.objects.filter(pk=entries["global"].pk).exists()


def test_an_admin_cannot_remove_another_workspaces_entry_from_this_page(client, shop_admin, entries):
    client.force_login(shop_admin)

    response = client.post(f"/marketing/suppressions/{entries['theirs'].pk}/remove/")

    assert response.status_code == 404
    assert Suppression.objects.filter(pk=entries["theirs"].pk).exists()


def test_a_marketer_adds_a_stream_or_list_entry_for_the_workspace_only(
    client, marketer, shop, newsletter, other_marketer, other_shop
):
    client.force_login(marketer)

    client.post("/marketing/suppressions/add/", {"address": "Ann@Remote.example", "target": "transactional"})
    client.post("/marketing/suppressions/add/", {"address": "ann@remote.example", "target": f"list:{newsletter.pk}"})

    assert set(Suppression.objects.values_list("scope", "stream", "domain", "contact_list", "source")) == {
        ("stream", "transactional", shop.pk, None, "marketer"),
        ("list", "", shop.pk, newsletter.pk, "marketer"),
    }
    client.force_login(other_marketer)
    response = client.post(
        "/marketing/suppressions/add/", {"address": "x@remote.example", "target": f"list:{newsletter.pk}"}
    )
    assert response.status_code == 404
    assert Suppression.objects.count() == 2


def test_a_bad_address_is_reported_on_the_page(client, marketer, shop):
    client.force_login(marketer)

    response = client.post("/marketing/suppressions/add/", {"address": "not an address", "target": "bulk"}, follow=True)

    assert "is not an email address" in response.content.decode()
    response = client.post(
        "/marketing/suppressions/add/", {"address": "a@remote.example", "target": "all"}, follow=True
    )
    assert "Choose what the address is suppressed for." in response.content.decode()
    assert not Suppression.objects.exists()


def test_an_end_user_gets_403(client, end_user):
    client.force_login(end_user)

    assert client.get("/marketing/suppressions/").status_code == 403
    assert (
        client.post("/marketing/suppressions/add/", {"address": "a@remote.example", "target": "bulk"}).status_code
        == 403
    )
