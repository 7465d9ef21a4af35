import re

import pytest
from django.core import signing
from django.urls import reverse

from mailboxes.models import Folder, MailboxItem, Recipient
from mailboxes.views.common import attachment_token
from tests.factories import deliver, deliver_scanned, raw_email, send_and_deliver
from tests.inbound.test_risky_attachments import FIX_PARSER, list_post
from tests.inbound.test_virus import pdf_document, pe_executable
from tests.webmail.conftest import html_email

pytestmark = pytest.mark.django_db

HOSTILE = """<html><head><style>body{background:url(https://tracker.example/bg.png)}</style>
<script>window.parent.pwned = 1</script><base href="https://evil.example/"></head>
<body onload="alert(1)"><p style="color: red; background-image: url('https://tracker.example/css.png')"
onclick="alert(2)">Hello <b>there</b></p><a href="javascript:alert(3)">click</a>
<a href="https://example.org/ok">fine link</a><img src="https://tracker.example/pixel.gif" onerror="alert(4)">
<svg onload="alert(5)"></svg><iframe src="https://evil.example/"></iframe>
<form action="https://evil.example/phish"><input name="password"></form>
<meta http-equiv="refresh" content="0;url=https://evil.example/"><object data="x.swf"></object></body></html>"""


def _raw_with_image_attachment() -> bytes:
    return (
        b"From: Bob <bob@remote.example>\r\nTo: alice@example.test\r\nSubject: Photo\r\n"
        b"Message-ID: <photo-1@remote.example>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        b'--B\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename="lake.png"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--B--\r\n"
    )


