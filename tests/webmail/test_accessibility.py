"""axe-core on every page a signed-in user, a marketer and a signed-out visitor see, at desktop and phone widths:
no serious or critical violation. Pages of one kind are checked in one test (one sign-in) and reported together.
States that need a feature's own set-up are checked in its browser tests (grep ``assert_accessible``)."""

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiToken, Domain
from accounts.services import create_api_token, revoke_api_token
from accounts.settings_sections import SECTIONS
from campaigns.models import ContactList, ListMembership
from campaigns.services.contacts import create_contact
from campaigns.services.double_opt_in import confirmation_token
from campaigns.services.segments import create_segment
from campaigns.services.templates import create_template
from campaigns.unsubscribe import make_token
from delivery.services import run_delivery, send_message
from inbound.services.pipeline import process_inbound_messages
from inbound.services.reception import accept_message
from mailboxes.models import Folder, ImportJob, Label, MailboxItem
from mailboxes.services import add_labels, create_label
from mailboxes.services.actions import set_starred
from mailboxes.services.drafts import save_draft
from rules.models import ForwardingAddress, VacationReply
from rules.services.filters import FilterActions, create_filter
from tests.campaigns.results_world import make_campaign
from tests.factories import UserFactory, deliver, deliver_scanned, raw_email
from tests.inbound.test_risky_attachments import FIX_PARSER, list_post
from tests.inbound.test_spam import spammy_mail
from tests.inbound.test_virus import pe_executable
from tests.support.browser import BROWSER_MARKS, assert_accessible, axe_violations, shot, sign_in
from tests.webmail.conftest import html_email

pytestmark = BROWSER_MARKS

WITH_ATTACHMENT = (
    b"From: Bob <bob@remote.example>\r\nTo: alice@example.test\r\nSubject: Report attached\r\n"
    b"Message-ID: <report-1@remote.example>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nAttached.\r\n'
    b'--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="q3.pdf"\r\n\r\n'
    b"%PDF-1.4 fake\r\n--B--\r\n"
)


def width(page) -> str:
    return "phone" if page.is_phone else "desktop"


def check_all(page, paths: list[str], *, ready: str = "main") -> None:
    """Every path, then one failure listing the violations of all of them."""
    check_each(page, dict.fromkeys(paths, ready))


def check_each(page, pages: dict[str, str]) -> None:
    """Each path once the page shows its selector (the state it is there for), then one failure for all."""
    found = {}
    for path, ready in pages.items():
        page.goto(page.base + path)
        page.wait_for_selector(ready)
        violations = axe_violations(page)
        if violations:
            found[path] = violations
    assert not found, "axe-core:\n" + json.dumps(found, indent=1)


@pytest.fixture
def mail(alice):
    return deliver(raw_email(subject="Lunch plans", sender="Bob <bob@remote.example>", to="alice@example.test",
                             body="Noon at the usual place?"), alice)[0]  # fmt: skip


@pytest.fixture
def mailbox(alice, mail):
    """Something in every folder, a starred and a labelled conversation, an HTML mail, an attachment."""
    for folder in (Folder.SENT, Folder.DRAFTS, Folder.ARCHIVE, Folder.SPAM, Folder.TRASH):
        deliver(raw_email(subject=f"Kept in {folder}", to="alice@example.test"), alice, folder=folder)
    work = create_label(user=alice, name="Work", color="#0f766e")
    add_labels(user=alice, item_ids=[mail.pk], label_ids=[work.pk])
    letter = "<h1>News</h1><p>An <b>HTML</b> letter with <a href='https://example.org'>a link</a>.</p>"
    html = deliver(html_email(letter), alice)[0]
    attached = deliver(WITH_ATTACHMENT, alice)[0]
    return {"label": work, "plain": mail, "html": html, "attachment": attached}


def test_sign_in_page(any_page):
    any_page.goto(any_page.base + "/signin/")
    assert_accessible(any_page, "sign-in")
    any_page.fill("#id_username", "nobody@example.test")
    any_page.fill("#id_password", "wrong")
    any_page.click("button[type=submit]")
    any_page.wait_for_selector("[role=alert]")
    shot(any_page, f"sign-in-error-{width(any_page)}")
    assert_accessible(any_page, "sign-in with an error")


