"""The tracking endpoints and their recorder: opened and clicked events, machines, first opens, a broker that is down.

The campaign recipient's mail is a real bulk message delivered through the
engine to the loopback SMTP sink; its links are the signed links
``instrument`` puts in a tracked recipient's HTML.
"""

import threading
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.db import close_old_connections, connection
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient
from campaigns.services.tracking import CLICK, OPEN, Hit, machine_rule, record_hit
from campaigns.tracking import click_url, open_url
from delivery.models import DeliveryEvent
from delivery.services import run_delivery, send_message
from mailboxes.models import Message
from tests.campaigns.unsubscribe_world import (  # noqa: F401 - fixtures
    READER,
    marketer_fixture,
    newsletter_fixture,
    offers_fixture,
    reader_fixture,
    shop_fixture,
)
from tests.support.broker import forget_broker_connections, unreachable_broker
from webmail.celery import app as celery_app

SAFARI = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
SALE = "https://shop.example/sale?utm_source=news&utm_medium=email"


@pytest.fixture(name="member")
def member_fixture(marketer, shop, reader, remote_domain):
    """A tracked campaign recipient whose mail was delivered an hour ago."""
    message = send_message(user=marketer, to=[READER], subject="News", text="Sale!", stream=Message.Stream.BULK)
    run_delivery()
    outbox = message.recipients.get()
    assert outbox.status == outbox.Status.SENT
    outbox.last_attempt_at -= timedelta(hours=1)
    outbox.save(update_fields=["last_attempt_at"])
    campaign = Campaign.objects.create(domain=shop, name="Sale", message=message, track_opens=True, track_clicks=True)
    return CampaignRecipient.objects.create(
        campaign=campaign, contact=reader, address=READER, domain="remote.example", tracked=True, recipient=outbox
    )


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def events(kind: str) -> list[DeliveryEvent]:
    return list(DeliveryEvent.objects.filter(event_type=kind, transport="tracking"))


def hit(member, kind=OPEN, *, after=timedelta(hours=2), user_agent=SAFARI, method="GET") -> Hit:
    at = member.recipient.last_attempt_at + after
    return Hit(kind=kind, campaign_recipient_id=member.pk, at=at.isoformat(), user_agent=user_agent, method=method,
               url=SALE if kind == CLICK else "", link=0 if kind == CLICK else None)  # fmt: skip


def test_the_pixel_is_an_uncached_gif_and_records_a_first_open(member, client):
    response = client.get(path_of(open_url(campaign_recipient_id=member.pk)), HTTP_USER_AGENT=SAFARI)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert response.content.startswith(b"GIF89a")
    assert "no-cache" in response["Cache-Control"] and "no-store" in response["Cache-Control"]
    [opened] = events("opened")
    assert opened.recipient == member.recipient
    assert opened.metadata == {"machine": False, "unique": True, "user_agent": SAFARI, "ip": "127.0.0.1"}
    member.refresh_from_db()
    member.contact.refresh_from_db()
    assert member.first_opened_at == opened.timestamp == member.contact.last_opened_at
    assert member.recipient.status == "sent"  # a tracking event never moves the delivery status


def test_a_click_redirects_to_the_link_and_records_it(member, client):
    response = client.get(path_of(click_url(campaign_recipient_id=member.pk, link=3, url=SALE)), HTTP_USER_AGENT=SAFARI)

    assert response.status_code == 302
    assert response["Location"] == SALE
    [clicked] = events("clicked")
    assert clicked.metadata == {
        "machine": False, "unique": True, "user_agent": SAFARI, "ip": "127.0.0.1", "url": SALE, "link": 3,
    }  # fmt: skip
    member.contact.refresh_from_db()
    assert member.contact.last_clicked_at == clicked.timestamp