def test_conversation_shows_the_messages_and_marks_them_read(alice_client, inbox_item):
    response = alice_client.get(reverse("mailboxes:thread", args=[inbox_item.thread_id]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Here are the numbers." in html
    assert 'href="https://example.org/report"' in html  # urlized, text escaped
    inbox_item.refresh_from_db()
    assert inbox_item.is_read


def test_another_users_conversation_is_404(mallory_client, inbox_item):
    assert mallory_client.get(reverse("mailboxes:thread", args=[inbox_item.thread_id])).status_code == 404
    assert mallory_client.get(reverse("mailboxes:body", args=[inbox_item.pk])).status_code == 404
    assert mallory_client.get(reverse("mailboxes:original", args=[inbox_item.pk])).status_code == 404
    response = mallory_client.post(reverse("mailboxes:item_action", args=[inbox_item.pk]), {"action": "trash"})
    assert response.status_code == 404
    inbox_item.refresh_from_db()
    assert inbox_item.folder == Folder.INBOX


def test_html_is_shown_in_a_sandboxed_frame_without_script(alice_client, alice):
    item = deliver(html_email(HOSTILE), alice)[0]
    page = alice_client.get(reverse("mailboxes:thread", args=[item.thread_id])).content.decode()
    frame = re.search(r"<iframe[^>]*data-message-frame[^>]*>", page).group(0)
    assert 'sandbox="allow-same-origin allow-popups allow-popups-to-escape-sandbox"' in frame
    assert "allow-scripts" not in frame
    assert "pwned" not in page

    body = alice_client.get(reverse("mailboxes:body", args=[item.pk]))
    html = body.content.decode()
    for bad in ("<script", "onload", "onclick", "onerror", "javascript:", "<svg", "<iframe", "<form", "<object",
                "tracker.example", "evil.example", "<base href", "http-equiv"):  # fmt: skip
        assert bad not in html, bad
    assert "<b>there</b>" in html and "color: red" in html
    assert 'href="https://example.org/ok"' in html and 'rel="noopener noreferrer nofollow"' in html
    policy = body["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "sandbox allow-same-origin allow-popups" in policy and "allow-scripts" not in policy
    assert "https:" not in policy
    assert body["X-Frame-Options"] == "SAMEORIGIN"
    assert '<meta name="remote-images" content="blocked">' in html


def test_show_images_lets_remote_images_load(alice_client, alice):
    item = deliver(html_email('<p>Hi</p><img src="https://images.example/cat.png" alt="cat">'), alice)[0]
    blocked = alice_client.get(reverse("mailboxes:body", args=[item.pk])).content.decode()
    assert "images.example" not in blocked
    shown = alice_client.get(reverse("mailboxes:body", args=[item.pk]), {"images": "1"})
    assert 'src="https://images.example/cat.png"' in shown.content.decode()
    assert "img-src 'self' data: https: http:" in shown["Content-Security-Policy"]


def test_plain_text_mail_is_escaped(alice_client, alice):
    item = deliver(raw_email(body="<script>alert(1)</script> & <b>bold</b>", to="alice@example.test"), alice)[0]
    html = alice_client.get(reverse("mailboxes:thread", args=[item.thread_id])).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>bold</b>" not in html


def test_show_original_returns_the_exact_bytes_as_text(alice_client, inbox_item):
    response = alice_client.get(reverse("mailboxes:original", args=[inbox_item.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["X-Content-Type-Options"] == "nosniff"
    from mailboxes.blobstore import read_blob

    assert response.content == read_blob(inbox_item.message.blob)


def test_attachment_link_works_for_its_user_only_and_expires(alice_client, mallory_client, alice, settings):
    item = deliver(_raw_with_image_attachment(), alice)[0]
    page = alice_client.get(reverse("mailboxes:thread", args=[item.thread_id])).content.decode()
    link = re.search(r'<a href="(/mail/a/[^"]+)" download>lake.png', page).group(1)
    response = alice_client.get(link)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    assert 'class="preview"' in page  # an image gets an inline preview

    assert mallory_client.get(link).status_code == 404
    assert alice_client.get(link[:-3] + "abc/").status_code == 404
    settings.WEBMAIL_ATTACHMENT_LINK_SECONDS = -1
    assert alice_client.get(link).status_code == 404


def test_a_held_back_attachment_says_why_and_cannot_be_downloaded(alice_client, alice):
    raw = list_post(
        ("setup.exe", pe_executable(), "application/x-msdownload"),
        ("repro.py", FIX_PARSER, "text/x-python"),
        ("notes.pdf", pdf_document(), "application/pdf"),
    )
    item = deliver_scanned(raw, alice)[0]

    page = alice_client.get(reverse("mailboxes:thread", args=[item.thread_id])).content.decode()

    assert "Held back: setup.exe cannot be downloaded, because it is a program" in page
    assert not re.search(r"<a [^>]*>setup.exe", page)  # no link to it
    assert "Careful with repro.py: it is a script: run it only if you trust the sender." in page
    assert page.count("data-scan-notice") == 2  # notes.pdf is clean: no notice
    script_link = re.search(r'<a href="(/mail/a/[^"]+)" download>repro.py', page).group(1)
    assert alice_client.get(script_link).status_code == 200  # a warning does not block the download
    blocked = item.message.attachments.get(filename="setup.exe")
    forged = reverse("mailboxes:attachment", args=[attachment_token(user=alice, attachment_id=blocked.pk)])
    assert alice_client.get(forged).status_code == 404


def test_a_forged_link_for_someone_elses_attachment_is_404(mallory_client, mallory, alice):
    item = deliver(_raw_with_image_attachment(), alice)[0]
    attachment = item.message.attachments.get()
    token = attachment_token(user=mallory, attachment_id=attachment.pk)
    assert mallory_client.get(reverse("mailboxes:attachment", args=[token])).status_code == 404
    bogus = signing.dumps({"u": mallory.pk, "a": attachment.pk}, salt="other")
    assert mallory_client.get(reverse("mailboxes:attachment", args=[bogus])).status_code == 404


def test_item_actions_star_and_trash(alice_client, inbox_item):
    url = reverse("mailboxes:item_action", args=[inbox_item.pk])
    assert alice_client.post(url, {"action": "star"}).status_code == 302
    inbox_item.refresh_from_db()
    assert inbox_item.is_starred
    alice_client.post(url, {"action": "trash"})
    inbox_item.refresh_from_db()
    assert inbox_item.folder == Folder.TRASH
    assert alice_client.post(url, {"action": "fly"}).status_code == 404


def test_marking_a_message_unread_goes_back_to_the_list_and_it_stays_unread(alice_client, inbox_item):
    thread_url = reverse("mailboxes:thread", args=[inbox_item.thread_id])
    alice_client.get(thread_url)  # reading it marks it read
    inbox_item.refresh_from_db()
    assert inbox_item.is_read
    response = alice_client.post(
        reverse("mailboxes:item_action", args=[inbox_item.pk]),
        {"action": "unread", "next": thread_url, "back": "/mail/f/archive/"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/mail/f/archive/"  # not the conversation: it would mark it read
    inbox_item.refresh_from_db()
    assert not inbox_item.is_read


def test_item_action_needs_csrf(csrf_client, inbox_item):
    response = csrf_client.post(reverse("mailboxes:item_action", args=[inbox_item.pk]), {"action": "trash"})
    assert response.status_code == 403


def test_sender_sees_delivery_status_per_recipient(alice_client, alice, bob):
    message = send_and_deliver(user=alice, to=["bob@example.test", "nobody@unresolvable.invalid"], subject="Status")
    item = MailboxItem.objects.get(user=alice, message=message, origin=MailboxItem.Origin.SENT)
    html = alice_client.get(reverse("mailboxes:thread", args=[item.thread_id])).content.decode()
    assert 'class="delivery"' in html
    statuses = dict(message.recipients.values_list("address", "status"))
    assert statuses["bob@example.test"] == Recipient.Status.DELIVERED
    assert "bob@example.test" in html and "Delivered" in html
    failed = message.recipients.get(address="nobody@unresolvable.invalid")
    assert failed.status in Recipient.FAILED_STATUSES | {Recipient.Status.DEFERRED}
    assert "nobody@unresolvable.invalid" in html


def test_recipient_does_not_see_the_delivery_table(alice, bob):
    from django.test import Client

    message = send_and_deliver(user=alice, to=["bob@example.test"], subject="For bob")
    item = MailboxItem.objects.get(user=bob, message=message)
    client = Client()
    client.force_login(bob)
    html = client.get(reverse("mailboxes:thread", args=[item.thread_id])).content.decode()
    assert "For bob" in html and 'class="delivery"' not in html


def test_conversation_links_to_its_neighbours_in_the_list(alice_client, alice):
    from datetime import timedelta

    from django.utils import timezone

    from mailboxes.conversations import refresh_thread

    items = []
    for n in range(3):
        item = deliver(raw_email(subject=f"Neighbour {n}", to="alice@example.test"), alice)[0]
        MailboxItem.objects.filter(pk=item.pk).update(received_at=timezone.now() - timedelta(hours=3 - n))
        refresh_thread(item.thread)
        items.append(item)
    page = alice_client.get(reverse("mailboxes:thread", args=[items[1].thread_id]), {"view": "inbox"}).content.decode()
    assert f'data-newer="/mail/t/{items[2].thread_id}/?view=inbox"' in page
    assert f'data-older="/mail/t/{items[0].thread_id}/?view=inbox"' in page


def test_conversation_query_count_does_not_grow_with_its_messages(alice_client, alice):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def thread_of(n, tag):
        root = f"<{tag}-0@remote.example>"
        items = deliver(raw_email(subject=tag, to="alice@example.test", message_id=root), alice)
        for k in range(1, n):
            items += deliver(
                raw_email(subject=f"Re: {tag}", to="alice@example.test", message_id=f"<{tag}-{k}@remote.example>",
                          in_reply_to=root, references=root),
                alice,
            )  # fmt: skip
        return items[0].thread_id

    small, big = thread_of(2, "small"), thread_of(6, "big")
    for thread_id in (small, big):
        alice_client.get(reverse("mailboxes:thread", args=[thread_id]))  # marks read: not part of the count
    with CaptureQueriesContext(connection) as few:
        alice_client.get(reverse("mailboxes:thread", args=[small]))
    with CaptureQueriesContext(connection) as many:
        alice_client.get(reverse("mailboxes:thread", args=[big]))
    assert len(many) == len(few)


def test_html_mail_offers_its_plain_text_too(alice_client, alice):
    item = deliver(html_email("<p>Rich</p>"), alice)[0]
    html = alice_client.get(reverse("mailboxes:thread", args=[item.thread_id])).content.decode()
    assert 'class="plain-text"' in html and "Plain version." in html


def test_conversation_opened_from_a_label_goes_back_to_it(alice_client, alice, inbox_item):
    from mailboxes.services import add_labels, create_label

    label = create_label(user=alice, name="Projects")
    add_labels(user=alice, item_ids=[inbox_item.pk], label_ids=[label.pk])
    listing = alice_client.get(reverse("mailboxes:label", args=[label.pk])).content.decode()
    link = f"/mail/t/{inbox_item.thread_id}/?view=label&amp;label={label.pk}"
    assert link in listing
    page = alice_client.get(link.replace("&amp;", "&"))
    assert page.status_code == 200
    assert f'class="back" href="/mail/label/{label.pk}/"' in page.content.decode()
    # A label that is not yours (or gone) is just the inbox, not an error.
    other = alice_client.get(f"/mail/t/{inbox_item.thread_id}/", {"view": "label", "label": "999999"})
    assert other.status_code == 200 and 'class="back" href="/mail/"' in other.content.decode()
