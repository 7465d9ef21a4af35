"""End-to-end tests in headless Chromium (Debian's), driven by Playwright against a live server.

Screenshots of the main pages go to ``artifacts/screenshots/`` (CI keeps that folder).
"""

import json
import re
import urllib.error
import urllib.request

import pytest

from accounts.services import API_TOKEN_PREFIX
from mailboxes.models import Folder, MailboxItem
from mailboxes.services import create_label
from tests.factories import deliver, raw_email, send_and_deliver
from tests.support.browser import BROWSER_MARKS, shot, sign_in, sign_out
from tests.webmail.conftest import html_email
from tests.webmail.test_conversation import HOSTILE

pytestmark = BROWSER_MARKS


def test_sign_in_compose_with_attachment_and_reply_in_one_thread(page, alice, bob, tmp_path):
    page.goto(page.base + "/mail/")
    assert "/signin/" in page.url
    page.fill("#id_username", "alice@example.test")
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text().startswith("That address and password do not match")
    shot(page, "sign-in")
    sign_in(page, "alice@example.test")

    page.click("text=Compose")
    page.fill("#id_to", "Bob Builder <bob@example.test>")
    page.fill("#id_subject", "Holiday photos")
    page.fill("#id_body", "Here is the list.")
    notes = tmp_path / "packing-list.txt"
    notes.write_text("sunscreen\nhat\n")
    page.set_input_files("[data-upload-input]", str(notes))
    page.wait_for_selector("[data-upload-row][data-uploaded]")
    page.wait_for_selector("#save-status:has-text('Draft saved')")
    shot(page, "compose")
    page.click("button.primary:has-text('Send')")
    page.wait_for_selector("[data-undo-toast]")
    page.wait_for_selector("[data-undo-toast]", state="detached")
    sent = MailboxItem.objects.get(user=alice, folder=Folder.SENT)
    assert sent.message.subject == "Holiday photos"
    sign_out(page)

    sign_in(page, "bob@example.test")
    row = page.locator("li.thread", has_text="Holiday photos")
    assert "unread" in row.get_attribute("class")
    assert row.locator(".clip").count() == 1
    shot(page, "inbox")
    row.locator("a.thread-link").click()
    page.wait_for_selector("text=Here is the list.")
    assert page.locator(".attachments a", has_text="packing-list.txt").count() == 1
    shot(page, "conversation")
    page.click("[data-shortcut-reply]")
    assert page.input_value("#id_subject") == "Re: Holiday photos"
    page.fill("#id_body", "Thanks!\n\n" + page.input_value("#id_body"))
    page.click("button.primary:has-text('Send')")
    page.wait_for_selector("[data-undo-toast]", state="detached")
    sign_out(page)

    sign_in(page, "alice@example.test")
    row = page.locator("li.thread", has_text="Holiday photos")
    assert row.locator(".msg-count").inner_text() == "2"
    row.locator("a.thread-link").click()
    assert page.locator("section.message").count() == 2
    page.locator("section.message > details > summary").first.click()
    assert page.locator("table.delivery").first.is_visible()
    assert MailboxItem.objects.filter(user=alice).values("thread").distinct().count() == 1


def test_undo_keeps_the_message(page, alice, bob, settings):
    settings.WEBMAIL_UNDO_SECONDS = 30
    sign_in(page, "alice@example.test")
    page.goto(page.base + "/mail/compose/")
    page.fill("#id_to", "bob@example.test")
    page.fill("#id_subject", "Second thoughts")
    page.click("button.primary:has-text('Send')")
    page.click("[data-undo-toast] button:has-text('Undo')")
    page.wait_for_url(re.compile(r"/mail/compose/\?draft="))
    assert page.input_value("#id_subject") == "Second thoughts"
    assert not MailboxItem.objects.filter(user=bob).exists()


