"""Rules every webmail endpoint follows: sign-in required, CSRF on every POST, the right methods."""

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

POSTS = [
    ("mailboxes:bulk_action", []),
    ("mailboxes:create_label", []),
    ("mailboxes:delete_label", [1]),
    ("mailboxes:item_action", [1]),
    ("mailboxes:save_draft", []),
    ("mailboxes:send", []),
    ("mailboxes:discard", []),
    ("mailboxes:upload", []),
    ("mailboxes:undo", [1]),
    ("mailboxes:send_now", [1]),
    ("accounts:logout", []),
    ("accounts:create_api_token", []),
    ("accounts:revoke_api_token", [1]),
]
GETS = [
    ("mailboxes:inbox", []),
    ("mailboxes:folder", ["sent"]),
    ("mailboxes:label", [1]),
    ("mailboxes:search", []),
    ("mailboxes:thread", [1]),
    ("mailboxes:body", [1]),
    ("mailboxes:original", [1]),
    ("mailboxes:attachment", ["token"]),
    ("mailboxes:compose", []),
    ("mailboxes:suggest", []),
    ("mailboxes:poll", []),
    ("accounts:settings", []),
]


@pytest.mark.parametrize(("name", "args"), POSTS)
def test_every_post_needs_a_csrf_token(csrf_client, name, args):
    assert csrf_client.post(reverse(name, args=args), {"action": "trash"}).status_code == 403


@pytest.mark.parametrize(("name", "args"), POSTS)
def test_posts_refuse_get(alice_client, name, args):
    assert alice_client.get(reverse(name, args=args)).status_code == 405


@pytest.mark.parametrize(("name", "args"), POSTS + GETS)
def test_every_page_needs_sign_in(db, name, args):
    response = (
        Client().post(reverse(name, args=args)) if (name, args) in POSTS else Client().get(reverse(name, args=args))
    )
    if name == "accounts:logout":
        assert response.status_code == 302  # signing out while signed out is harmless
        return
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


@pytest.mark.parametrize("bad", ["0", "99999999999999999999999", "-1"])
def test_nonsense_ids_are_404_not_500(alice_client, bad):
    assert alice_client.get(f"/mail/t/{bad}/").status_code == 404
    assert alice_client.get(reverse("mailboxes:compose"), {"reply": bad}).status_code == 404
    assert alice_client.get(reverse("mailboxes:compose"), {"draft": "x" + bad}).status_code == 404


JUNK = ["", "0", "-1", "abc", "1.5", "99999999999999999999999", "١", "<script>", "a" * 5000, "\x00", "../../etc/passwd"]


def test_junk_input_never_makes_a_500(alice_client, inbox_item):
    thread = str(inbox_item.thread_id)
    for value in JUNK:
        for name, args in POSTS:
            if name == "accounts:logout":
                continue
            data = {
                "action": value, "thread": [thread, value], "view": value, "view_label": value, "label": value,
                "move_to": value, "next": value, "back": value, "draft_id": value, "to": value, "cc": value,
                "subject": value, "body": value, "in_reply_to": value, "attachment": [value], "name": value,
                "rich": "1", "html": value,
            }  # fmt: skip
            args = [inbox_item.pk] if args else []
            response = alice_client.post(reverse(name, args=args), data)
            assert response.status_code < 500, (name, value, response.status_code)
        queries = [{"q": value}, {"after": value}, {"reply": value}, {"forward": value}, {"draft": value}]
        queries += [{"since": value}, {"view": value, "label": value}, {"images": value}, {"field": value}]
        urls = ["/mail/", "/mail/search/", "/mail/compose/", "/mail/poll/", f"/mail/t/{thread}/"]
        urls += [f"/mail/m/{inbox_item.pk}/body/", "/mail/compose/suggest/"]
        for params in queries:
            for url in urls:
                response = alice_client.get(url, params)
                assert response.status_code < 500, (url, params, response.status_code)
