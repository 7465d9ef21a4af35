"""Compose's pages: the panel fragment, identities and signatures in the form, the identities settings page."""

import pytest
from django.urls import reverse

from accounts.services import add_alias
from delivery.services import send_message
from mailboxes.models import Folder, Identity, MailboxItem
from mailboxes.services.identities import identities_of, update_identity
from tests.factories import deliver, raw_email

pytestmark = pytest.mark.django_db


@pytest.fixture
def alias(alice):
    add_alias(user=alice, address="sales@example.test")
    rows = {i.address.email: i for i in identities_of(user=alice)}
    update_identity(user=alice, identity_id=rows["alice@example.test"].pk, display_name="", signature="Alice\nHome")
    update_identity(user=alice, identity_id=rows["sales@example.test"].pk, display_name="Sales", signature="Sales desk")
    return rows["sales@example.test"]


def _value(html, field):
    return html.split(f'id="id_{field}" name="{field}" value="')[1].split('"')[0]


def _body(html):
    return html.split('<textarea id="id_body" name="body" rows="16">\n')[1].split("</textarea>")[0]


def test_the_panel_gets_the_form_alone_and_the_page_stays_whole(alice_client):
    panel = alice_client.get(reverse("mailboxes:compose"), HTTP_X_COMPOSE_PANEL="1")
    html = panel.content.decode()
    assert "data-compose-panel" in html and 'id="compose-form"' in html and "<html" not in html
    assert "data-panel-expand" in html and "data-panel-close" in html
    page = alice_client.get(reverse("mailboxes:compose")).content.decode()
    assert "<html" in page and "data-compose-panel" not in page and 'id="compose-form"' in page
    assert "X-Compose-Panel" in panel["Vary"]


def test_a_from_selector_only_with_more_than_one_identity(alice_client, alice):
    html = alice_client.get(reverse("mailboxes:compose")).content.decode()
    assert 'id="id_from"' not in html and 'name="from_address" value="alice@example.test"' in html
    add_alias(user=alice, address="sales@example.test")
    html = alice_client.get(reverse("mailboxes:compose")).content.decode()
    assert 'id="id_from"' in html and '<option value="sales@example.test"' in html


def test_a_new_message_starts_with_the_default_identitys_signature(alice_client, alias):
    html = alice_client.get(reverse("mailboxes:compose")).content.decode()
    assert _body(html) == "\n\n-- \nAlice\nHome"
    assert 'data-signature="-- \nSales desk"' in html
    assert '<option value="alice@example.test" data-signature="-- \nAlice\nHome" selected>' in html


def test_a_reply_is_from_the_address_it_was_sent_to_with_the_signature_above_the_quote(alice_client, alice, alias):
    original = deliver(
        raw_email(subject="Order", sender="Bob <bob@remote.example>", to="sales@example.test", body="Ten boxes"),
        alice,
    )[0]
    html = alice_client.get(reverse("mailboxes:compose"), {"reply": original.pk}).content.decode()
    assert '<option value="sales@example.test" data-signature="-- \nSales desk" selected>' in html
    body = _body(html)
    assert body.startswith("\n\n-- \nSales desk\n\nOn ") and body.index("Sales desk") < body.index("&gt; Ten boxes")
    assert 'data-quote-start="On ' in html


def test_a_draft_reopens_with_its_identity_and_no_second_signature(alice_client, alice, alias):
    alice_client.post(
        reverse("mailboxes:save_draft"),
        {"from_address": "sales@example.test", "to": "bob@remote.example, ", "subject": "Kept",
         "body": "Hello\n\n-- \nSales desk"},
    )  # fmt: skip
    draft = MailboxItem.objects.get(user=alice, folder=Folder.DRAFTS)
    html = alice_client.get(reverse("mailboxes:compose"), {"draft": draft.pk}).content.decode()
    assert '<option value="sales@example.test" data-signature="-- \nSales desk" selected>' in html
    assert _value(html, "to") == "bob@remote.example" and _value(html, "subject") == "Kept"
    assert _body(html).count("Sales desk") == 1


def test_a_draft_on_its_own_opens_ready_to_edit_from_drafts(alice_client, alice):
    alice_client.post(reverse("mailboxes:save_draft"), {"subject": "Unfinished", "body": "to do"})
    draft = MailboxItem.objects.get(user=alice, folder=Folder.DRAFTS)
    url = reverse("mailboxes:thread", args=[draft.thread_id])
    response = alice_client.get(url, {"view": "drafts"})
    assert response.status_code == 302 and response["Location"] == f"/mail/compose/?draft={draft.pk}"
    assert alice_client.get(url).status_code == 200  # from elsewhere it is still a conversation


