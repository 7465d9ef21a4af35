import pytest

from mailboxes.models import Label, MailboxItem
from mailboxes.services import create_label
from tests.api.conftest import assert_error
from tests.factories import deliver, raw_email, send_and_deliver


@pytest.fixture
def mail(alice):
    return [deliver(raw_email(to="alice@example.test", subject=f"Mail {n}"), alice)[0] for n in range(3)]


def act(api, item, **body):
    return api.post(f"/api/emails/{item.pk}/actions", body, format="json")


def state(item):
    item.refresh_from_db()
    return item


def test_read_unread_star_unstar(api, mail):
    assert act(api, mail[0], action="read").json()["is_read"] is True
    assert act(api, mail[0], action="unread").json()["is_read"] is False
    assert act(api, mail[0], action="star").json()["is_starred"] is True
    assert act(api, mail[0], action="unstar").json()["is_starred"] is False


def test_archive_trash_restore_move(api, mail):
    assert act(api, mail[0], action="archive").json()["folder"] == "archive"
    assert act(api, mail[0], action="trash").json()["folder"] == "trash"
    assert act(api, mail[0], action="restore").json()["folder"] == "archive"
    assert act(api, mail[0], action="move", folder="inbox").json()["folder"] == "inbox"


def test_spam_and_not_spam(api, mail):
    assert act(api, mail[0], action="spam").json()["folder"] == "spam"
    assert act(api, mail[0], action="not_spam").json()["folder"] == "inbox"


def test_delete_forever_only_from_trash(api, mail):
    assert_error(api.delete(f"/api/emails/{mail[0].pk}"), 400, "folder_not_allowed", "folder")
    act(api, mail[0], action="trash")
    assert api.delete(f"/api/emails/{mail[0].pk}").status_code == 204
    assert not MailboxItem.objects.filter(pk=mail[0].pk).exists()


def test_action_validation(api, mail):
    assert_error(act(api, mail[0], action="explode"), 400, "invalid", "action")
    assert_error(act(api, mail[0], action="move"), 400, "invalid", "folder")
    assert_error(act(api, mail[0], action="move", folder="drafts"), 400, "folder_not_allowed", "folder")
    assert_error(act(api, mail[0], action="add_labels"), 400, "invalid", "labels")
    assert_error(act(api, mail[0], action="not_spam"), 400, "folder_not_allowed")
    assert_error(api.post(f"/api/emails/{mail[0].pk}/actions", [], format="json"), 400, "invalid")


def test_bulk_actions_change_all_or_none(api, mail, mallory):
    ids = [i.pk for i in mail]
    response = api.post("/api/emails/actions", {"action": "archive", "ids": ids}, format="json")
    assert response.json() == {"updated": 3}
    assert {state(i).folder for i in mail} == {"archive"}

    theirs = deliver(raw_email(to="mallory@example.test"), mallory)[0]
    response = api.post("/api/emails/actions", {"action": "trash", "ids": [*ids, theirs.pk]}, format="json")
    assert_error(response, 404, "item_not_found")
    assert {state(i).folder for i in mail} == {"archive"}
    assert state(theirs).folder == "inbox"


def test_bulk_validation(api, mail):
    assert_error(api.post("/api/emails/actions", {"action": "read", "ids": []}, format="json"), 400, field="ids")
    assert_error(api.post("/api/emails/actions", {"action": "read"}, format="json"), 400, field="ids")
    assert_error(api.post("/api/emails/actions", {"action": "read", "ids": [0]}, format="json"), 400, field="ids.0")


def test_bulk_labels(api, alice, mail):
    label = create_label(user=alice, name="Work")
    ids = [i.pk for i in mail[:2]]
    api.post("/api/emails/actions", {"action": "add_labels", "ids": ids, "labels": [label.pk]}, format="json")
    assert set(label.items.values_list("pk", flat=True)) == set(ids)
    api.post("/api/emails/actions", {"action": "remove_labels", "ids": ids, "labels": [label.pk]}, format="json")
    assert not label.items.exists()


# --- labels on one message ---------------------------------------------------------


def test_add_and_remove_labels_on_a_message(api, alice, mail):
    work, home = create_label(user=alice, name="Work"), create_label(user=alice, name="Home")
    data = api.post(f"/api/emails/{mail[0].pk}/labels", {"add": [work.pk, home.pk]}, format="json").json()
    assert [label["name"] for label in data["labels"]] == ["Home", "Work"]
    data = api.post(f"/api/emails/{mail[0].pk}/labels", {"remove": [home.pk]}, format="json").json()
    assert [label["name"] for label in data["labels"]] == ["Work"]


