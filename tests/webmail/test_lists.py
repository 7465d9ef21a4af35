import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mailboxes.models import Folder, MailboxItem
from mailboxes.services import add_labels, create_label, set_starred
from tests.factories import deliver, raw_email

pytestmark = pytest.mark.django_db


def _mail(user, subject, *, minutes_ago=0, folder=Folder.INBOX):
    when = (timezone.now() - timedelta(minutes=minutes_ago)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    item = deliver(raw_email(subject=subject, to=user.username, date=when), user, folder=folder)[0]
    MailboxItem.objects.filter(pk=item.pk).update(received_at=timezone.now() - timedelta(minutes=minutes_ago))
    from mailboxes.conversations import refresh_thread

    refresh_thread(item.thread)
    return item


def test_inbox_lists_conversations_with_unread_ones_marked(alice_client, alice, inbox_item):
    response = alice_client.get(reverse("mailboxes:inbox"))
    html = response.content.decode()
    assert "Quarterly numbers" in html
    assert 'class="thread unread"' in html
    assert response["Content-Security-Policy"].startswith("default-src 'self'")
    assert "<title" in html and "(1) Inbox" in html


def test_another_users_mail_is_not_listed(mallory_client, inbox_item):
    assert "Quarterly numbers" not in mallory_client.get(reverse("mailboxes:inbox")).content.decode()


def test_unknown_folder_is_404(alice_client):
    assert alice_client.get(reverse("mailboxes:folder", args=["nowhere"])).status_code == 404


def test_pages_follow_a_keyset_cursor_that_new_mail_does_not_shift(alice_client, alice, settings):
    settings.WEBMAIL_PAGE_SIZE = 2
    for n in range(5):
        _mail(alice, f"Message number {n}", minutes_ago=10 * (5 - n))
    first = alice_client.get(reverse("mailboxes:inbox"))
    cursor = first.context["next_cursor"]
    assert [t.subject for t in first.context["threads"]] == ["Message number 4", "Message number 3"]
    _mail(alice, "Brand new", minutes_ago=0)
    second = alice_client.get(reverse("mailboxes:inbox"), {"after": cursor})
    assert [t.subject for t in second.context["threads"]] == ["Message number 2", "Message number 1"]


def test_a_garbled_cursor_shows_the_first_page(alice_client, inbox_item):
    response = alice_client.get(reverse("mailboxes:inbox"), {"after": "x.y"})
    assert response.status_code == 200
    assert "Quarterly numbers" in response.content.decode()


def test_a_cursor_of_another_list_shows_the_first_page(alice_client, alice, settings):
    settings.WEBMAIL_PAGE_SIZE = 2
    for n in range(3):
        _mail(alice, f"Message number {n}", minutes_ago=10 * (3 - n))
    cursor = alice_client.get(reverse("mailboxes:inbox")).context["next_cursor"]
    archive = alice_client.get(reverse("mailboxes:folder", args=["archive"]), {"after": cursor})
    assert archive.status_code == 200 and archive.context["next_cursor"] is None
    api = alice_client.get("/api/mailbox/inbox", {"cursor": cursor})  # nor does the API take it
    assert api.status_code == 400 and api.json()["error"]["code"] == "invalid_cursor"


def test_list_query_count_does_not_grow_with_the_page(alice_client, alice):
    label = create_label(user=alice, name="Work")
    items = [_mail(alice, f"Numbered {n}", minutes_ago=n) for n in range(3)]
    add_labels(user=alice, item_ids=[i.pk for i in items], label_ids=[label.pk])
    with CaptureQueriesContext(connection) as few:
        alice_client.get(reverse("mailboxes:inbox"))
    more = [_mail(alice, f"More {n}", minutes_ago=n) for n in range(10)]
    add_labels(user=alice, item_ids=[i.pk for i in more], label_ids=[label.pk])
    with CaptureQueriesContext(connection) as many:
        alice_client.get(reverse("mailboxes:inbox"))
    assert len(many) == len(few)


def test_starred_and_label_views(alice_client, alice, inbox_item):
    set_starred(user=alice, item_ids=[inbox_item.pk])
    label = create_label(user=alice, name="Finance")
    add_labels(user=alice, item_ids=[inbox_item.pk], label_ids=[label.pk])
    assert "Quarterly numbers" in alice_client.get(reverse("mailboxes:folder", args=["starred"])).content.decode()
    page = alice_client.get(reverse("mailboxes:label", args=[label.pk])).content.decode()
    assert "Quarterly numbers" in page and "Finance" in page


def test_someone_elses_label_is_404(mallory_client, alice):
    label = create_label(user=alice, name="Secret")
    assert mallory_client.get(reverse("mailboxes:label", args=[label.pk])).status_code == 404


def _bulk(client, action, threads, **extra):
    data = {"action": action, "thread": list(threads), "next": reverse("mailboxes:inbox"), **extra}
    return client.post(reverse("mailboxes:bulk_action"), data)


def test_bulk_archive_trash_restore_and_delete_forever(alice_client, alice, inbox_item):
    thread = inbox_item.thread_id
    assert _bulk(alice_client, "archive", [thread], view="inbox").status_code == 302
    inbox_item.refresh_from_db()
    assert inbox_item.folder == Folder.ARCHIVE
    _bulk(alice_client, "trash", [thread], view="archive")
    inbox_item.refresh_from_db()
    assert inbox_item.folder == Folder.TRASH
    _bulk(alice_client, "restore", [thread], view="trash")
    inbox_item.refresh_from_db()
    assert inbox_item.folder == Folder.ARCHIVE
    _bulk(alice_client, "trash", [thread], view="archive")
    _bulk(alice_client, "delete", [thread], view="trash")
    assert not MailboxItem.objects.filter(pk=inbox_item.pk).exists()


def test_bulk_read_star_label_and_spam(alice_client, alice, inbox_item):
    label = create_label(user=alice, name="Later")
    thread = inbox_item.thread_id
    _bulk(alice_client, "read", [thread], view="inbox")
    _bulk(alice_client, "star", [thread], view="inbox")
    _bulk(alice_client, "label", [thread], view="inbox", label=label.pk)
    inbox_item.refresh_from_db()
    assert inbox_item.is_read and inbox_item.is_starred
    assert list(inbox_item.labels.all()) == [label]
    _bulk(alice_client, "spam", [thread], view="inbox")
    inbox_item.refresh_from_db()
    assert inbox_item.folder == Folder.SPAM
    _bulk(alice_client, "not_spam", [thread], view="spam")
    inbox_item.refresh_from_db()
    assert inbox_item.folder == Folder.INBOX


def test_bulk_action_on_another_users_conversation_is_404_and_changes_nothing(mallory_client, inbox_item):
    response = _bulk(mallory_client, "trash", [inbox_item.thread_id])
    assert response.status_code == 404
    inbox_item.refresh_from_db()
    assert inbox_item.folder == Folder.INBOX


def test_bulk_action_with_bad_input_is_a_message_not_a_500(alice_client, inbox_item):
    assert _bulk(alice_client, "explode", [inbox_item.thread_id]).status_code == 302
    assert _bulk(alice_client, "trash", []).status_code == 302
    assert _bulk(alice_client, "trash", ["abc"]).status_code == 404
    assert _bulk(alice_client, "label", [inbox_item.thread_id], label="999999").status_code == 404
    inbox_item.refresh_from_db()
    assert inbox_item.folder == Folder.INBOX


def test_bulk_action_needs_csrf(csrf_client, inbox_item):
    assert _bulk(csrf_client, "trash", [inbox_item.thread_id]).status_code == 403


def test_htmx_error_is_a_toast(alice_client, alice):
    response = alice_client.post(reverse("mailboxes:create_label"), {"name": ""}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert "toast" in json.loads(response["HX-Trigger"])


def test_create_label_and_duplicate_is_an_error(alice_client, alice):
    response = alice_client.post(reverse("mailboxes:create_label"), {"name": "Travel"})
    assert response.status_code == 302
    response = alice_client.post(reverse("mailboxes:create_label"), {"name": "travel"}, follow=True)
    assert "already have a label" in response.content.decode()


def test_poll_reports_counts_and_new_mail(alice_client, alice, inbox_item):
    first = alice_client.get(reverse("mailboxes:poll"))
    counts = json.loads(first["HX-Trigger"])["mail:counts"]
    assert counts["unread"] == 1 and counts["new"] is False
    _mail(alice, "Another one")
    second = alice_client.get(reverse("mailboxes:poll"), {"since": counts["latest"]})
    later = json.loads(second["HX-Trigger"])["mail:counts"]
    assert later["unread"] == 2 and later["new"] is True
    assert 'id="sidebar"' in second.content.decode()


def test_delete_label_keeps_the_conversations(alice_client, alice, inbox_item):
    label = create_label(user=alice, name="Old")
    add_labels(user=alice, item_ids=[inbox_item.pk], label_ids=[label.pk])
    assert alice_client.post(reverse("mailboxes:delete_label", args=[label.pk])).status_code == 302
    inbox_item.refresh_from_db()
    assert inbox_item.folder == Folder.INBOX and not inbox_item.labels.exists()


def test_someone_elses_label_cannot_be_deleted(mallory_client, alice):
    label = create_label(user=alice, name="Mine")
    assert mallory_client.post(reverse("mailboxes:delete_label", args=[label.pk])).status_code == 404
    assert alice.labels.filter(pk=label.pk).exists()


def test_move_to_a_folder(alice_client, alice, inbox_item):
    _bulk(alice_client, "move", [inbox_item.thread_id], view="inbox", move_to="archive")
    inbox_item.refresh_from_db()
    assert inbox_item.folder == Folder.ARCHIVE
    _bulk(alice_client, "move", [inbox_item.thread_id], view="archive", move_to="inbox")
    inbox_item.refresh_from_db()
    assert inbox_item.folder == Folder.INBOX
    response = _bulk(alice_client, "move", [inbox_item.thread_id], view="inbox", move_to="drafts")
    assert response.status_code == 302
    inbox_item.refresh_from_db()
    assert inbox_item.folder == Folder.INBOX


def test_live_refresh_renders_only_the_list(alice_client, inbox_item):
    response = alice_client.get(reverse("mailboxes:inbox"), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="conversation-list")
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="conversation-list"')
    assert "Quarterly numbers" in html and "<html" not in html


def test_rows_escape_what_senders_write_and_show_the_fallbacks(alice_client, alice):
    """The rows are built in Python (mailboxes/templatetags/webmail.py): every stored value is escaped
    as the template engine would, in text and in attributes."""
    hostile = deliver(
        raw_email(
            subject='<script>alert("s")</script> & co',
            sender='"<img src=x onerror=alert(1)>" <evil@remote.example>',
            body='Body <b onclick="x()">bold</b> & "quoted"',
            to=alice.username,
        ),
        alice,
    )[0]
    label = create_label(user=alice, name='<i>"Work"</i>', color="#aa0000")
    add_labels(user=alice, item_ids=[hostile.pk], label_ids=[label.pk])
    set_starred(user=alice, item_ids=[hostile.pk], starred=True)
    nameless = deliver(raw_email(subject="", sender="plain@remote.example", to=alice.username), alice)[0]
    html = alice_client.get(reverse("mailboxes:inbox")).content.decode()
    rows = html[html.index('id="thread-rows"') : html.index("</ul>", html.index('id="thread-rows"'))]
    assert "<script>" not in rows and "<img" not in rows and "<b onclick" not in rows and "<i>" not in rows
    assert "&lt;script&gt;alert(&quot;s&quot;)&lt;/script&gt; &amp; co" in rows
    assert '<span class="participants">&lt;img src=x onerror=alert(1)&gt;</span>' in rows
    assert '<span class="label-chip" data-color="#aa0000">&lt;i&gt;&quot;Work&quot;&lt;/i&gt;</span>' in rows
    assert "— Body &lt;b onclick=&quot;x()&quot;&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;" in rows
    assert f'value="unstar:{hostile.thread_id}" class="star on" aria-pressed="true"' in rows
    assert f'<span class="subject" id="subject-{nameless.thread_id}">(no subject)</span>' in rows
    assert f'data-thread-url="/mail/t/{hostile.thread_id}/?view=inbox"' in rows