@pytest.mark.parametrize("kind", ["click", "open"])
@pytest.mark.parametrize(
    "tamper",
    [
        lambda path: path.replace("/t/c/", "/t/c/x").replace("/t/o/", "/t/o/x"),  # another recipient
        lambda path: path.replace(".gif", "A.gif") if path.endswith(".gif") else path.replace("?u=", "A?u="),
        lambda path: path.replace("sale", "evil") if "?u=" in path else path.replace("/t/o/", "/t/o/0."),
        lambda path: path.split("?")[0] + "?u=https://evil.example/" if "?u=" in path else path.replace(".", "-", 1),
    ],
)
def test_a_changed_link_is_refused_with_nothing_recorded(member, client, kind, tamper):
    url = click_url(campaign_recipient_id=member.pk, link=0, url=SALE) if kind == "click" else open_url(
        campaign_recipient_id=member.pk
    )  # fmt: skip

    response = client.get(tamper(path_of(url)), HTTP_USER_AGENT=SAFARI)

    assert response.status_code == 404
    assert "Location" not in response
    assert b"Link not valid" in response.content
    assert not DeliveryEvent.objects.filter(transport="tracking").exists()


def test_a_url_that_was_not_in_the_message_is_no_redirect(member, client):
    """The token of a real link, with a URL of the attacker's choosing: no open redirect."""
    path = path_of(click_url(campaign_recipient_id=member.pk, link=0, url=SALE)).split("?")[0]

    for target in ("https://evil.example/", "//evil.example", ""):
        response = client.get(path, {"u": target})
        assert response.status_code == 404
        assert "Location" not in response


def test_a_head_request_is_redirected_but_flagged_as_a_scanner(member):
    response = Client().head(path_of(click_url(campaign_recipient_id=member.pk, link=0, url=SALE)),
                             HTTP_USER_AGENT=SAFARI)  # fmt: skip

    assert response.status_code == 302
    [clicked] = events("clicked")
    assert clicked.metadata["machine"] is True and clicked.metadata["unique"] is False
    assert clicked.metadata["machine_rule"] == "HEAD request"
    member.refresh_from_db()
    member.contact.refresh_from_db()
    assert member.first_clicked_at is None and member.contact.last_clicked_at is None


DELIVERED = timedelta(0)
SECONDS = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("kind", "user_agent", "method", "after", "rule"),
    [
        (OPEN, SAFARI, "GET", timedelta(hours=2), None),
        (OPEN, "Mozilla/5.0", "GET", timedelta(hours=2), "Apple Mail Privacy Protection"),
        (OPEN, " Mozilla/5.0 ", "GET", timedelta(hours=2), "Apple Mail Privacy Protection"),
        (OPEN, "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)", "GET",
         timedelta(hours=2), "Gmail image proxy"),
        (OPEN, "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", "GET", timedelta(hours=2),
         "Yahoo image proxy"),
        (OPEN, "", "GET", timedelta(hours=2), "no user agent"),
        (OPEN, SAFARI, "GET", 29 * SECONDS, "opened at delivery"),
        (OPEN, SAFARI, "GET", 30 * SECONDS, None),
        (CLICK, SAFARI, "GET", timedelta(hours=2), None),
        (CLICK, "Mozilla/5.0", "GET", timedelta(hours=2), None),  # Apple's proxy fetches images, not links
        (CLICK, SAFARI, "HEAD", timedelta(hours=2), "HEAD request"),
        (CLICK, SAFARI, "GET", 14 * SECONDS, "clicked at delivery"),
        (CLICK, SAFARI, "GET", 15 * SECONDS, None),
        (CLICK, "python-requests/2.32", "GET", timedelta(hours=2), "link scanner"),
        (CLICK, "Mozilla/5.0 (compatible; Barracuda Sentinel)", "GET", timedelta(hours=2), "link scanner"),
        (CLICK, "Mozilla/5.0 (X11) HeadlessChrome/126.0", "GET", timedelta(hours=2), "link scanner"),
        (CLICK, "", "GET", timedelta(hours=2), "no user agent"),
    ],
)  # fmt: skip
def test_machine_rules(kind, user_agent, method, after, rule, settings):
    settings.TRACKING_MACHINE_OPEN_SECONDS, settings.TRACKING_MACHINE_CLICK_SECONDS = 30, 15
    delivered_at = timezone.now()
    seen = Hit(kind=kind, campaign_recipient_id=1, at=(delivered_at + after).isoformat(), user_agent=user_agent,
               method=method)  # fmt: skip

    assert machine_rule(seen, delivered_at=delivered_at) == rule


