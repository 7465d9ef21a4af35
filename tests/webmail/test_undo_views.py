"""The undo protocol: HX-Trigger "mail:done" over htmx, a message with "Undo" after a plain form POST."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from mailboxes import services
from mailboxes.models import Folder, MailboxItem, UndoableAction
from tests.factories import LabelFactory, deliver, raw_email

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def _mail(user, subject="Invoice"):
    return deliver(raw_email(subject=subject, to="alice@example.test"), user)[0]


def _done(response):
    assert response.status_code == 204, response.content
    return json.loads(response["HX-Trigger"])["mail:done"]


def _folder(item):
    return MailboxItem.objects.get(pk=item.pk).folder


def test_archive_over_htmx_answers_with_the_message_and_the_undo_url(alice_client, alice):
    item = _mail(alice)
    response = alice_client.post(
        reverse("mailboxes:bulk_action"), {"action": "archive", "thread": item.thread_id, "view": "inbox"}, **HTMX
    )
    done = _done(response)
    action = UndoableAction.objects.get(user=alice)
    assert done == {"message": "Conversation archived", "undo": reverse("mailboxes:undo_action", args=[action.pk])}
    assert _folder(item) == Folder.ARCHIVE
    undone = alice_client.post(done["undo"], **HTMX)
    assert undone.status_code == 204
    assert json.loads(undone["HX-Trigger"])["mail:undone"]["count"] == 1
    assert _folder(item) == Folder.INBOX


def test_messages_are_pluralised_and_name_the_label(alice_client, alice):
    items = [_mail(alice, f"Bill {n}") for n in range(3)]
    threads = [i.thread_id for i in items]
    trashed = alice_client.post(
        reverse("mailboxes:bulk_action"), {"action": "trash", "thread": threads, "view": "inbox"}, **HTMX
    )
    assert _done(trashed)["message"] == "3 conversations moved to Trash"
    label = LabelFactory(user=alice, name="Receipts")
    labelled = alice_client.post(
        reverse("mailboxes:bulk_action"),
        {"action": "label", "label": label.pk, "thread": threads[0], "view": "trash"},
        **HTMX,
    )
    assert _done(labelled)["message"] == "Label “Receipts” applied"


def test_messages_are_translated(alice_client, alice):
    item = _mail(alice)
    response = alice_client.post(
        reverse("mailboxes:bulk_action"),
        {"action": "archive", "thread": item.thread_id, "view": "inbox"},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
        **HTMX,
    )
    assert _done(response)["message"] == "1 个会话已归档"


def test_a_rows_button_acts_on_its_row_only(alice_client, alice):
    mine, checked = _mail(alice, "Row"), _mail(alice, "Checked")
    response = alice_client.post(
        reverse("mailboxes:bulk_action"),
        {"row": f"archive:{mine.thread_id}", "thread": checked.thread_id, "view": "inbox"},
        **HTMX,
    )
    assert _done(response)["message"] == "Conversation archived"
    assert (_folder(mine), _folder(checked)) == (Folder.ARCHIVE, Folder.INBOX)


def test_star_from_the_row(alice_client, alice):
    item = _mail(alice)
    page = alice_client.get(reverse("mailboxes:inbox")).content.decode()
    assert f'name="row" value="star:{item.thread_id}"' in page
    assert 'aria-pressed="false"' in page
    response = alice_client.post(reverse("mailboxes:bulk_action"), {"row": f"star:{item.thread_id}"}, **HTMX)
    assert _done(response)["message"] == "Conversation starred"
    assert MailboxItem.objects.get(pk=item.pk).is_starred
    page = alice_client.get(reverse("mailboxes:inbox")).content.decode()
    assert f'name="row" value="unstar:{item.thread_id}"' in page


def test_without_javascript_the_next_page_offers_undo(alice_client, alice):
    item = _mail(alice)
    response = alice_client.post(
        reverse("mailboxes:bulk_action"),
        {"action": "archive", "thread": item.thread_id, "view": "inbox", "next": "/mail/"},
        follow=True,
    )
    action = UndoableAction.objects.get(user=alice)
    page = response.content.decode()
    assert "Conversation archived" in page
    undo_url = reverse("mailboxes:undo_action", args=[action.pk])
    assert f'<form method="post" action="{undo_url}"' in page
    back = alice_client.post(undo_url, {"next": "/mail/"}, follow=True)
    assert "Undone." in back.content.decode()
    assert _folder(item) == Folder.INBOX


def test_conversation_page_actions_offer_undo(alice_client, alice):
    item = _mail(alice)
    response = alice_client.post(
        reverse("mailboxes:thread_action", args=[item.thread_id]),
        {"action": "trash", "view": "inbox", "back": "/mail/"},
    )
    assert response.status_code == 302 and response["Location"] == "/mail/"
    page = alice_client.get("/mail/").content.decode()
    assert "Conversation moved to Trash" in page and "data-undo-flash" in page
    htmx = alice_client.post(
        reverse("mailboxes:item_action", args=[item.pk]), {"action": "star"}, **HTMX
    )  # its own message buttons
    assert _done(htmx)["message"] == "Message starred"


def test_nothing_to_change_is_not_undoable(alice_client, alice):
    item = _mail(alice)
    services.mark_read(user=alice, item_ids=[item.pk])
    response = alice_client.post(reverse("mailboxes:bulk_action"), {"row": f"read:{item.thread_id}"}, **HTMX)
    assert response.status_code == 204
    assert json.loads(response["HX-Trigger"]) == {"toast": "Nothing to change."}
    assert not UndoableAction.objects.exists()


def test_delete_forever_is_announced_without_undo(alice_client, alice):
    item = _mail(alice)
    services.trash_items(user=alice, item_ids=[item.pk])
    response = alice_client.post(
        reverse("mailboxes:bulk_action"), {"row": f"delete:{item.thread_id}", "view": "trash"}, **HTMX
    )
    assert _done(response) == {"message": "Conversation deleted forever"}


def test_someone_elses_undo_is_not_found(alice_client, mallory_client, alice):
    item = _mail(alice)
    alice_client.post(reverse("mailboxes:bulk_action"), {"row": f"archive:{item.thread_id}"}, **HTMX)
    action = UndoableAction.objects.get(user=alice)
    url = reverse("mailboxes:undo_action", args=[action.pk])
    assert mallory_client.post(url, **HTMX).status_code == 404
    assert mallory_client.post(url).status_code == 404
    assert _folder(item) == Folder.ARCHIVE
    assert alice_client.get(url).status_code == 405


def test_undo_needs_csrf(csrf_client, alice):
    item = _mail(alice)
    action = services.run_undoable(
        user=alice, kind="archive", item_ids=[item.pk],
        action=lambda: services.archive_items(user=alice, item_ids=[item.pk]),
    )  # fmt: skip
    assert csrf_client.post(reverse("mailboxes:undo_action", args=[action.pk])).status_code == 403


def test_too_late_to_undo(alice_client, alice, settings):
    item = _mail(alice)
    action = services.run_undoable(
        user=alice, kind="archive", item_ids=[item.pk],
        action=lambda: services.archive_items(user=alice, item_ids=[item.pk]),
        now=timezone.now() - timedelta(seconds=settings.WEBMAIL_ACTION_UNDO_SECONDS + 60),
    )  # fmt: skip
    response = alice_client.post(reverse("mailboxes:undo_action", args=[action.pk]), **HTMX)
    assert response.status_code == 410
    assert json.loads(response["HX-Trigger"]) == {"toast": "Too late to undo that."}
    assert _folder(item) == Folder.ARCHIVE


def test_snooze_from_the_list_and_the_snoozed_view(alice_client, alice):
    item = _mail(alice, "Later please")
    response = alice_client.post(
        reverse("mailboxes:bulk_action"),
        {"action": "snooze", "until": "tomorrow", "thread": item.thread_id, "view": "inbox"},
        **HTMX,
    )
    assert _done(response)["message"].startswith("Conversation snoozed until ")
    assert "Later please" not in alice_client.get(reverse("mailboxes:inbox")).content.decode()
    snoozed = alice_client.get(reverse("mailboxes:folder", args=["snoozed"])).content.decode()
    assert "Later please" in snoozed and 'class="snoozed-until"' in snoozed
    back = alice_client.post(reverse("mailboxes:bulk_action"), {"row": f"unsnooze:{item.thread_id}"}, **HTMX)
    assert _done(back)["message"] == "Conversation back in the Inbox"
    assert "Later please" in alice_client.get(reverse("mailboxes:inbox")).content.decode()


def test_snooze_to_a_custom_time_in_the_past_is_refused(alice_client, alice):
    item = _mail(alice)
    response = alice_client.post(
        reverse("mailboxes:bulk_action"),
        {"action": "snooze", "until": "later", "snooze_at": "2001-01-01T08:00", "thread": item.thread_id},
        **HTMX,
    )
    assert response.status_code == 400
    assert json.loads(response["HX-Trigger"]) == {"toast": "Choose a time in the future."}
    assert MailboxItem.objects.get(pk=item.pk).snoozed_until is None


def test_snooze_from_the_conversation_page(alice_client, alice):
    item = _mail(alice)
    url = reverse("mailboxes:thread", args=[item.thread_id])
    assert "data-snooze-menu" in alice_client.get(url).content.decode()
    response = alice_client.post(
        reverse("mailboxes:thread_action", args=[item.thread_id]),
        {"action": "snooze", "until": "next_week", "view": "inbox", "back": "/mail/"},
    )
    assert response["Location"] == "/mail/"
    assert MailboxItem.objects.get(pk=item.pk).snoozed_until is not None


def test_empty_trash(alice_client, mallory_client, alice):
    items = [_mail(alice, f"Junk {n}") for n in range(3)]
    services.trash_items(user=alice, item_ids=[i.pk for i in items])
    trash = alice_client.get(reverse("mailboxes:folder", args=["trash"])).content.decode()
    assert "Empty Trash" in trash and "This cannot be undone." in trash
    url = reverse("mailboxes:empty_folder", args=["trash"])
    assert mallory_client.post(url).status_code == 302  # empties mallory's own (empty) Trash
    assert MailboxItem.objects.filter(user=alice).count() == 3
    response = alice_client.post(url, follow=True)
    assert "3 messages deleted forever." in response.content.decode()
    assert not MailboxItem.objects.filter(user=alice).exists()
    assert alice_client.post(reverse("mailboxes:empty_folder", args=["inbox"])).status_code == 404
    assert alice_client.get(url).status_code == 405


def test_empty_trash_caps_one_request(alice_client, alice, settings):
    settings.WEBMAIL_EMPTY_FOLDER_LIMIT = 2
    items = [_mail(alice, f"Junk {n}") for n in range(3)]
    services.trash_items(user=alice, item_ids=[i.pk for i in items])
    response = alice_client.post(reverse("mailboxes:empty_folder", args=["trash"]), follow=True)
    assert "More remain: empty again to go on." in response.content.decode()
    assert MailboxItem.objects.filter(user=alice).count() == 1
