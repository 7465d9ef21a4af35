"""The mail rules in headless Chromium, at desktop and phone widths: every page through axe-core."""

import re
from email.message import EmailMessage
from email.utils import make_msgid

from inbound.services.reception import Arrival, accept_messages
from mailboxes.models import Folder, Label, MailboxItem
from mailboxes.parsing import parse_message
from mailboxes.search.indexing import index_changes
from rules.models import BlockedSender, Filter, ForwardingAddress, VacationReply
from tests.factories import deliver, raw_email
from tests.support.browser import BROWSER_MARKS, assert_accessible, shot, sign_in

pytestmark = BROWSER_MARKS


def width(page) -> str:
    return "phone" if page.is_phone else "desktop"


def receipt(subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Shop <orders@shop.example>", "alice@example.test", subject
    msg["Message-ID"] = make_msgid(domain="shop.example")
    msg.set_content("Thank you for your order.")
    msg.add_attachment(b"%PDF-1.4 receipt", maintype="application", subtype="pdf", filename="receipt.pdf")
    return msg.as_bytes()


def test_create_a_filter_from_a_search_and_see_new_mail_arrive_labelled_outside_the_inbox(any_page, alice):
    page = any_page
    deliver(receipt("Old receipt"), alice)
    index_changes()
    sign_in(page, alice.email)
    page.goto(page.base + "/mail/search/?q=from%3Ashop.example+has%3Aattachment")
    page.click("[data-create-filter]")
    page.wait_for_selector("#filter-form")
    assert page.input_value("#filter-query") == "from:shop.example has:attachment"
    shot(page, f"rules-filter-new-{width(page)}")
    assert_accessible(page, "filters page, new filter from a search")

    page.fill("#filter-new-label", "Receipts")
    page.check("input[name=skip_inbox]")
    page.click("#filter-form button[type=submit]")
    page.wait_for_selector("[data-filter]")
    assert "Receipts" in page.inner_text(".rules-list")
    shot(page, f"rules-filters-{width(page)}")
    assert_accessible(page, "filters page with a filter")

    # Stored as the MX stores what it accepts; the inbound pipeline then runs (inline, after commit).
    accept_messages([Arrival(receipt("New receipt"), "orders@shop.example", ["alice@example.test"], "127.0.0.1",
                             "mail.shop.example")])  # fmt: skip

    page.goto(page.base + "/mail/")
    page.wait_for_selector("#conversation-list")
    assert "New receipt" not in page.inner_text("#conversation-list")
    label = Label.objects.get(user=alice, name="Receipts")
    page.goto(page.base + f"/mail/label/{label.pk}/")
    page.wait_for_selector("#conversation-list")
    assert "New receipt" in page.inner_text("#conversation-list")
    item = MailboxItem.objects.get(user=alice, message__subject="New receipt")
    assert item.folder == Folder.ARCHIVE


def test_a_filter_with_bad_criteria_shows_where_the_fault_is(any_page, alice):
    page = any_page
    sign_in(page, alice.email)
    page.goto(page.base + "/settings/filters/?q=from%3Aa+%28subject%3Ab")
    page.check("input[name=star]")
    page.click("#filter-form button[type=submit]")
    page.wait_for_selector("#filter-error")
    assert "at character 8" in page.inner_text("#filter-error")
    assert page.get_attribute("#filter-query", "aria-invalid") == "true"
    assert_accessible(page, "filters page with an error")
    assert not Filter.objects.exists()


def test_reorder_edit_and_delete_filters(any_page, alice):
    from rules.services.filters import FilterActions, create_filter

    page = any_page
    first = create_filter(user=alice, query="from:first@x.example", actions=FilterActions(star=True))
    second = create_filter(user=alice, query="from:second@x.example", actions=FilterActions(mark_read=True))
    sign_in(page, alice.email)
    page.goto(page.base + "/settings/filters/")
    page.click(f"#filter-{second.pk} button[value=up]")
    page.wait_for_url(re.compile(r"/settings/filters/"))
    page.wait_for_selector(f"[data-filter]:first-child#filter-{second.pk}")
    page.click(f"#filter-{first.pk} a.button")
    page.wait_for_selector("#filter-form")
    shot(page, f"rules-filter-edit-{width(page)}")
    assert_accessible(page, "edit a filter")
    page.fill("#filter-query", "subject:first")
    page.click("#filter-form button[type=submit]")
    page.wait_for_selector(f"#filter-{first.pk}")
    assert "subject:first" in page.inner_text(f"#filter-{first.pk}")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click(f"#filter-{second.pk} button[data-confirm]")
    page.wait_for_selector(f"#filter-{second.pk}", state="detached")
    assert list(Filter.objects.values_list("query", flat=True)) == ["subject:first"]


def test_block_a_sender_from_the_conversation_and_unblock_them(any_page, alice):
    page = any_page
    [item] = deliver(raw_email(subject="Buy now", sender="Pest <pest@spam.example>", to="alice@example.test"), alice)
    sign_in(page, alice.email)
    page.goto(page.base + f"/mail/t/{item.thread_id}/")
    page.wait_for_selector("section.message")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("section.message .message-more > summary")  # the message's More menu
    page.click("[data-block-sender]")
    page.wait_for_selector("text=pest@spam.example is blocked")
    assert BlockedSender.objects.filter(user=alice, value="pest@spam.example").exists()

    page.goto(page.base + "/settings/filters/#blocked")
    page.wait_for_selector("[data-blocked='pest@spam.example']")
    shot(page, f"rules-blocked-{width(page)}")
    assert_accessible(page, "blocked senders")
    page.click("[data-blocked='pest@spam.example'] button")
    page.wait_for_selector("[data-blocked='pest@spam.example']", state="detached")
    assert not BlockedSender.objects.exists()


def test_set_a_vacation_reply(any_page, alice):
    page = any_page
    sign_in(page, alice.email)
    page.goto(page.base + "/settings/vacation/")
    assert_accessible(page, "vacation reply, off")
    page.check("#vacation-enabled")
    page.fill("#vacation-starts", "2026-01-01")
    page.fill("#vacation-subject", "Away until January")
    page.fill("#vacation-body", "I am away and will answer when I am back.")
    page.fill("#vacation-interval", "7")
    page.click("form.rules-form button[type=submit]")
    page.wait_for_selector("[data-vacation-status]")
    assert "On" in page.inner_text("[data-vacation-status]")
    shot(page, f"rules-vacation-{width(page)}")
    assert_accessible(page, "vacation reply, on")
    reply = VacationReply.objects.get(user=alice)
    assert (reply.enabled, reply.subject, reply.interval_days) == (True, "Away until January", 7)


def test_add_a_forwarding_address_and_verify_it_from_the_link_in_the_mail(
    any_page, alice, remote_domain, smtp_server, live_server, settings
):
    page = any_page
    settings.WEBMAIL_BASE_URL = live_server.url
    sign_in(page, alice.email)
    page.goto(page.base + "/settings/forwarding/")
    page.fill("#forwarding-address", "me@remote.example")
    page.click("form.rules-inline button[type=submit]")
    page.wait_for_selector("[data-forwarding-address='me@remote.example']")
    shot(page, f"rules-forwarding-{width(page)}")
    assert_accessible(page, "forwarding, waiting for verification")

    [mail] = [m for m in smtp_server.messages if m.rcpt_tos == ["me@remote.example"]]
    link = re.search(r"(http://\S+/forwarding/verify/\S+/)", parse_message(mail.content).text).group(1)
    page.goto(link)
    page.wait_for_selector("h1")
    shot(page, f"rules-forwarding-verify-{width(page)}")
    assert_accessible(page, "verification page")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-forwarding-confirmed]")
    assert_accessible(page, "verification done")

    page.goto(page.base + "/settings/forwarding/")
    page.wait_for_selector("[data-forwarding-address='me@remote.example'] [data-verified]")
    page.select_option("#forward-all-address", label="me@remote.example")
    page.check("input[name=keep][value=archive]")
    page.click("form.rules-form button[type=submit]")
    page.wait_for_selector("text=All new mail is forwarded to me@remote.example")
    assert ForwardingAddress.objects.get(user=alice).is_verified
    assert_accessible(page, "forwarding, on")