def test_undelivered_mail_has_no_delivery_time_rule():
    seen = Hit(kind=OPEN, campaign_recipient_id=1, at="2026-01-01T00:00:00+00:00", user_agent=SAFARI)

    assert machine_rule(seen, delivered_at=None) is None


def test_only_the_first_human_open_is_unique(member):
    record_hit(hit(member, user_agent="Mozilla/5.0"))  # Apple's proxy first: machine, not unique
    record_hit(hit(member, after=timedelta(hours=3)))
    record_hit(hit(member, after=timedelta(hours=4)))

    assert [(e.metadata["machine"], e.metadata["unique"]) for e in events("opened")] == [
        (True, False), (False, True), (False, False),
    ]  # fmt: skip
    member.refresh_from_db()
    member.contact.refresh_from_db()
    assert member.first_opened_at == member.recipient.last_attempt_at + timedelta(hours=3)
    assert member.contact.last_opened_at == member.recipient.last_attempt_at + timedelta(hours=4)


def test_an_older_hit_written_late_does_not_move_last_opened_back(member):
    record_hit(hit(member, after=timedelta(hours=4)))
    record_hit(hit(member, after=timedelta(hours=3)))

    member.contact.refresh_from_db()
    assert member.contact.last_opened_at == member.recipient.last_attempt_at + timedelta(hours=4)


def test_a_hit_for_a_recipient_that_is_gone_is_dropped(member):
    member.campaign.delete()
    assert record_hit(hit(member)) is False
    assert not DeliveryEvent.objects.filter(transport="tracking").exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_opens_give_one_unique(member):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (DATABASE_URL=postgres://...)")
    writers = 8
    start = threading.Barrier(writers)
    failures = []

    def open_once(n):
        try:
            start.wait(10)
            record_hit(hit(member, after=timedelta(hours=2, seconds=n)))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=open_once, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert failures == []
    opened = events("opened")
    assert len(opened) == writers
    assert sum(event.metadata["unique"] for event in opened) == 1


def test_with_the_broker_down_the_hit_is_written_in_the_request(member):
    with unreachable_broker():
        response = Client().get(path_of(click_url(campaign_recipient_id=member.pk, link=0, url=SALE)),
                                HTTP_USER_AGENT=SAFARI)  # fmt: skip

    assert response.status_code == 302
    [clicked] = events("clicked")
    assert clicked.metadata["unique"] is True


@pytest.fixture
def file_broker(tmp_path):
    """A real broker (kombu's file transport in the test's folder) with no worker: tasks wait in it."""
    folders = {name: tmp_path / name for name in ("queue", "processed", "control")}
    for folder in folders.values():
        folder.mkdir()
    keys = ("broker_url", "broker_transport", "broker_transport_options", "task_always_eager")
    saved = {key: celery_app.conf[key] for key in keys}
    celery_app.conf.update(
        broker_url="filesystem://", broker_transport="webmail.broker:Transport", task_always_eager=False,
        broker_transport_options={"data_folder_in": str(folders["queue"]), "data_folder_out": str(folders["queue"]),
                                  "processed_folder": str(folders["processed"]),
                                  "control_folder": str(folders["control"])},
    )  # fmt: skip
    forget_broker_connections()
    yield folders["queue"]
    celery_app.conf.update(saved)
    forget_broker_connections()


def test_the_redirect_and_the_pixel_answer_without_the_database(member, file_broker, django_assert_num_queries):
    click = click_url(campaign_recipient_id=member.pk, link=0, url=SALE)
    pixel = open_url(campaign_recipient_id=member.pk)
    client = Client()
    client.get(path_of(pixel))  # the broker's first connection is made before counting

    with django_assert_num_queries(0):
        response = client.get(path_of(click), HTTP_USER_AGENT=SAFARI)
    with django_assert_num_queries(0):
        pixel_response = client.get(path_of(pixel), HTTP_USER_AGENT=SAFARI)

    assert response.status_code == 302 and pixel_response.status_code == 200
    queued = [path.read_text() for path in file_broker.iterdir()]
    assert len(queued) == 3
    assert all("campaigns.record_tracking_hit" in task and '"tracking"' in task for task in queued)
    assert not DeliveryEvent.objects.filter(transport="tracking").exists()  # the worker writes them