def test_mail_lists(any_page, alice, mailbox):
    sign_in(any_page, alice.email)
    folders = [reverse("mailboxes:folder", args=[f]) for f in ("starred", "sent", "drafts", "archive", "spam", "trash")]
    label = mailbox["label"]
    check_all(any_page, ["/mail/", *folders, f"/mail/label/{label.pk}/", f"/mail/label/{label.pk}/edit/"])


def test_search_pages(any_page, alice, mailbox):
    sign_in(any_page, alice.email)
    check_all(any_page, ["/mail/search/?q=lunch", "/mail/search/?q=zebra", "/mail/search/?q=%22unclosed"])
    assert any_page.locator(".form-error[role=alert]").count() == 1  # the last one is a search error


def test_conversations(any_page, alice, mailbox):
    sign_in(any_page, alice.email)
    paths = [f"/mail/t/{mailbox[kind].thread_id}/" for kind in ("plain", "html", "attachment")]
    check_all(any_page, paths, ready="section.message")
    shot(any_page, f"conversation-attachment-{width(any_page)}")


def test_compose(any_page, alice, mail):
    sign_in(any_page, alice.email)
    check_all(any_page, ["/mail/compose/", f"/mail/compose/?reply={mail.pk}"])


def test_settings_sections(any_page, alice):
    sign_in(any_page, alice.email)
    paths = [reverse(section.url_name) for section in SECTIONS]  # every section is installed: none is left out
    assert len(paths) == len(SECTIONS) >= 8 and "/settings/general/" in paths
    check_all(any_page, paths)
    assert any_page.locator(".settings-nav a").count() == len(SECTIONS)


def test_mail_list_states(any_page, bob, alice, mail):
    """An empty inbox, Snoozed and Scheduled; a new label made, then refused; the keyboard shortcuts
    (desktop) or the opened menu (phone); a row selected, and on desktop the keyboard cursor on another
    and the row actions shown on hover."""
    sign_in(any_page, bob.email)
    check_each(any_page, {
        "/mail/": "p.empty >> text=No conversations here.",
        "/mail/f/snoozed/": "p.empty >> text=No conversations here.",
        reverse("mailboxes:scheduled"): "[data-scheduled-empty]",
    })  # fmt: skip
    made, refused = "Label “Ideas” created.", "You already have a label named 'Ideas'."
    for name, flash in (("Ideas", made), ("ideas", refused)):  # the name again, in other case: refused
        if any_page.is_phone:
            any_page.click("[data-menu-toggle]")
        any_page.click("details.new-label summary")
        any_page.fill("#new-label-name", name)
        assert_accessible(any_page, "the new label form open")
        any_page.click("details.new-label button[type=submit]")
        any_page.locator(".flash", has_text=flash).wait_for()
        assert_accessible(any_page, flash)
    assert list(Label.objects.filter(user=bob).values_list("name", flat=True)) == ["Ideas"]
    any_page.context.clear_cookies()
    deliver(raw_email(subject="Second row", to="alice@example.test"), alice)
    sign_in(any_page, alice.email)
    if any_page.is_phone:
        any_page.click("[data-menu-toggle]")
        any_page.locator("#sidebar a", has_text="Sent").wait_for()
        assert any_page.get_attribute("[data-menu-toggle]", "aria-expanded") == "true"
        shot(any_page, "inbox-menu-open-phone")
        assert_accessible(any_page, "inbox, menu open")
        any_page.click("[data-menu-toggle]")
        any_page.locator("#sidebar a", has_text="Sent").wait_for(state="hidden")
    else:
        any_page.keyboard.press("?")
        any_page.locator("#shortcuts[open]").get_by_text("Keyboard shortcuts").wait_for()
        shot(any_page, "inbox-keyboard-shortcuts-desktop")
        assert_accessible(any_page, "inbox, keyboard shortcuts")
        any_page.keyboard.press("Escape")
        any_page.locator("#shortcuts").wait_for(state="hidden")

    row = any_page.locator(f'li.thread[data-thread-id="{mail.thread_id}"]')
    if not any_page.is_phone:  # a keyboard: the cursor on the first row (the newest), the other one selected
        any_page.keyboard.press("j")
        any_page.wait_for_selector("li.thread.current[aria-current=true] >> text=Second row")
    row.locator('input[name="thread"]').check()
    if not any_page.is_phone:
        row.hover()
        row.locator("[data-snooze-open]").wait_for()
    shot(any_page, f"inbox-selected-and-cursor-{width(any_page)}")
    assert_accessible(any_page, "inbox, a row selected, the cursor on another")


