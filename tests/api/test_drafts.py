import pytest

from mailboxes.models import Folder, MailboxItem, Message
from tests.api.conftest import assert_error
from tests.api.test_send import upload


def create_draft(api, **fields):
    body = {"to": ["bob@example.test"], "subject": "Plan", "body": "First version", **fields}
    response = api.post("/api/emails/drafts", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_create_and_read_a_draft(api):
    draft = create_draft(api, bcc=["carol@example.test"])
    assert draft["folder"] == "drafts"
    assert draft["status"] == "draft"
    assert draft["text"].strip() == "First version"
    assert [a["address"] for a in draft["bcc"]] == ["carol@example.test"]
    assert api.get(f"/api/emails/drafts/{draft['id']}").json()["subject"] == "Plan"


def test_a_draft_may_have_no_recipients_yet(api):
    assert create_draft(api, to=[])["to"] == []


def test_put_replaces_the_draft(api):
    draft = create_draft(api, cc=["carol@example.test"])
    response = api.put(f"/api/emails/drafts/{draft['id']}", {"subject": "New plan"}, format="json")
    assert response.status_code == 200
    data = response.json()
    assert (data["id"], data["subject"], data["to"], data["cc"]) == (draft["id"], "New plan", [], [])


def test_patch_changes_only_the_fields_given(api):
    file_id = upload(api)["id"]
    draft = create_draft(api, cc=["carol@example.test"], attachments=[file_id])
    response = api.patch(f"/api/emails/drafts/{draft['id']}", {"body": "Second version"}, format="json")
    assert response.status_code == 200
    data = response.json()
    assert data["subject"] == "Plan"
    assert [a["address"] for a in data["to"]] == ["bob@example.test"]
    assert [a["address"] for a in data["cc"]] == ["carol@example.test"]
    assert data["text"].strip() == "Second version"
    assert [a["filename"] for a in data["attachments"]] == ["invoice.pdf"]


def test_patch_can_replace_the_attachments(api):
    draft = create_draft(api, attachments=[upload(api)["id"]])
    other = upload(api, name="other.txt", content=b"other", content_type="text/plain")["id"]
    data = api.patch(f"/api/emails/drafts/{draft['id']}", {"attachments": [other]}, format="json").json()
    assert [a["filename"] for a in data["attachments"]] == ["other.txt"]


def test_delete_discards_the_draft(api):
    draft = create_draft(api)
    assert api.delete(f"/api/emails/drafts/{draft['id']}").status_code == 204
    assert not MailboxItem.objects.filter(pk=draft["id"]).exists()
    assert_error(api.get(f"/api/emails/drafts/{draft['id']}"), 404, "draft_not_found")


def test_send_a_draft(api, bob):
    draft = create_draft(api)
    response = api.post(f"/api/emails/drafts/{draft['id']}/send")
    assert response.status_code == 202
    assert response.json()["id"] == draft["id"]
    item = MailboxItem.objects.get(pk=draft["id"])
    assert (item.folder, item.message.status) == (Folder.SENT, Message.Status.QUEUED)
    # Sent: it is no longer a draft.
    assert_error(api.post(f"/api/emails/drafts/{draft['id']}/send"), 404, "draft_not_found")


def test_sending_a_draft_without_recipients_is_400(api):
    draft = create_draft(api, to=[])
    assert_error(api.post(f"/api/emails/drafts/{draft['id']}/send"), 400, "no_recipients", "to")


def test_draft_validation_errors(api):
    assert_error(api.post("/api/emails/drafts", {"to": "bob"}, format="json"), 400, "invalid", "to")
    assert_error(api.post("/api/emails/drafts", {"to": ["not an address"]}, format="json"), 400, field="to")
    draft = create_draft(api)
    assert_error(
        api.patch(f"/api/emails/drafts/{draft['id']}", {"subject": "a\r\nBcc: x@y"}, format="json"),
        400,
        "header_injection",
        "subject",
    )


def test_a_message_that_is_not_a_draft_is_no_draft(api, alice):
    sent = api.post("/api/emails/send", {"to": ["bob@example.test"]}, format="json").json()
    assert_error(api.patch(f"/api/emails/drafts/{sent['id']}", {"subject": "x"}, format="json"), 404)
    assert_error(api.delete(f"/api/emails/drafts/{sent['id']}"), 404)


@pytest.mark.parametrize(
    "method, suffix, body",
    [
        ("get", "", None),
        ("put", "", {"subject": "mine now"}),
        ("patch", "", {"subject": "mine now"}),
        ("delete", "", None),
        ("post", "/send", None),
    ],
)
def test_another_users_draft_is_404_for_every_method(api, mallory_api, method, suffix, body):
    draft = create_draft(api)
    response = getattr(mallory_api, method)(f"/api/emails/drafts/{draft['id']}{suffix}", body, format="json")
    assert_error(response, 404, "draft_not_found")
    after = api.get(f"/api/emails/drafts/{draft['id']}").json()
    assert (after["subject"], after["folder"]) == ("Plan", "drafts")


def test_patch_keeps_display_names_with_commas_and_quotes(api):
    draft = create_draft(api, to=['"Builder, Bob \\"The\\"" <bob@example.test>'])
    data = api.patch(f"/api/emails/drafts/{draft['id']}", {"subject": "Changed"}, format="json").json()
    assert data["to"] == [{"name": 'Builder, Bob "The"', "address": "bob@example.test"}]
