from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from mailboxes.compose import OutgoingAttachment
from mailboxes.links import LinkKind, sign_attachment_link
from mailboxes.models import MailboxItem
from mailboxes.services import add_labels, create_label, set_starred
from mailboxes.views.common import attachment_token
from tests.api.conftest import assert_error
from tests.factories import deliver, deliver_scanned, raw_email, send_and_deliver
from tests.inbound.test_risky_attachments import FIX_PARSER, list_post
from tests.inbound.test_virus import pe_executable
from webmail.cache import cache_from_url

HOSTILE_HTML = (
    '<p onclick="steal()">Hello <b>Alice</b><script>steal()</script>'
    '<img src="https://tracker.example/pixel.gif"><a href="javascript:steal()">click</a></p>'
)


def inbox(user, count: int, *, start=None) -> list[MailboxItem]:
    start = start or timezone.now() - timedelta(days=1)
    items = []
    for n in range(count):
        item = deliver(raw_email(to=user.username, subject=f"Mail {n}"), user)[0]
        MailboxItem.objects.filter(pk=item.pk).update(received_at=start + timedelta(minutes=n))
        items.append(item)
    return items


@pytest.fixture
def html_mail(alice, bob):
    """Bob's HTML mail with an attachment, in Alice's inbox."""
    message = send_and_deliver(
        user=bob,
        to=["alice@example.test"],
        subject="Report",
        text="Hello Alice",
        html=HOSTILE_HTML,
        attachments=[OutgoingAttachment("report.csv", "text/csv", b"a,b\n1,2\n")],
    )
    return MailboxItem.objects.get(user=alice, message=message)


# --- the mailbox listing ---------------------------------------------------------


def test_inbox_lists_newest_first(api, alice):
    items = inbox(alice, 3)
    data = api.get("/api/mailbox/inbox").json()
    assert [i["id"] for i in data["items"]] == [i.pk for i in reversed(items)]
    assert data["next_cursor"] is None
    assert data["items"][0]["from"]["address"] == "sender@remote.example"