def test_conversation_states(any_page, alice, mail):
    """Two messages, starred, with a draft reply; held-back and warned attachments; one in Trash; one in
    Spam with why (opened); a missing one (404). Bounces and images: test_display_browser."""
    first_id = mail.message.message_id
    reply = raw_email(subject="Re: Lunch plans", sender="Bob <bob@remote.example>", to="alice@example.test",
                      in_reply_to=first_id, references=first_id, body="Or one?")  # fmt: skip
    [second] = deliver(reply, alice)
    assert second.thread_id == mail.thread_id
    set_starred(user=alice, item_ids=[second.pk])
    save_draft(user=alice, to=["bob@remote.example"], subject="Re: Lunch plans", text="One is fine.",
               in_reply_to_item_id=second.pk)  # fmt: skip
    risky = list_post(("setup.exe", pe_executable(), "application/x-msdownload"),
                      ("repro.py", FIX_PARSER, "text/x-python"))  # fmt: skip
    [held] = deliver_scanned(risky, alice)
    [trashed] = deliver(raw_email(subject="Old news", to="alice@example.test"), alice, folder=Folder.TRASH)
    job = accept_message(raw=spammy_mail(), mail_from="sam@sender.example", rcpt_tos=[alice.email],
                         client_ip="192.0.2.7", helo="mx.example")  # fmt: skip
    process_inbound_messages(job_ids=[job.pk])
    spam = MailboxItem.objects.get(user=alice, folder=Folder.SPAM)
    sign_in(any_page, alice.email)
    check_each(any_page, {
        f"/mail/t/{mail.thread_id}/": "section.message .badge >> text=Draft",
        f"/mail/t/{held.thread_id}/": "[data-scan-notice] >> nth=1",
        f"/mail/t/{trashed.thread_id}/?view=trash": "[data-conversation-action=delete]",  # opened from Trash
        "/mail/t/999999/": "h1 >> text=Not Found",
    })  # fmt: skip

    any_page.goto(any_page.base + f"/mail/t/{spam.thread_id}/?view=spam")
    any_page.click("details.spam-check summary")
    any_page.locator("ul.spam-signals li.towards-spam").first.wait_for()
    shot(any_page, f"conversation-spam-why-{width(any_page)}")
    assert_accessible(any_page, "conversation in Spam, why open")


def test_compose_states(any_page, alice, mail):
    """Forward, reply to all and a draft reopened (reply and a new message are in test_compose)."""
    draft = save_draft(user=alice, to=["bob@remote.example"], subject="Half done", text="To be continued")
    sign_in(any_page, alice.email)
    check_each(any_page, {
        f"/mail/compose/?forward={mail.pk}": "#id_subject[value='Fwd: Lunch plans']",
        f"/mail/compose/?reply_all={mail.pk}": "#id_subject[value='Re: Lunch plans']",
        f"/mail/compose/?draft={draft.pk}": "#id_subject[value='Half done']",
    })  # fmt: skip


def test_compose_with_a_bounce_warning_then_an_error(any_page, alice, remote_domain):
    bounced = send_message(user=alice, to=["unknown@remote.example"], subject="Figures", text="The figures.")
    run_delivery(message_id=bounced.pk)
    sign_in(any_page, alice.email)
    any_page.goto(any_page.base + "/mail/compose/")
    any_page.fill("#id_to", "unknown@remote.example")
    any_page.fill("#id_subject", "Figures again")  # the To field's change event asks for the warnings
    any_page.locator("[data-bounce-warning='unknown@remote.example']").wait_for()
    shot(any_page, f"compose-bounce-warning-{width(any_page)}")
    assert_accessible(any_page, "compose with a bounce warning")
    any_page.fill("#id_to", "not an address")
    any_page.click("button.primary:has-text('Send')")
    any_page.wait_for_selector("#compose-error")
    assert any_page.get_attribute("#id_to", "aria-invalid") == "true"
    assert not MailboxItem.objects.filter(user=alice, message__subject="Figures again", folder=Folder.SENT).exists()
    shot(any_page, f"compose-error-{width(any_page)}")
    assert_accessible(any_page, "compose with an error")


