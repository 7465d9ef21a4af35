"""HTML mail, the images bar and delivery notices in a real browser, at desktop and phone widths.

The "remote" images come from a loopback HTTP server (never the internet); it counts requests,
so the tests see that a held-back image was not fetched.
"""

from datetime import UTC, datetime, timedelta

import pytest

from delivery.services import run_delivery, send_message
from delivery.services.notices import notify_senders_of_delays
from mailboxes.models import MailboxItem
from tests.support.browser import BROWSER_MARKS, assert_accessible, shot, sign_in
from tests.support.mail_display import ImageServer, received

pytestmark = BROWSER_MARKS

SENT_AT = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def images():
    with ImageServer() as server:
        yield server


def width(page) -> str:
    return "phone" if page.is_phone else "desktop"


def open_thread(page, item):
    page.goto(page.base + f"/mail/t/{item.thread_id}/")
    page.wait_for_selector("iframe[data-message-frame]")


def frame_of(page):
    return page.frame_locator("iframe[data-message-frame]").last


def image_loaded(page) -> bool:
    return frame_of(page).locator("img").evaluate("img => img.complete && img.naturalWidth === 40")


def test_a_newsletter_keeps_its_look_with_the_images_bar_above_it(any_page, alice, images):
    item = received(alice, image=images.url("/hero.png"))
    sign_in(any_page, alice.email)
    open_thread(any_page, item)

    header = frame_of(any_page).locator("td.header")
    assert header.evaluate("td => getComputedStyle(td).backgroundColor") == "rgb(255, 102, 0)"
    # The @media rule for narrow screens applies inside the frame on the phone (the frame is narrower than 480px).
    padding = header.evaluate("td => getComputedStyle(td).paddingTop")
    assert padding == ("8px" if any_page.is_phone else "20px")
    bar = any_page.locator("[data-images-note]")
    bar.wait_for(state="visible")
    assert "Remote images are hidden" in bar.inner_text()
    frame_box = any_page.locator("iframe[data-message-frame]").bounding_box()
    assert bar.bounding_box()["y"] + bar.bounding_box()["height"] <= frame_box["y"]
    assert frame_of(any_page).locator("img").count() == 1 and not images.hits  # held back, never fetched
    shot(any_page, f"newsletter-{width(any_page)}")
    assert_accessible(any_page, "newsletter with the images bar")

    any_page.click("[data-show-images]")
    any_page.wait_for_function(
        """() => { const d = document.querySelector('iframe[data-message-frame]').contentDocument;
                   const img = d && d.querySelector('img'); return img && img.complete && img.naturalWidth === 40; }"""
    )
    assert images.hits == ["/hero.png"]
    # This message's images show; the offer to always show this sender's stays, keyboard-reachable.
    assert any_page.locator("[data-show-images]").is_hidden()
    assert any_page.locator("[data-trust-images]").is_visible()
    assert_accessible(any_page, "images shown")


def test_always_show_images_from_a_sender_holds_for_their_next_message(any_page, alice, images):
    first = received(alice, image=images.url("/first.png"))
    sign_in(any_page, alice.email)
    open_thread(any_page, first)
    any_page.locator("[data-images-note]").wait_for(state="visible")
    any_page.click("[data-trust-images]")
    any_page.wait_for_selector("[data-images-trusted]")
    assert "Images from news@news.example are always shown." in any_page.inner_text("[data-images-trusted]")

    second = received(alice, image=images.url("/second.png"), subject="Next week")
    open_thread(any_page, second)
    any_page.wait_for_function(
        """() => { const d = document.querySelector('iframe[data-message-frame]').contentDocument;
                   const img = d && d.querySelector('img'); return img && img.complete && img.naturalWidth === 40; }"""
    )
    assert "/second.png" in images.hits
    assert any_page.locator("[data-images-note]").count() == 0
    shot(any_page, f"newsletter-trusted-{width(any_page)}")
    assert_accessible(any_page, "trusted sender")

    any_page.click("[data-images-trusted] button")
    any_page.locator("[data-images-note]").wait_for(state="visible")
    assert "will be asked for again" in any_page.inner_text("body")


def test_a_bounce_notice_shows_its_report_parts_in_the_senders_thread(any_page, alice, remote_domain):
    message = send_message(user=alice, to=["unknown@remote.example"], subject="Figures", text="The figures.")
    run_delivery(message_id=message.pk)
    sent = MailboxItem.objects.get(user=alice, message=message, origin=MailboxItem.Origin.SENT)
    sign_in(any_page, alice.email)
    any_page.goto(any_page.base + f"/mail/t/{sent.thread_id}/")

    notice = any_page.locator("section.message[data-latest]")
    assert "Mail Delivery System" in notice.locator(":scope > details > summary").inner_text()
    names = notice.locator("ul.attachments a").all_inner_texts()
    assert names == ["delivery-status.txt", "original-headers.txt"]
    shot(any_page, f"bounce-notice-{width(any_page)}")
    assert_accessible(any_page, "bounce notice")


def test_a_delayed_notice_and_still_trying_in_the_senders_thread(any_page, alice, remote_domain):
    message = send_message(user=alice, to=["temp@remote.example"], subject="Slow one", text="x", sent_at=SENT_AT)
    run_delivery(message_id=message.pk)
    assert notify_senders_of_delays(now=SENT_AT + timedelta(minutes=90)) == 1
    sent = MailboxItem.objects.get(user=alice, message=message, origin=MailboxItem.Origin.SENT)
    sign_in(any_page, alice.email)
    any_page.goto(any_page.base + f"/mail/t/{sent.thread_id}/")

    notice = any_page.locator("section.message[data-latest]")
    assert "has not been delivered yet" in notice.inner_text()
    assert "still trying to deliver" in notice.inner_text().lower()
    any_page.locator("section.message").first.locator(":scope > details > summary").click()
    status = any_page.locator("[data-still-trying]")
    status.wait_for(state="visible")
    assert status.inner_text() == "Still trying to deliver"
    shot(any_page, f"delayed-notice-{width(any_page)}")
    assert_accessible(any_page, "delayed notice")
