"""HTML mail keeps its look in the frame; "Show images" and "Always show images from <sender>".

Received mail gets its authentication results as the inbound pipeline records them
(``InboundMessage.auth``); trust in a sender counts only when its From passed DMARC.
"""

import re

import pytest
from django.test import Client
from django.urls import reverse

from mailboxes.models import Folder, MailboxItem, TrustedImageSender
from tests.api.conftest import client_for
from tests.factories import send_and_deliver
from tests.support.mail_display import received

pytestmark = pytest.mark.django_db


def client_for_browser(user):
    client = Client()
    client.force_login(user)
    return client


def body(client, item, **params):
    return client.get(reverse("mailboxes:body", args=[item.pk]), params)


def thread_page(client, item) -> str:
    return client.get(reverse("mailboxes:thread", args=[item.thread_id])).content.decode()


def test_the_frame_keeps_the_newsletters_style_block_sanitised(alice_client, alice):
    item = received(alice)
    response = body(alice_client, item)
    html = response.content.decode()
    assert ".header { background-color: #ff6600; color: #ffffff; padding: 20px }" in html
    assert "@media only screen and (max-width: 480px)" in html
    assert "position" not in html and "z-index" not in html
    assert 'bgcolor="#ffffff"' in html and 'width="600"' in html
    assert "images.news.example" not in html and '<meta name="remote-images" content="blocked">' in html
    policy = response["Content-Security-Policy"]
    assert "style-src 'unsafe-inline'" in policy and "https:" not in policy and "font-src" not in policy


def test_the_images_bar_is_above_the_body_and_offers_to_trust_an_authenticated_sender(alice_client, alice):
    item = received(alice)
    page = thread_page(alice_client, item)
    bar = page.index("data-images-note")
    assert bar < page.index("data-message-frame")
    assert "Show images" in page and "Always show images from news@news.example" in page


@pytest.mark.parametrize("dmarc", ["fail", "none"])
def test_a_sender_that_did_not_pass_dmarc_cannot_be_trusted(alice_client, alice, dmarc):
    item = received(alice, dmarc=dmarc)
    assert "Always show images from" not in thread_page(alice_client, item)
    response = alice_client.post(reverse("mailboxes:images", args=[item.pk]), {"action": "trust"}, follow=True)
    assert not TrustedImageSender.objects.exists()
    assert "only be always shown for senders whose address is verified" in response.content.decode()


def test_always_showing_a_senders_images_loads_them_in_their_next_message(alice_client, alice):
    first = received(alice)
    alice_client.post(reverse("mailboxes:images", args=[first.pk]), {"action": "trust"})
    assert TrustedImageSender.objects.filter(user=alice, address="news@news.example").exists()

    second = received(alice)
    response = body(alice_client, second)
    assert 'src="https://images.news.example/hero.png"' in response.content.decode()
    assert "img-src 'self' data: https: http:" in response["Content-Security-Policy"]
    assert "font-src" not in response["Content-Security-Policy"]  # images only, never fonts or stylesheets
    page = thread_page(alice_client, second)
    assert "Images from news@news.example are always shown." in page and "Stop always showing" in page
    assert "data-images-note" not in page


def test_trust_never_counts_in_spam_nor_for_a_forged_copy(alice_client, alice):
    trusted = received(alice)
    alice_client.post(reverse("mailboxes:images", args=[trusted.pk]), {"action": "trust"})
    in_spam = received(alice, folder=Folder.SPAM)
    forged = received(alice, dmarc="fail")
    for item in (in_spam, forged):
        assert "images.news.example" not in body(alice_client, item).content.decode()
        assert "are always shown" not in thread_page(alice_client, item)


def test_stop_always_showing_takes_the_trust_back(alice_client, alice):
    item = received(alice)
    alice_client.post(reverse("mailboxes:images", args=[item.pk]), {"action": "trust"})
    response = alice_client.post(reverse("mailboxes:images", args=[item.pk]), {"action": "untrust"}, follow=True)
    assert "Images from news@news.example will be asked for again." in response.content.decode()
    assert not TrustedImageSender.objects.exists()
    assert "images.news.example" not in body(alice_client, item).content.decode()


def test_mail_from_one_of_our_users_can_be_trusted(alice, bob):
    message = send_and_deliver(user=bob, to=["alice@example.test"], subject="Pic", text="x",
                               html='<p>Look</p><img src="https://pics.example/a.png" alt="a">')  # fmt: skip
    item = MailboxItem.objects.get(user=alice, message=message)
    client = client_for_browser(alice)
    assert "Always show images from bob@example.test" in thread_page(client, item)
    client.post(reverse("mailboxes:images", args=[item.pk]), {"action": "trust"})
    assert 'src="https://pics.example/a.png"' in body(client, item).content.decode()


def test_trust_is_per_user(alice, bob, alice_client):
    item = received(alice)
    alice_client.post(reverse("mailboxes:images", args=[item.pk]), {"action": "trust"})
    bobs = received(bob)
    assert "images.news.example" not in body(client_for_browser(bob), bobs).content.decode()


def test_another_users_message_is_a_404_and_trusts_nothing(mallory_client, alice):
    item = received(alice)
    assert mallory_client.post(reverse("mailboxes:images", args=[item.pk]), {"action": "trust"}).status_code == 404
    assert not TrustedImageSender.objects.exists()


def test_trusting_needs_a_csrf_token_and_a_post(csrf_client, alice_client, alice):
    item = received(alice)
    assert csrf_client.post(reverse("mailboxes:images", args=[item.pk]), {"action": "trust"}).status_code == 403
    assert alice_client.get(reverse("mailboxes:images", args=[item.pk])).status_code == 405
    assert alice_client.post(reverse("mailboxes:images", args=[item.pk]), {"action": "x"}).status_code == 404
    assert not TrustedImageSender.objects.exists()


def test_the_api_gives_the_same_html_as_the_frame(alice_client, alice):
    item = received(alice)
    api = client_for(alice)
    data = api.get(f"/api/emails/{item.pk}").json()
    assert data["html"].startswith("<style>.header { background-color: #ff6600;")
    assert data["remote_images_blocked"] is True
    alice_client.post(reverse("mailboxes:images", args=[item.pk]), {"action": "trust"})
    data = api.get(f"/api/emails/{item.pk}").json()
    assert 'src="https://images.news.example/hero.png"' in data["html"]
    assert data["remote_images_blocked"] is False
    frame = re.sub(r"^.*<body>|</body></html>\s*$", "", body(alice_client, item).content.decode(), flags=re.S)
    assert frame == data["html"]


def test_the_images_bar_speaks_chinese(alice_client, alice):
    item = received(alice)
    alice_client.post(reverse("set_language"), {"language": "zh-hans", "next": "/mail/"})
    assert "始终显示来自 news@news.example 的图片" in thread_page(alice_client, item)
    alice_client.post(reverse("mailboxes:images", args=[item.pk]), {"action": "trust"})
    page = thread_page(alice_client, received(alice))
    assert "来自 news@news.example 的图片始终显示。" in page and "不再始终显示" in page