def test_send_from_the_panel_goes_back_to_the_page_it_was_written_on(alice_client, alice):
    response = alice_client.post(
        reverse("mailboxes:send"), {"to": "bob@remote.example", "subject": "Back", "next": "/mail/f/sent/"}
    )
    assert response.status_code == 302 and response["Location"] == "/mail/f/sent/"
    response = alice_client.post(
        reverse("mailboxes:send"), {"to": "bob@remote.example", "subject": "Away", "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("mailboxes:inbox")


def test_the_panel_saves_before_closing_and_learns_the_draft_id(alice_client, alice):
    response = alice_client.post(
        reverse("mailboxes:save_draft"), {"subject": "Closing", "to": "bo@"}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 400 and response.json()["field"] == "to"
    response = alice_client.post(
        reverse("mailboxes:save_draft"), {"subject": "Closing"}, HTTP_ACCEPT="application/json"
    )
    draft = MailboxItem.objects.get(user=alice, folder=Folder.DRAFTS)
    assert response.json() == {"draft_id": draft.pk}


def test_suggestions_are_json_for_the_last_address(alice_client, alice, inbox_item):
    response = alice_client.get(reverse("mailboxes:suggest"), {"q": "carol@example.test, Bui"})
    assert response.json()["suggestions"][0]["address"] == "bob@remote.example"
    assert alice_client.get(reverse("mailboxes:suggest"), {"q": "bob@remote.example, "}).json() == {"suggestions": []}


def test_mallory_gets_no_suggestions_from_alices_mail(mallory_client, inbox_item):
    assert mallory_client.get(reverse("mailboxes:suggest"), {"q": "bob"}).json() == {"suggestions": []}


def test_identities_settings_page_saves_names_signatures_and_the_default(alice_client, alice, alias):
    page = alice_client.get(reverse("mailboxes:identities"))
    html = page.content.decode()
    assert page.status_code == 200 and 'aria-current="page"' in html and "sales@example.test" in html
    mine = {i.address.email: i for i in identities_of(user=alice)}
    primary, sales = mine["alice@example.test"], mine["sales@example.test"]
    response = alice_client.post(
        reverse("mailboxes:identities"),
        {f"name-{primary.pk}": "Alice L.", f"signature-{primary.pk}": "A.", f"name-{sales.pk}": "Sales",
         f"signature-{sales.pk}": "Call us", "default": sales.pk},
    )  # fmt: skip
    assert response.status_code == 302
    sales.refresh_from_db()
    assert (sales.display_name, sales.signature, sales.is_default) == ("Sales", "Call us", True)
    compose = alice_client.get(reverse("mailboxes:compose")).content.decode()
    assert '<option value="sales@example.test" data-signature="-- \nCall us" selected>' in compose


def test_identities_settings_shows_an_error_and_keeps_what_was_typed(alice_client, alice):
    mine = identities_of(user=alice)[0]
    response = alice_client.post(
        reverse("mailboxes:identities"), {f"name-{mine.pk}": "Typed", f"signature-{mine.pk}": "x" * 2001}
    )
    assert response.status_code == 400 and 'role="alert"' in response.content.decode()
    assert 'value="Typed"' in response.content.decode()
    mine.refresh_from_db()
    assert mine.display_name == ""


def test_identities_of_another_user_are_404_and_untouched(mallory_client, alice, alias):
    response = mallory_client.post(reverse("mailboxes:identities"), {"default": alias.pk})
    assert response.status_code == 404
    assert not Identity.objects.get(pk=alias.pk).is_default


def test_identities_settings_need_csrf_and_sign_in(csrf_client, client, alice):
    assert csrf_client.post(reverse("mailboxes:identities"), {}).status_code == 403
    assert client.get(reverse("mailboxes:identities")).status_code == 302


def test_following_up_on_my_own_message_keeps_its_from(alice_client, alice, alias):
    message = send_message(user=alice, from_address="sales@example.test", to=["bob@remote.example"], subject="Quote")
    sent = MailboxItem.objects.get(user=alice, message=message)
    html = alice_client.get(reverse("mailboxes:compose"), {"reply": sent.pk}).content.decode()
    assert '<option value="sales@example.test" data-signature="-- \nSales desk" selected>' in html
    assert _value(html, "to") == "bob@remote.example"