def test_api_tokens_with_a_new_and_a_revoked_token(any_page, alice):
    old, _secret = create_api_token(user=alice, name="Old script")
    revoke_api_token(user=alice, token_id=old.pk)
    sign_in(any_page, alice.email)
    any_page.goto(any_page.base + reverse("accounts:api_tokens"))
    any_page.fill("#token-name", "Backup")
    any_page.click(".token-form button[type=submit]")
    token = any_page.locator("[data-new-token]")
    token.wait_for()
    assert any_page.locator("tr.revoked").count() == 1
    assert ApiToken.objects.get(user=alice, name="Backup").prefix in token.input_value()
    shot(any_page, f"api-tokens-new-{width(any_page)}")
    assert_accessible(any_page, "API tokens, a new one shown")


def test_filter_edit_with_an_error(any_page, alice):
    found = create_filter(user=alice, query="from:first@x.example", actions=FilterActions(star=True))
    sign_in(any_page, alice.email)
    any_page.goto(any_page.base + reverse("rules:filter_edit", args=[found.pk]))
    any_page.fill("#filter-query", "from:a (subject:b")
    any_page.click("#filter-form button[type=submit]")
    any_page.wait_for_selector("#filter-error")
    assert any_page.get_attribute("#filter-query", "aria-invalid") == "true"
    found.refresh_from_db()
    assert found.query == "from:first@x.example"
    assert_accessible(any_page, "filter edit with an error")


def test_settings_with_errors_and_a_failed_import(any_page, alice):
    ImportJob.objects.create(
        user=alice, filename="old.mbox", upload_key="", size=2048, status=ImportJob.Status.FAILED, total=5, done=2,
        imported=1, failed=1, errors=["Message 2: not a mail message", "The file ends in the middle of a message"],
    )  # fmt: skip
    sign_in(any_page, alice.email)
    any_page.goto(any_page.base + reverse("rules:vacation"))
    any_page.check("#vacation-enabled")
    any_page.fill("#vacation-starts", "2026-02-01")
    any_page.fill("#vacation-ends", "2026-01-10")
    any_page.fill("#vacation-subject", "Away")
    any_page.fill("#vacation-body", "Back soon.")
    any_page.click("form.rules-form button[type=submit]")
    any_page.wait_for_selector("#vacation-error >> text=The last day comes before the first.")
    assert any_page.get_attribute("#vacation-ends", "aria-invalid") == "true"
    assert not VacationReply.objects.filter(user=alice, enabled=True).exists()
    assert_accessible(any_page, "vacation reply with an error")

    any_page.goto(any_page.base + reverse("rules:forwarding"))
    any_page.fill("#forwarding-address", alice.email)
    any_page.click("form.rules-inline button[type=submit]")
    any_page.wait_for_selector("#forwarding-error >> text=That is one of your own addresses.")
    assert not ForwardingAddress.objects.exists()
    assert_accessible(any_page, "forwarding with an error")

    any_page.goto(any_page.base + reverse("mailboxes:import_export"))
    any_page.click(".import-errors summary")
    any_page.get_by_text("Message 2: not a mail message").wait_for()
    assert "1 imported, 0 already there, 1 failed" in any_page.inner_text("[data-import-counts]")
    shot(any_page, f"import-failed-{width(any_page)}")
    assert_accessible(any_page, "a failed import, its problems open")