def test_keyboard_shortcuts(page, alice):
    for n in range(5):
        deliver(raw_email(subject=f"Keyboard {n}", to="alice@example.test"), alice)
    sign_in(page, "alice@example.test")
    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible()
    shot(page, "shortcuts")
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    first = page.locator("li.thread.current")
    assert first.count() == 1
    page.keyboard.press("j")
    subject = page.locator("li.thread.current .subject").inner_text()
    page.keyboard.press("k")
    page.keyboard.press("j")
    page.keyboard.press("o")
    page.wait_for_selector("article.conversation")
    assert page.locator("#thread-subject").inner_text() == subject
    page.keyboard.press("s")
    page.wait_for_selector("[data-shortcut-star][aria-pressed=true]")
    assert MailboxItem.objects.filter(user=alice, message__subject=subject, is_starred=True).exists()
    page.keyboard.press("e")
    page.wait_for_url(re.compile(r"/mail/$"))
    assert MailboxItem.objects.get(user=alice, message__subject=subject).folder == Folder.ARCHIVE
    page.keyboard.press("j")
    page.keyboard.press("#")  # no navigation: the list is refreshed, with an undo toast
    page.locator(".toast", has_text="Conversation moved to Trash").wait_for()
    assert MailboxItem.objects.filter(user=alice, folder=Folder.TRASH).count() == 1
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "search-box"
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    page.keyboard.press("o")
    page.wait_for_selector("article.conversation")
    opened = page.url
    page.keyboard.press("j")  # in a conversation: the next (older) one
    page.wait_for_url(lambda url: url != opened and "/mail/t/" in url)
    page.keyboard.press("u")
    page.wait_for_url(re.compile(r"/mail/$"))
    page.keyboard.press("c")  # on a wide screen: the compose panel over the list (test_compose_browser.py)
    page.wait_for_selector("[data-compose-panel] #id_to:focus")


def test_a_list_refresh_landing_late_leaves_focus_where_the_user_put_it(page, alice):
    """``#`` then ``/`` before the refreshed list arrives: the search box keeps the focus."""
    for n in range(3):
        deliver(raw_email(subject=f"Late {n}", to="alice@example.test"), alice)
    sign_in(page, "alice@example.test")
    held = []

    def hold_list_refresh(route):
        if route.request.method == "GET" and route.request.headers.get("hx-target") == "conversation-list":
            held.append(route)  # answered below, after the user has moved on
        else:
            route.continue_()

    page.route(re.compile(r"/mail/(\?.*)?$"), hold_list_refresh)
    page.keyboard.press("j")
    with page.expect_request(lambda r: r.headers.get("hx-target") == "conversation-list"):
        page.keyboard.press("#")
    page.locator(".toast", has_text="Conversation moved to Trash").wait_for()  # a round trip: the route is in
    assert len(held) == 1
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "search-box"
    with page.expect_response(lambda r: r.request.headers.get("hx-target") == "conversation-list"):
        held.pop().continue_()
    page.wait_for_function("document.querySelectorAll('li.thread').length === 2")
    assert page.evaluate("document.activeElement.id") == "search-box"


def test_hostile_html_runs_nothing_and_loads_nothing_remote(page, alice):
    deliver(html_email(HOSTILE, subject="Totally safe"), alice)
    remote, dialogs = [], []
    page.on("request", lambda r: remote.append(r.url) if not r.url.startswith(page.base) else None)
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, "alice@example.test")
    page.click("text=Totally safe")
    frame_element = page.wait_for_selector("iframe[data-message-frame]")
    frame = frame_element.content_frame()
    frame.wait_for_selector("text=Hello")
    page.wait_for_selector("[data-images-note]:not([hidden])")
    shot(page, "hostile-html")
    assert frame.locator("script, iframe, svg, form, object").count() == 0
    page.mouse.click(10, 10)
    frame.click("text=Hello")
    page.wait_for_timeout(300)
    assert page.evaluate("window.pwned") is None
    assert frame.evaluate("typeof window.pwned") == "undefined"
    assert dialogs == []
    assert remote == []
    assert page.locator("[data-images-note] button").is_visible()


