"""Renaming, recolouring and deleting a label from the webmail (sidebar menu, label page, edit page)."""

import pytest
from django.urls import reverse

from mailboxes.models import Label
from mailboxes.services import add_labels, create_label
from mailboxes.services.labels import PALETTE

pytestmark = pytest.mark.django_db


def test_sidebar_has_a_menu_per_label(alice_client, alice):
    work = create_label(user=alice, name="Work")
    html = alice_client.get(reverse("mailboxes:inbox")).content.decode()
    assert reverse("mailboxes:edit_label", args=[work.pk]) in html
    assert f'action="{reverse("mailboxes:delete_label", args=[work.pk])}"' in html
    assert "Options for the label “Work”" in html


def test_label_page_offers_the_palette_with_the_current_colour_checked(alice_client, alice):
    work = create_label(user=alice, name="Work", color="#1d4ed8")
    html = alice_client.get(reverse("mailboxes:label", args=[work.pk])).content.decode()
    assert 'value="#1d4ed8" checked' in html
    assert html.count('name="color"') == len(PALETTE)
    assert "Delete label" in html  # the existing button stays


def test_rename_and_recolour(alice_client, alice):
    work = create_label(user=alice, name="Work")
    response = alice_client.post(
        reverse("mailboxes:edit_label", args=[work.pk]), {"name": "Office", "color": "#be185d"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("mailboxes:label", args=[work.pk])
    work.refresh_from_db()
    assert (work.name, work.color) == ("Office", "#be185d")
    page = alice_client.get(response["Location"]).content.decode()
    assert "Label “Office” saved." in page


def test_a_colour_set_elsewhere_stays_offered(alice_client, alice):
    odd = create_label(user=alice, name="Odd", color="#123456")
    html = alice_client.get(reverse("mailboxes:edit_label", args=[odd.pk])).content.decode()
    assert 'value="#123456" checked' in html and "Current colour" in html


def test_rename_to_an_existing_name_in_another_case_is_refused(alice_client, alice):
    create_label(user=alice, name="Work")
    other = create_label(user=alice, name="Home")
    response = alice_client.post(reverse("mailboxes:edit_label", args=[other.pk]), {"name": "WORK", "color": ""})
    assert response.status_code == 400
    html = response.content.decode()
    assert "already have a label" in html and 'aria-invalid="true"' in html
    other.refresh_from_db()
    assert other.name == "Home"


def test_another_users_label_with_the_same_name_is_no_conflict(alice_client, alice, bob):
    create_label(user=bob, name="Office")
    work = create_label(user=alice, name="Work")
    response = alice_client.post(reverse("mailboxes:edit_label", args=[work.pk]), {"name": "office"})
    assert response.status_code == 302
    work.refresh_from_db()
    assert work.name == "office"


@pytest.mark.parametrize("color", ["red", "#fff", "javascript:alert(1)"])
def test_a_bad_colour_is_refused(alice_client, alice, color):
    work = create_label(user=alice, name="Work")
    response = alice_client.post(reverse("mailboxes:edit_label", args=[work.pk]), {"name": "Work", "color": color})
    assert response.status_code == 400
    work.refresh_from_db()
    assert work.color == "#64748b"


def test_another_users_label_is_404(mallory_client, alice):
    work = create_label(user=alice, name="Work")
    edit = reverse("mailboxes:edit_label", args=[work.pk])
    assert mallory_client.get(edit).status_code == 404
    assert mallory_client.post(edit, {"name": "Pwned", "color": "#b91c1c"}).status_code == 404
    assert mallory_client.post(reverse("mailboxes:delete_label", args=[work.pk])).status_code == 404
    assert mallory_client.get(reverse("mailboxes:edit_label", args=[999999])).status_code == 404
    work.refresh_from_db()
    assert work.name == "Work"


def test_delete_from_the_sidebar_keeps_the_conversations(alice_client, alice, inbox_item):
    work = create_label(user=alice, name="Work")
    add_labels(user=alice, item_ids=[inbox_item.pk], label_ids=[work.pk])
    response = alice_client.post(reverse("mailboxes:delete_label", args=[work.pk]))
    assert response.status_code == 302
    assert not Label.objects.filter(pk=work.pk).exists()
    inbox_item.refresh_from_db()
    assert inbox_item.folder == "inbox"


def test_edit_needs_csrf(csrf_client, alice):
    work = create_label(user=alice, name="Work")
    response = csrf_client.post(reverse("mailboxes:edit_label", args=[work.pk]), {"name": "X"})
    assert response.status_code == 403


def test_next_only_goes_to_this_site(alice_client, alice):
    work = create_label(user=alice, name="Work")
    response = alice_client.post(
        reverse("mailboxes:edit_label", args=[work.pk]), {"name": "Work", "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("mailboxes:label", args=[work.pk])