def test_signed_out_pages_and_broken_links(any_page, shop):
    """What a visitor reaches without an account or from a link in a mail, the broken links too."""
    membership = ListMembership.objects.get(contact=shop["contact"])
    confirm = confirmation_token(membership=membership, now=timezone.now())
    check_each(any_page, {
        "/signin/forgot/": "#id_address",
        "/signin/reset/MQ/not-a-token/": "[role=alert]",
        "/recovery/verify/not-a-token/": "[role=alert]",
        "/settings/forwarding/verify/not-a-token/": "h1 >> text=Not Found",
        f"/subscribe/confirm/{confirm}/": "h1 >> text=Confirm your subscription",
        "/subscribe/confirm/not-a-token/": "[role=alert]",
        "/u/not-a-token/": "h1 >> text=Unsubscribe link not valid",
        "/t/c/not-a-token": "h1 >> text=Link not valid",
    })  # fmt: skip
    any_page.goto(f"{any_page.base}/subscribe/confirm/{confirm}/")
    any_page.click("button[type=submit]")
    any_page.wait_for_selector("h1 >> text=You are subscribed")
    assert_accessible(any_page, "subscription confirmed")
    token = make_token(domain_id=shop["domain"].pk, address="ann@remote.example", contact_list_id=shop["list"].pk)
    any_page.goto(f"{any_page.base}/u/{token}/")
    any_page.click("button[value=list]")
    any_page.wait_for_selector("[data-done=list]")
    shot(any_page, f"unsubscribed-{width(any_page)}")
    assert_accessible(any_page, "unsubscribed from a list")

    any_page.select_option("#language", "zh-hans")  # the page's own language picker: a cookie, for what follows
    any_page.wait_for_selector("html[lang=zh-hans] [data-done=list]")
    assert_accessible(any_page, "the unsubscribe page in Chinese")
    check_each(
        any_page, {"/signin/": "html[lang=zh-hans] #id_username", "/signin/forgot/": "html[lang=zh-hans] #id_address"}
    )


@pytest.fixture
def shop(db, settings, tmp_path):
    """A marketer of shop.test with a template, a list, a segment, a campaign with results."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    marketer = UserFactory(address="mia@shop.test", display_name="Mia Marketer", marketer=True)
    domain = Domain.objects.get(name="shop.test")
    template = create_template(
        user=marketer, key="news", name="News", stream="marketing", subject="News for {{ name }}",
        html="<h1>Hello {{ name }}</h1><p>Our news.</p>",
        variables=[{"name": "name", "type": "string", "required": False, "default": "friend", "example": "Ada"}],
    )  # fmt: skip
    news = ContactList.objects.create(domain=domain, name="Newsletter")
    contact = create_contact(workspace=domain, address="ann@remote.example", name="Ann", consent_source="test")
    ListMembership.objects.create(contact_list=news, contact=contact)
    segment = create_segment(workspace=domain, name="Readers", created_by=marketer, definition={"lists": [news.pk]})
    campaign = make_campaign(domain, ["ann@remote.example", "ben@remote.example"])
    return {
        "marketer": marketer, "domain": domain, "template": template, "list": news, "contact": contact,
        "segment": segment, "campaign": campaign,
    }  # fmt: skip


def test_marketing_pages(any_page, shop):
    sign_in(any_page, shop["marketer"].email)
    pages = [
        reverse("campaigns:home"),
        reverse("campaigns:campaigns"),
        reverse("campaigns:campaign_new"),
        reverse("campaigns:campaign", args=[shop["campaign"].pk]),
        reverse("campaigns:campaign_results", args=[shop["campaign"].pk]),
        reverse("campaigns:templates"),
        reverse("campaigns:template_edit", args=[shop["template"].pk]),
        reverse("campaigns:contacts"),
        reverse("campaigns:contact", args=[shop["contact"].pk]),
        reverse("campaigns:lists"),
        reverse("campaigns:list", args=[shop["list"].pk]),
        reverse("campaigns:imports"),
        reverse("campaigns:segments"),
        reverse("campaigns:segment", args=[shop["segment"].pk]),
        reverse("campaigns:suppressions"),
    ]
    check_all(any_page, pages)


def test_unsubscribe_page(any_page, shop):
    token = make_token(domain_id=shop["domain"].pk, address="ann@remote.example", contact_list_id=shop["list"].pk)
    any_page.goto(f"{any_page.base}/u/{token}/")
    shot(any_page, f"unsubscribe-{width(any_page)}")
    assert_accessible(any_page, "unsubscribe page")