def test_organise_with_label_star_archive_trash_restore(page, alice):
    create_label(user=alice, name="Travel")
    item = deliver(raw_email(subject="Flight booking", to="alice@example.test"), alice)[0]
    sign_in(page, "alice@example.test")
    row = page.locator("li.thread", has_text="Flight booking")
    row.locator("input[name=thread]").check()
    page.select_option("#bulk-label", label="Travel")
    page.click("button[value=label]")
    page.wait_for_selector("li.thread .label-chip:has-text('Travel')")
    page.locator("li.thread", has_text="Flight booking").locator("input[name=thread]").check()
    page.click(".toolbar button[value=star]")
    page.wait_for_selector("li.thread .star.on")
    page.locator("li.thread", has_text="Flight booking").locator("input[name=thread]").check()
    page.click(".toolbar button[value=archive]")
    page.wait_for_selector("text=No conversations here.")
    page.click("#sidebar >> text=Archive")
    page.locator("li.thread", has_text="Flight booking").locator("input[name=thread]").check()
    page.click(".toolbar button[value=trash]")
    page.locator(".toast", has_text="Conversation moved to Trash").wait_for()
    page.click("#sidebar >> text=Trash")
    page.locator("li.thread", has_text="Flight booking").locator("input[name=thread]").check()
    page.click(".toolbar button[value=restore]")
    page.locator(".toast", has_text="Conversation restored").wait_for()
    item.refresh_from_db()
    assert item.folder == Folder.ARCHIVE and item.is_starred
    assert [label.name for label in item.labels.all()] == ["Travel"]


def test_new_mail_appears_without_reload_and_updates_the_title(page, alice):
    sign_in(page, "alice@example.test")
    assert page.title() == "Inbox"
    deliver(raw_email(subject="Arrived just now", to="alice@example.test"), alice)
    page.evaluate("htmx.trigger(document.body, 'mail:refresh')")  # what the 20 s poll does
    page.wait_for_selector("li.thread:has-text('Arrived just now')")
    page.wait_for_function("document.title === '(1) Inbox'")


def test_narrow_screen_and_chinese(page, alice, inbox_item):
    page.set_viewport_size({"width": 375, "height": 740})
    sign_in(page, "alice@example.test")
    assert not page.locator("#sidebar").is_visible()
    page.click("[data-menu-toggle]")
    assert page.locator("#sidebar").is_visible()
    page.select_option("#language", "zh-hans")
    page.wait_for_selector("h1:has-text('收件箱')")
    shot(page, "phone-zh")
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 380


def test_search_finds_the_message(page, alice):
    pytest.importorskip("mailboxes.search.services")
    deliver(raw_email(subject="Quokka sightings", to="alice@example.test"), alice)
    from django.core.management import call_command

    call_command("reindex")  # indexing is eventually consistent; the test does not wait for beat
    sign_in(page, "alice@example.test")
    page.keyboard.press("/")
    page.keyboard.type("quokka")
    page.keyboard.press("Enter")
    page.wait_for_selector("li.thread:has-text('Quokka sightings')")
    assert page.locator("li.thread .snippet mark").count() >= 1 or "Quokka" in page.content()
    shot(page, "search")
    page.fill("#search-box", 'subject:"unclosed')
    page.keyboard.press("Enter")
    page.wait_for_selector("[role=alert]")


def test_rich_text_compose(page, alice, bob):
    sign_in(page, "alice@example.test")
    page.goto(page.base + "/mail/compose/")
    page.fill("#id_to", "bob@example.test")
    page.fill("#id_subject", "Formatted")
    page.fill("#id_body", "Plain start")
    page.check("[data-rich-toggle]")
    editor = page.locator("[data-rich-editor]")
    assert editor.is_visible() and editor.inner_text() == "Plain start"
    editor.click()
    page.keyboard.press("End")
    page.click("[data-command=bold]")
    page.keyboard.type(" bold words")
    page.wait_for_selector("#save-status:has-text('Draft saved')")
    draft = MailboxItem.objects.get(user=alice, folder=Folder.DRAFTS)
    from mailboxes.blobstore import read_blob
    from mailboxes.parsing import parse_message

    parsed = parse_message(read_blob(draft.message.blob))
    assert re.search(r"<(b|strong)>(\s|&nbsp;)*bold words</(b|strong)>", parsed.html)
    assert "Plain start bold words" in parsed.text