def test_labels_on_a_message_validation(api, alice, mallory, mail):
    assert_error(api.post(f"/api/emails/{mail[0].pk}/labels", {}, format="json"), 400, "invalid", "add")
    theirs = create_label(user=mallory, name="Mine")
    response = api.post(f"/api/emails/{mail[0].pk}/labels", {"add": [theirs.pk]}, format="json")
    assert_error(response, 404, "label_not_found")
    assert not theirs.items.exists()


# --- the labels themselves ----------------------------------------------------------


def test_label_crud(api, alice):
    created = api.post("/api/labels", {"name": "Invoices", "color": "#16A34A"}, format="json")
    assert created.status_code == 201
    label = created.json()
    assert label["color"] == "#16a34a"
    assert [x["name"] for x in api.get("/api/labels").json()] == ["Invoices"]
    assert api.get(f"/api/labels/{label['id']}").json()["name"] == "Invoices"
    updated = api.patch(f"/api/labels/{label['id']}", {"name": "Bills"}, format="json").json()
    assert (updated["name"], updated["color"]) == ("Bills", "#16a34a")
    assert api.delete(f"/api/labels/{label['id']}").status_code == 204
    assert not Label.objects.exists()


def test_label_validation(api, alice):
    assert_error(api.post("/api/labels", {}, format="json"), 400, "invalid", "name")
    assert_error(api.post("/api/labels", {"name": "  "}, format="json"), 400, field="name")
    assert_error(api.post("/api/labels", {"name": "x", "color": "red"}, format="json"), 400, "invalid_label", "color")
    api.post("/api/labels", {"name": "Work"}, format="json")
    assert_error(api.post("/api/labels", {"name": "work"}, format="json"), 409, "label_exists", "name")


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_another_users_label_is_404_for_every_method(api, mallory_api, alice, method):
    label = create_label(user=alice, name="Private")
    response = getattr(mallory_api, method)(f"/api/labels/{label.pk}", {"name": "Stolen"}, format="json")
    assert_error(response, 404, "label_not_found")
    label.refresh_from_db()
    assert label.name == "Private"


@pytest.mark.parametrize("action", ["read", "star", "archive", "trash", "spam", "move"])
def test_another_users_message_cannot_be_changed(mallory_api, mail, action):
    response = act(mallory_api, mail[0], action=action, folder="archive")
    assert_error(response, 404, "item_not_found")
    bulk = mallory_api.post(
        "/api/emails/actions", {"action": action, "ids": [mail[0].pk], "folder": "archive"}, format="json"
    )
    assert_error(bulk, 404, "item_not_found")
    item = state(mail[0])
    assert (item.folder, item.is_read, item.is_starred) == ("inbox", False, False)


def test_thread_action_scoped_to_the_inbox_leaves_the_sent_copy_in_sent(api, alice, bob):
    first = deliver(raw_email(to="alice@example.test", subject="Plans", message_id="<plans@remote.example>"), alice)[0]
    send_and_deliver(user=alice, to=["bob@example.test"], subject="Re: Plans", in_reply_to_item_id=first.pk)
    deliver(raw_email(to="alice@example.test", subject="Re: Plans", in_reply_to="<plans@remote.example>"), alice)
    response = api.post(
        f"/api/threads/{first.thread_id}/actions", {"action": "archive", "scope": "inbox"}, format="json"
    )
    assert response.status_code == 200 and response.json() == {"updated": 2}
    folders = MailboxItem.objects.filter(user=alice, thread_id=first.thread_id).values_list("folder", flat=True)
    assert sorted(folders) == ["archive", "archive", "sent"]


def test_thread_action_on_someone_elses_conversation_is_404(mallory_api, mail):
    response = mallory_api.post(f"/api/threads/{mail[0].thread_id}/actions", {"action": "trash"}, format="json")
    assert_error(response, 404)
    assert state(mail[0]).folder == "inbox"


def test_thread_action_names_a_bad_scope(api, mail):
    response = api.post(f"/api/threads/{mail[0].thread_id}/actions", {"action": "trash", "scope": "x"}, format="json")
    assert_error(response, 400, field="scope")
