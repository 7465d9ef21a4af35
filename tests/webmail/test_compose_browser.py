"""Compose in the browser at desktop and phone widths: the docked panel (desktop) or the full page (phone),
address suggestions by keyboard, identities and signatures, drafts reopened and sent."""

import re

import pytest

from accounts.services import add_alias
from mailboxes.blobstore import read_blob
from mailboxes.models import Folder, MailboxItem
from mailboxes.parsing import parse_message
from mailboxes.services.identities import identities_of, update_identity
from tests.factories import deliver, raw_email
from tests.support.browser import BROWSER_MARKS, assert_accessible, shot, sign_in

pytestmark = BROWSER_MARKS

# Is the element on screen and not covered by anything (a click at its centre reaches it)?
UNCOVERED = """el => {
    const r = el.getBoundingClientRect();
    if (!r.width || r.top < 0 || r.bottom > innerHeight || r.left < 0 || r.right > innerWidth) return false;
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return hit === el || el.contains(hit);
}"""


def width(page):
    return "phone" if page.is_phone else "desktop"


def open_compose(page):
    """Compose from the list: the panel on a wide screen, the page on a phone."""
    if page.is_phone:
        page.goto(page.base + "/mail/compose/")
    else:
        page.click(".compose-button")
        page.wait_for_selector("[data-compose-panel] #id_to:focus")


@pytest.fixture
def sales(alice):
    add_alias(user=alice, address="sales@example.test")
    mine = {i.address.email: i for i in identities_of(user=alice)}
    update_identity(user=alice, identity_id=mine["alice@example.test"].pk, display_name="", signature="Alice at home")
    update_identity(user=alice, identity_id=mine["sales@example.test"].pk, display_name="Sales Team",
                    signature="Sales desk\n+1 555 0100")  # fmt: skip
    return mine["sales@example.test"]


def test_compose_is_a_panel_over_the_list_on_desktop_and_a_page_on_phones(any_page, alice):
    page = any_page
    for n in range(3):
        deliver(raw_email(subject=f"Row {n}", sender="Dana <dana@remote.example>", to="alice@example.test"), alice)
    sign_in(page, "alice@example.test")
    page.click(".menu-toggle") if page.is_phone else None
    page.click(".compose-button")
    if page.is_phone:
        page.wait_for_url(re.compile(r"/mail/compose/$"))
        assert page.locator("[data-compose-panel]").count() == 0
        page.wait_for_selector("#compose-form")
        shot(page, "compose-page-phone")
        assert_accessible(page, "compose page (phone)")
        return
    panel = page.locator("[data-compose-panel]")
    panel.wait_for()
    assert page.url.endswith("/mail/") and page.evaluate("document.activeElement.id") == "id_to"
    box = panel.bounding_box()
    assert box["width"] <= 562 and box["x"] > 640  # docked bottom right, the list's left part free
    # The list stays usable: its rows are not covered and take clicks.
    row = page.locator("li.thread").first.locator('input[name="thread"]')
    assert row.evaluate(UNCOVERED)
    row.click()
    assert row.is_checked()
    shot(page, "compose-panel-desktop")
    assert_accessible(page, "compose panel")
    # Esc minimises it and saves the draft; the minimise button brings it back.
    page.fill("#id_subject", "Half written")
    page.keyboard.press("Escape")
    page.wait_for_selector("[data-compose-panel].minimised")
    assert page.locator("#compose-form").is_hidden()
    page.wait_for_selector("[data-draft-id]:not([value=''])", state="attached")
    assert MailboxItem.objects.get(user=alice, folder=Folder.DRAFTS).message.subject == "Half written"
    assert_accessible(page, "compose panel, minimised")
    page.click("[data-panel-minimise]")
    assert page.locator("#id_subject").is_visible()
    page.click("[data-panel-close]")
    page.wait_for_selector("[data-compose-panel]", state="detached")
    assert MailboxItem.objects.filter(user=alice, folder=Folder.DRAFTS).count() == 1
    # Expand: the full page, with the draft.
    page.keyboard.press("c")
    page.wait_for_selector("[data-compose-panel] #id_to:focus")
    page.fill("#id_subject", "Bigger")
    page.click("[data-panel-expand]")
    page.wait_for_url(re.compile(r"/mail/compose/\?draft=\d+$"))
    assert page.input_value("#id_subject") == "Bigger"