def test_forward_with_the_attachment_by_keyboard(page, alice, carol):
    from tests.webmail.test_conversation import _raw_with_image_attachment

    deliver(_raw_with_image_attachment(), alice)
    sign_in(page, "alice@example.test")
    page.click("text=Photo")
    page.wait_for_selector("article.conversation")
    page.keyboard.press("f")  # the compose panel, over the conversation
    page.wait_for_selector("[data-compose-panel]")
    assert page.input_value("#id_subject") == "Fwd: Photo"
    assert page.locator("[data-upload-row]", has_text="lake.png").count() == 1
    page.fill("#id_to", "carol@example.test")
    page.click("button.primary:has-text('Send')")
    page.wait_for_selector("[data-undo-toast]", state="detached")
    received = MailboxItem.objects.get(user=carol)
    assert received.message.subject == "Fwd: Photo"
    assert [a.filename for a in received.message.attachments.all()] == ["lake.png"]


def test_create_an_api_token_and_call_the_api_with_it(page, alice, inbox_item):
    sign_in(page, "alice@example.test")
    page.click("header >> text=Settings")
    page.wait_for_url(re.compile(r"/settings/"))
    page.click(".settings-nav >> text=API tokens")
    page.wait_for_url(re.compile(r"/settings/api-tokens/$"))
    page.fill("#token-name", "browser test")
    page.click("button.primary:has-text('Create token')")
    token = page.input_value("[data-new-token]")
    assert token.startswith(API_TOKEN_PREFIX)
    page.click("button[data-copy]")
    page.wait_for_selector("#toasts .toast:has-text('Copied')")
    shot(page, "settings-new-token")

    url = page.base + "/api/mailbox/inbox"  # the live test server, http only
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        data = json.loads(response.read())
    assert [item["subject"] for item in data["items"]] == ["Quarterly numbers"]

    page.goto(page.base + "/settings/api-tokens/")
    assert token not in page.content()
    row = page.locator("tr[data-token-row]", has_text="browser test")
    assert row.locator("time").count() == 2  # created, and last used by the call above
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button:has-text('Revoke')").click()
    page.wait_for_selector("tr.revoked:has-text('browser test')")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310
    assert refused.value.code == 401


def test_e_on_a_conversation_archives_all_of_it(page, alice, bob):
    first = deliver(
        raw_email(subject="Release 2.3 is out", sender="bob@example.test", to="alice@example.test",
                  message_id="<rel-1@example.test>"),
        alice,
    )[0]  # fmt: skip
    send_and_deliver(
        user=alice, to=["bob@example.test"], subject="Re: Release 2.3 is out", in_reply_to_item_id=first.pk
    )
    deliver(
        raw_email(subject="Re: Release 2.3 is out", sender="bob@example.test", to="alice@example.test",
                  in_reply_to="<rel-1@example.test>"),
        alice,
    )  # fmt: skip
    sign_in(page, "alice@example.test")
    page.click("text=Release 2.3 is out")
    page.wait_for_selector("article.conversation")
    page.keyboard.press("e")
    page.wait_for_url(re.compile(r"/mail/$"))
    assert page.locator("li.thread", has_text="Release 2.3 is out").count() == 0
    folders = MailboxItem.objects.filter(user=alice, thread_id=first.thread_id).values_list("folder", flat=True)
    assert sorted(folders) == [Folder.ARCHIVE, Folder.ARCHIVE, Folder.SENT]