def test_pages_follow_the_cursor_and_stay_stable_when_new_mail_arrives(api, alice):
    items = inbox(alice, 5)
    first = api.get("/api/mailbox/inbox", {"limit": 2}).json()
    assert [i["id"] for i in first["items"]] == [items[4].pk, items[3].pk]
    inbox(alice, 2, start=timezone.now())  # new mail on top, while paging
    second = api.get("/api/mailbox/inbox", {"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [i["id"] for i in second["items"]] == [items[2].pk, items[1].pk]
    third = api.get("/api/mailbox/inbox", {"limit": 2, "cursor": second["next_cursor"]}).json()
    assert [i["id"] for i in third["items"]] == [items[0].pk]
    assert third["next_cursor"] is None


def test_items_with_the_same_time_are_paged_by_id(api, alice):
    items = inbox(alice, 3)
    MailboxItem.objects.filter(pk__in=[i.pk for i in items]).update(received_at=timezone.now())
    seen, cursor = [], None
    while True:
        data = api.get("/api/mailbox/inbox", {"limit": 1, **({"cursor": cursor} if cursor else {})}).json()
        seen += [i["id"] for i in data["items"]]
        cursor = data["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(i.pk for i in items)[::-1]


def test_listing_validation(api, alice):
    assert_error(api.get("/api/mailbox/inbox", {"limit": 0}), 400, "invalid", "limit")
    assert_error(api.get("/api/mailbox/inbox", {"limit": 101}), 400, "invalid", "limit")
    assert_error(api.get("/api/mailbox/inbox", {"cursor": "forged"}), 400, "invalid_cursor", "cursor")
    assert_error(api.get("/api/mailbox/nowhere"), 404)


def test_a_cursor_of_another_folder_is_refused(api, alice):
    inbox(alice, 3)
    cursor = api.get("/api/mailbox/inbox", {"limit": 1}).json()["next_cursor"]
    assert_error(api.get("/api/mailbox/archive", {"cursor": cursor}), 400, "invalid_cursor")


def test_starred_and_label_listings(api, alice, mallory_api):
    items = inbox(alice, 3)
    set_starred(user=alice, item_ids=[items[0].pk])
    label = create_label(user=alice, name="Work")
    add_labels(user=alice, item_ids=[items[1].pk], label_ids=[label.pk])
    assert [i["id"] for i in api.get("/api/mailbox/starred").json()["items"]] == [items[0].pk]
    data = api.get(f"/api/mailbox/labels/{label.pk}").json()
    assert [i["id"] for i in data["items"]] == [items[1].pk]
    assert data["items"][0]["labels"][0]["name"] == "Work"
    assert_error(mallory_api.get(f"/api/mailbox/labels/{label.pk}"), 404, "label_not_found")


def test_the_listing_shows_only_the_users_own_mail(api, alice, mallory_api):
    inbox(alice, 2)
    assert mallory_api.get("/api/mailbox/inbox").json()["items"] == []


def test_the_listing_does_not_query_per_item(api, alice, django_assert_max_num_queries, settings):
    inbox(alice, 10)
    settings.CACHES = {"default": cache_from_url("locmem://")}  # the throttles' counters: per request, not per item
    with django_assert_max_num_queries(8):
        assert len(api.get("/api/mailbox/inbox").json()["items"]) == 10


# --- one message -------------------------------------------------------------------


def test_read_a_message_with_sanitised_html_and_attachments(api, html_mail):
    data = api.get(f"/api/emails/{html_mail.pk}").json()
    assert data["subject"] == "Report"
    assert data["text"].strip() == "Hello Alice"
    assert "<b>Alice</b>" in data["html"]
    for bad in ("script", "onclick", "javascript:", ' src="https://tracker'):
        assert bad not in data["html"]
    assert "tracker.example" not in data["html"] and data["remote_images_blocked"] is True
    assert data["bcc"] == []  # a recipient never sees the Bcc list
    assert data["delivery_url"] is None
    [attachment] = data["attachments"]
    assert (attachment["filename"], attachment["size"]) == ("report.csv", 8)
    assert attachment["expires_at"]
    with_images = api.get(f"/api/emails/{html_mail.pk}", {"remote_images": "true"}).json()
    assert 'src="https://tracker.example/pixel.gif"' in with_images["html"]
    assert with_images["remote_images_blocked"] is False


def test_an_attachment_held_back_by_the_scanner_says_why_and_has_no_download(api, alice):
    raw = list_post(
        ("setup.exe", pe_executable(), "application/x-msdownload"), ("repro.py", FIX_PARSER, "text/x-python")
    )
    item = deliver_scanned(raw, alice)[0]

    program, script = api.get(f"/api/emails/{item.pk}").json()["attachments"]

    assert (program["filename"], program["scan_status"], program["scan_reason"]) == ("setup.exe", "blocked", "program")
    assert program["scan_notice"].startswith("it is a program")
    assert program["download_url"] is None and program["single_use_url"] is None and program["expires_at"] is None
    assert (script["scan_status"], script["scan_reason"]) == ("warning", "script")
    assert script["scan_notice"] == "it is a script: run it only if you trust the sender"
    assert api.get(script["download_url"]).status_code == 200
    blocked = item.message.attachments.get(filename="setup.exe")
    assert_error(api.get(f"/api/emails/{item.pk}/attachments/{blocked.pk}"), 404)
    token = sign_attachment_link(kind=LinkKind.API, user_id=alice.pk, item_id=item.pk, attachment_id=blocked.pk)
    assert_error(APIClient().get(f"/api/downloads/{token}"), 404)


def links(api, item) -> dict:
    return api.get(f"/api/emails/{item.pk}").json()["attachments"][0]


def assert_the_file(response):
    assert response.status_code == 200, response.content
    assert response.content == b"a,b\n1,2\n"
    assert response["Content-Type"] == "application/octet-stream"
    assert 'filename="report.csv"' in response["Content-Disposition"]


def test_the_download_url_needs_the_readers_own_credentials(api, mallory_api, alice, mallory, html_mail):
    url = links(api, html_mail)["download_url"]
    assert_error(APIClient().get(url), 401, "not_authenticated")
    assert_error(mallory_api.get(url), 404)
    assert_the_file(api.get(url))
    for user, status in ((mallory, 404), (alice, 200)):
        browser = APIClient()
        browser.force_login(user)
        assert browser.get(url).status_code == status


def test_the_download_url_of_another_message_is_404(api, alice, html_mail):
    other = deliver(raw_email(to="alice@example.test"), alice)[0]
    attachment_id = html_mail.message.attachments.get().pk
    assert_error(api.get(f"/api/emails/{other.pk}/attachments/{attachment_id}"), 404)


def test_the_single_use_url_works_once_without_credentials(api, html_mail):
    url = links(api, html_mail)["single_use_url"]
    assert_the_file(APIClient().get(url))
    assert_error(APIClient().get(url), 410, "link_used")
    assert_the_file(APIClient().get(links(api, html_mail)["single_use_url"]))  # a new read, a new link


def test_the_single_use_url_expires(api, html_mail, settings):
    data = links(api, html_mail)
    assert data["expires_at"]
    settings.API_DOWNLOAD_LINK_SECONDS = -1
    assert_error(APIClient().get(data["single_use_url"]), 410, "link_expired")


def test_images_carried_by_the_message_point_at_their_download_url(api, alice):
    raw = (Path(__file__).parent.parent / "samples" / "messages" / "apple_mail_related_inline_image.eml").read_bytes()
    item = deliver(raw, alice)[0]
    data = api.get(f"/api/emails/{item.pk}").json()
    [image] = [a for a in data["attachments"] if a["is_inline"]]
    assert f'src="{image["download_url"]}"' in data["html"]
    assert "/api/downloads/" not in data["html"]  # no credential-less link in a body that is shown or stored


def test_a_tampered_download_link_is_404(api, html_mail):
    link = links(api, html_mail)["single_use_url"]
    assert_error(APIClient().get(link[:-3] + "xyz"), 404)


def test_webmail_and_api_attachment_links_are_not_interchangeable(api, alice, html_mail):
    attachment = html_mail.message.attachments.get()
    webmail_token = attachment_token(user=alice, attachment_id=attachment.pk)
    assert_error(APIClient().get(f"/api/downloads/{webmail_token}"), 404)  # it needs a session, this does not
    api_link = links(api, html_mail)["single_use_url"]
    browser = Client()
    browser.force_login(alice)
    assert browser.get(reverse("mailboxes:attachment", args=[api_link.rsplit("/", 1)[1]])).status_code == 404
    assert browser.get(reverse("mailboxes:attachment", args=[webmail_token])).status_code == 200


def test_a_download_link_dies_with_the_users_access(api, alice, html_mail):
    data = links(api, html_mail)
    MailboxItem.objects.filter(pk=html_mail.pk).delete()
    assert_error(APIClient().get(data["single_use_url"]), 404)
    assert_error(api.get(data["download_url"]), 404)


def test_raw_returns_the_exact_bytes(api, alice):
    raw = raw_email(to="alice@example.test", subject="Exact")
    item = deliver(raw, alice)[0]
    response = api.get(f"/api/emails/{item.pk}/raw")
    assert response.status_code == 200
    assert response["Content-Type"] == "message/rfc822"
    assert response.content == raw


def test_delivery_lists_recipients_only_on_the_senders_copy(api, bob_api, alice, bob):
    sent = api.post("/api/emails/send", {"to": ["bob@example.test"], "bcc": ["carol@remote.example"]}, format="json")
    email_id = sent.json()["id"]
    data = api.get(f"/api/emails/{email_id}/delivery").json()
    assert {r["address"] for r in data["recipients"]} == {"bob@example.test", "carol@remote.example"}
    detail = api.get(f"/api/emails/{email_id}").json()
    assert detail["delivery_url"].endswith(f"/api/emails/{email_id}/delivery")


def test_delivery_of_received_mail_is_empty(api, html_mail):
    assert api.get(f"/api/emails/{html_mail.pk}/delivery").json()["recipients"] == []


def test_a_thread_lists_its_messages_oldest_first(api, alice, bob):
    first = send_and_deliver(user=bob, to=["alice@example.test"], subject="Lunch?", text="Noon?")
    item = MailboxItem.objects.get(user=alice, message=first)
    reply = api.post(
        "/api/emails/send", {"to": ["bob@example.test"], "subject": "Re: Lunch?", "in_reply_to": item.pk}, format="json"
    ).json()
    data = api.get(f"/api/threads/{item.thread_id}").json()
    assert data["message_count"] == 2
    assert [e["id"] for e in data["emails"]] == [item.pk, reply["id"]]


# --- nobody else's -------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/api/emails/{id}"),
        ("delete", "/api/emails/{id}"),
        ("get", "/api/emails/{id}/raw"),
        ("get", "/api/emails/{id}/delivery"),
        ("get", "/api/threads/{thread}"),
        ("post", "/api/emails/{id}/actions"),
        ("post", "/api/emails/{id}/labels"),
    ],
)
def test_another_users_message_is_404_like_a_missing_one(api, mallory_api, html_mail, method, path):
    url = path.format(id=html_mail.pk, thread=html_mail.thread_id)
    body = {"action": "trash"} if url.endswith("actions") else {"add": [1]}
    theirs = getattr(mallory_api, method)(url, body, format="json")
    missing = getattr(api, method)(path.format(id=999999, thread=999999), body, format="json")
    assert_error(theirs, 404)
    assert_error(missing, 404)
    assert theirs.json()["error"]["code"] == missing.json()["error"]["code"]
    html_mail.refresh_from_db()
    assert html_mail.folder == "inbox"