def test_send_stays_visible_with_a_long_message(any_page, alice):
    page = any_page
    sign_in(page, "alice@example.test")
    open_compose(page)
    page.fill("#id_to", "bob@remote.example")
    page.fill("#id_body", "\n".join(f"Line {n} of a long message" for n in range(200)))
    page.locator("#id_subject").focus()
    send = page.locator("button.primary", has_text="Send")
    assert send.evaluate(UNCOVERED), "Send is off screen or covered"
    page.locator("#id_body").press("End")
    assert send.evaluate(UNCOVERED)
    # The formatting toolbar fits the width, with named, pressed-state buttons.
    page.check("[data-rich-toggle]")
    toolbar = page.locator("[data-rich-toolbar]")
    assert toolbar.evaluate("el => el.scrollWidth <= el.clientWidth + 1")
    assert page.locator("[data-command=bold]").get_attribute("aria-pressed") == "false"
    # The test ends with the autosave this change sets off answered, not in flight.
    with page.expect_response(lambda r: "/mail/compose/save/" in r.url):
        page.click("[data-command=bold]")
        page.wait_for_selector("[data-command=bold][aria-pressed=true]")
    shot(page, f"compose-long-{width(page)}")
    assert_accessible(page, "compose, long rich message")


def test_address_suggestions_by_keyboard(any_page, alice, bob):
    page = any_page
    deliver(raw_email(sender="Dana Scully <dana@remote.example>", to="alice@example.test"), alice)
    deliver(raw_email(sender="Danny Boy <danny@remote.example>", to="alice@example.test"), alice)
    deliver(raw_email(sender="Secret <dana-secret@remote.example>", to="bob@example.test"), bob)
    sign_in(page, "alice@example.test")
    open_compose(page)
    to = page.locator("#id_to")
    to.focus()
    page.keyboard.type("carol@example.test, sc")  # a word of the name
    options = page.locator("#suggest-to [role=option]")
    options.first.wait_for()
    assert options.all_text_contents() == ["Dana Scullydana@remote.example"]
    assert to.get_attribute("aria-expanded") == "true"
    page.keyboard.press("ArrowDown")
    assert to.get_attribute("aria-activedescendant") == "suggest-to-0"
    assert options.first.get_attribute("aria-selected") == "true"
    shot(page, f"compose-suggestions-{width(page)}")
    assert_accessible(page, "compose, suggestions open")
    page.keyboard.press("Enter")
    assert to.input_value() == 'carol@example.test, "Dana Scully" <dana@remote.example>, '
    assert to.get_attribute("aria-expanded") == "false"
    # Esc closes the list (and only the list); Tab accepts the highlighted one.
    page.keyboard.type("dan")
    options.filter(has_text="danny@remote.example").wait_for()
    assert "dana-secret" not in page.inner_text("#suggest-to")  # bob's correspondent, never alice's
    page.keyboard.press("Escape")
    assert page.locator("#suggest-to").is_hidden() and page.locator("#compose-form").is_visible()
    page.keyboard.press("ArrowDown")  # opens the list again
    options.filter(has_text="danny@remote.example").wait_for()
    for _ in range(options.all_text_contents().index("Danny Boydanny@remote.example") + 1):
        page.keyboard.press("ArrowDown")
    with page.expect_response(lambda r: "/mail/compose/save/" in r.url):  # accepting one saves the draft
        page.keyboard.press("Tab")
    assert to.input_value().endswith('"Danny Boy" <danny@remote.example>, ')


def test_send_as_an_alias_with_its_signature(any_page, alice, bob, sales):
    page = any_page
    sign_in(page, "alice@example.test")
    open_compose(page)
    body = page.locator("#id_body")
    assert body.input_value() == "\n\n-- \nAlice at home"
    page.select_option("#id_from", "sales@example.test")
    assert body.input_value() == "\n\n-- \nSales desk\n+1 555 0100"
    # Once edited, the signature is the user's text: switching identity leaves it alone.
    body.fill("Hello Bob\n\n-- \nSales desk, ask for Ann")
    page.select_option("#id_from", "alice@example.test")
    assert body.input_value() == "Hello Bob\n\n-- \nSales desk, ask for Ann"
    page.select_option("#id_from", "sales@example.test")
    shot(page, f"compose-identity-{width(page)}")
    page.fill("#id_to", "bob@example.test")
    page.fill("#id_subject", "Your order")
    page.click("button.primary:has-text('Send')")
    page.wait_for_selector("[data-undo-toast]")
    page.wait_for_selector("[data-undo-toast]", state="detached")
    received = MailboxItem.objects.get(user=bob, message__subject="Your order")
    assert (received.message.from_address, received.message.from_name) == ("sales@example.test", "Sales Team")
    assert "Sales desk, ask for Ann" in parse_message(read_blob(received.message.blob)).text


