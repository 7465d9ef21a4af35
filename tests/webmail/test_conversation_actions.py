"""The conversation page's actions (and ``e``/``#``) act on the whole conversation in the list it was opened from."""

import pytest
from django.urls import reverse

from mailboxes.models import Folder, MailboxItem
from mailboxes.services import create_label
from tests.factories import deliver, raw_email, send_and_deliver

pytestmark = pytest.mark.django_db


@pytest.fixture
def release_thread(alice, bob):
    """Bob announces, alice answers (her copy in Sent), bob follows up: two inbox items and one Sent item."""
    first = deliver(
        raw_email(subject="Release 2.3 is out", sender="bob@remote.example", to="alice@example.test",
                  message_id="<rel-1@remote.example>"),
        alice,
    )[0]  # fmt: skip
    send_and_deliver(user=alice, to=["bob@example.test"], subject="Re: Release 2.3 is out",
                     text="Congrats!", in_reply_to_item_id=first.pk)  # fmt: skip
    deliver(
        raw_email(subject="Re: Release 2.3 is out", sender="bob@remote.example", to="alice@example.test",
                  message_id="<rel-3@remote.example>", in_reply_to="<rel-1@remote.example>"),
        alice,
    )  # fmt: skip
    items = MailboxItem.objects.filter(user=alice, thread_id=first.thread_id)
    assert sorted(items.values_list("folder", flat=True)) == [Folder.INBOX, Folder.INBOX, Folder.SENT]
    return first.thread_id


def _folders(alice, thread_id) -> list[str]:
    return sorted(MailboxItem.objects.filter(user=alice, thread_id=thread_id).values_list("folder", flat=True))


def _page_form(alice_client, thread_id, query="view=inbox") -> str:
    html = alice_client.get(f"{reverse('mailboxes:thread', args=[thread_id])}?{query}").content.decode()
    assert f'action="{reverse("mailboxes:thread_action", args=[thread_id])}"' in html
    return html


@pytest.mark.parametrize("action,moved_to", [("archive", Folder.ARCHIVE), ("trash", Folder.TRASH)])
def test_archiving_or_trashing_from_the_conversation_page_moves_every_inbox_message(
    alice_client, alice, release_thread, action, moved_to
):
    html = _page_form(alice_client, release_thread)
    assert f'data-conversation-action="{action}"' in html
    response = alice_client.post(
        reverse("mailboxes:thread_action", args=[release_thread]),
        {"action": action, "view": "inbox", "back": "/mail/"},
    )
    assert response.status_code == 302 and response["Location"] == "/mail/"
    assert _folders(alice, release_thread) == sorted([moved_to, moved_to, Folder.SENT])  # the Sent copy stays
    inbox = alice_client.get(reverse("mailboxes:inbox")).content.decode()
    assert "Release 2.3 is out" not in inbox


def test_conversation_actions_are_those_of_the_list_it_was_opened_from(alice_client, alice, release_thread):
    html = _page_form(alice_client, release_thread, "view=sent")
    assert 'data-conversation-action="archive"' not in html
    alice_client.post(
        reverse("mailboxes:thread_action", args=[release_thread]), {"action": "trash", "view": "sent", "back": "/"}
    )
    assert _folders(alice, release_thread) == [Folder.INBOX, Folder.INBOX, Folder.TRASH]
    # An action that list does not offer is not run.
    response = alice_client.post(
        reverse("mailboxes:thread_action", args=[release_thread]), {"action": "archive", "view": "sent"}
    )
    assert response.status_code == 404


def test_mark_unread_and_label_apply_to_the_conversation_in_the_list(alice_client, alice, release_thread):
    travel = create_label(user=alice, name="Releases")
    url = reverse("mailboxes:thread_action", args=[release_thread])
    alice_client.get(reverse("mailboxes:thread", args=[release_thread]))  # opening it reads it all
    alice_client.post(url, {"action": "unread", "view": "inbox"})
    alice_client.post(url, {"action": "label", "label": travel.pk, "view": "inbox"})
    inbox = MailboxItem.objects.filter(user=alice, thread_id=release_thread, folder=Folder.INBOX)
    assert [i.is_read for i in inbox] == [False, False]
    assert all(list(i.labels.all()) == [travel] for i in inbox)
    sent = MailboxItem.objects.get(user=alice, thread_id=release_thread, folder=Folder.SENT)
    assert not sent.labels.exists()


def test_another_users_conversation_cannot_be_acted_on(mallory_client, alice, release_thread):
    response = mallory_client.post(
        reverse("mailboxes:thread_action", args=[release_thread]), {"action": "trash", "view": "inbox"}
    )
    assert response.status_code == 404
    assert _folders(alice, release_thread) == [Folder.INBOX, Folder.INBOX, Folder.SENT]