def test_a_reply_answers_as_the_alias_with_the_signature_above_the_quote(any_page, alice, sales):
    page = any_page
    item = deliver(raw_email(subject="Boxes", sender="Bob <bob@remote.example>", to="sales@example.test",
                             body="Ten boxes please"), alice)[0]  # fmt: skip
    sign_in(page, "alice@example.test")
    page.goto(page.base + f"/mail/t/{item.thread_id}/")
    page.click("[data-shortcut-reply]")
    body = page.locator("#id_body")
    body.wait_for()
    assert page.locator("#id_from").input_value() == "sales@example.test"
    text = body.input_value()
    assert text.startswith("\n\n-- \nSales desk") and text.index("Sales desk") < text.index("> Ten boxes please")
    with page.expect_response(lambda r: "/mail/compose/save/" in r.url):  # the switch is saved
        page.select_option("#id_from", "alice@example.test")
    text = body.input_value()
    assert "Sales desk" not in text and text.index("Alice at home") < text.index("> Ten boxes please")
    assert page.evaluate("document.activeElement.id") == "id_body"


def test_a_draft_reopens_ready_to_edit_and_sends(any_page, alice, bob, sales, tmp_path):
    page = any_page
    sign_in(page, "alice@example.test")
    open_compose(page)
    page.select_option("#id_from", "sales@example.test")
    page.fill("#id_to", "bob@example.test")
    page.fill("#id_subject", "Price list")
    notes = tmp_path / "prices.txt"
    notes.write_text("boxes: 3\n")
    page.set_input_files("[data-upload-input]", str(notes))
    page.wait_for_selector("[data-upload-row][data-uploaded]")
    page.check("[data-rich-toggle]")
    editor = page.locator("[data-rich-editor]")
    editor.click()
    page.keyboard.press("Control+Home")
    page.click("[data-command=bold]")
    page.keyboard.type("Prices inside")
    page.wait_for_selector("#save-status:has-text('Draft saved')")
    if page.is_phone:
        page.goto(page.base + "/mail/f/drafts/")
    else:
        page.click("[data-panel-close]")
        page.wait_for_selector("[data-compose-panel]", state="detached")
        page.click("a:has-text('Drafts')")
    page.wait_for_url(re.compile(r"/mail/f/drafts/"))
    page.click("li.thread a.thread-link")
    if page.is_phone:
        page.wait_for_url(re.compile(r"/mail/compose/\?draft=\d+"))
    else:
        page.wait_for_selector("[data-compose-panel] #compose-form")
        assert "/mail/f/drafts/" in page.url
    assert page.locator("#id_from").input_value() == "sales@example.test"
    assert page.input_value("#id_to") == "bob@example.test" and page.input_value("#id_subject") == "Price list"
    assert page.locator("[data-rich-toggle]").is_checked()
    assert editor.locator("b, strong").inner_text().strip() == "Prices inside"
    assert page.locator("[data-upload-row]", has_text="prices.txt").count() == 1
    shot(page, f"compose-draft-{width(page)}")
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.type(" and more")
    page.click("button.primary:has-text('Send')")
    page.wait_for_selector("[data-undo-toast]")
    page.wait_for_selector("[data-undo-toast]", state="detached")
    received = MailboxItem.objects.get(user=bob, message__subject="Price list")
    parsed = parse_message(read_blob(received.message.blob))
    assert received.message.from_address == "sales@example.test"
    assert "Prices inside" in parsed.text and "and more" in parsed.text
    assert [a.filename for a in received.message.attachments.all()] == ["prices.txt"]
    assert not MailboxItem.objects.filter(user=alice, folder=Folder.DRAFTS).exists()


def test_identities_settings(any_page, alice, sales):
    page = any_page
    sign_in(page, "alice@example.test")
    page.goto(page.base + "/settings/identities/")
    assert page.locator(".settings-nav a[aria-current=page]").inner_text() == "Addresses and signatures"
    shot(page, f"settings-identities-{width(page)}")
    assert_accessible(page, "identities settings")
    page.fill(f"#name-{sales.pk}", "Sales & Support")
    page.fill(f"#signature-{sales.pk}", "Support desk")
    page.check(f"input[name=default][value='{sales.pk}']")
    page.click("button.primary:has-text('Save')")
    page.wait_for_selector("text=Addresses and signatures saved.")
    sales.refresh_from_db()
    assert (sales.display_name, sales.signature, sales.is_default) == ("Sales & Support", "Support desk", True)
    page.goto(page.base + "/mail/compose/")
    assert page.locator("#id_from").input_value() == "sales@example.test"
    assert page.input_value("#id_body") == "\n\n-- \nSupport desk"


def test_one_editor_shows_at_a_time(any_page, alice):
    page = any_page
    sign_in(page, "alice@example.test")
    open_compose(page)
    assert page.locator("#id_body").is_visible() and page.locator("[data-rich-editor]").is_hidden()
    assert page.locator("[data-command=bold]").is_hidden()
    page.check("[data-rich-toggle]")
    assert page.locator("#id_body").is_hidden() and page.locator("[data-rich-editor]").is_visible()
    assert page.locator("[data-command=bold]").is_visible()
