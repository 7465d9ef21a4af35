"""The results page, its polled progress bar, and the CSV export."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.selectors.results import results_of
from delivery.models import DeliveryEvent
from delivery.services.events import events_recorded, new_delivery_event, record_delivery_event
from tests.campaigns.results_world import (  # noqa: F401 - fixtures
    make_campaign,
    marketer_fixture,
    other_marketer_fixture,
    recipient_of,
    shop_fixture,
)

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def happen(recipient, kind, *, update_status=True, **details):
    return record_delivery_event(
        recipient=recipient, event_type=kind, transport="smtp", update_status=update_status, **details
    )


def happened_at(at, recipient, kind):
    """An event stored with its own time, as a recorder does (the counters file it under that hour)."""
    event = new_delivery_event(recipient=recipient, event_type=kind, transport="smtp")
    event.timestamp = at
    event.save()
    events_recorded.send(sender=DeliveryEvent, events=[event])


@pytest.fixture
def sending(shop):
    """A campaign half way: one delivered and opened and clicked, one hard bounce, one deferred, one waiting."""
    campaign = make_campaign(shop, ["ann@gmail.example", "bo@gmail.example", "cy@yahoo.example", "di@yahoo.example"])
    ann, bo, cy = (recipient_of(campaign, a) for a in ("ann@gmail.example", "bo@gmail.example", "cy@yahoo.example"))
    happen(ann, "sent")
    happen(ann, "opened", update_status=False, metadata={"machine": False, "unique": True})
    happen(
        ann,
        "clicked",
        update_status=False,
        metadata={"machine": False, "unique": True, "url": "https://shop.example/sale"},
    )
    happen(bo, "bounced", reject_reason="invalid", enhanced_status="5.1.1")
    happen(cy, "deferred")
    return campaign


def test_the_results_page_shows_progress_rates_charts_and_links(marketer, sending):
    page = signed_in(marketer).get(f"/marketing/campaigns/{sending.pk}/results/")

    html = page.content.decode()
    assert page.status_code == 200
    bar = re.search(r'<div class="progress-bar" role="progressbar"[^>]*>', html).group(0)
    assert 'aria-valuemax="4"' in bar and 'aria-valuenow="2"' in bar  # sent 1 + bounced 1 of 4
    assert re.search(r'data-metric="remaining">2<', html) and re.search(r'data-metric="deferred">1<', html)
    assert 'hx-trigger="every 2s"' in html  # sending: the bar polls
    assert html.count("<svg") == 3 and "<polyline" in html and 'role="img"' in html
    assert "gmail.example" in html and "yahoo.example" in html
    assert 'href="https://shop.example/sale"' in html
    assert "100.0 %" in html  # one open of one delivered
    assert "<table" in html  # the charts' numbers, as tables


def test_the_polled_fragment_is_the_progress_alone_and_stops_once_the_campaign_is_sent(marketer, sending):
    client = signed_in(marketer)
    url = f"/marketing/campaigns/{sending.pk}/results/"

    fragment = client.get(url, {"poll": "1"}, headers={"HX-Request": "true"})

    assert fragment.content.decode().lstrip().startswith('<div id="campaign-progress"')
    assert 'hx-trigger="every 2s"' in fragment.content.decode()
    assert "HX-Refresh" not in fragment

    Campaign.objects.filter(pk=sending.pk).update(status=Campaign.Status.SENT, finished_at=timezone.now())
    last = client.get(url, {"poll": "1"}, headers={"HX-Request": "true"})
    embedded = client.get(url, headers={"HX-Request": "true"})  # the fragment, asked for by another page
    page = client.get(url)

    assert last["HX-Refresh"] == "true"  # the final numbers, in full
    assert "HX-Refresh" not in embedded
    assert "hx-trigger" not in last.content.decode() and "hx-trigger" not in page.content.decode()


def test_the_chart_over_time_has_a_point_per_hour_from_first_to_last(marketer, shop):
    campaign = make_campaign(shop, ["ann@gmail.example", "bo@gmail.example"])
    start = timezone.now().replace(minute=5, second=0, microsecond=0) - timedelta(hours=3)
    happened_at(start, recipient_of(campaign, "ann@gmail.example"), "sent")
    happened_at(start + timedelta(hours=3), recipient_of(campaign, "bo@gmail.example"), "sent")

    html = signed_in(marketer).get(f"/marketing/campaigns/{campaign.pk}/results/").content.decode()

    rows = re.findall(r"<tr><th scope=\"row\"><time[^>]*>[^<]*</time></th><td>(\d+)</td>", html)
    assert rows == ["1", "0", "0", "1"]


def test_the_csv_export_streams_a_row_per_recipient(marketer, sending):
    response = signed_in(marketer).get(f"/marketing/campaigns/{sending.pk}/results.csv")

    assert response.streaming and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode().lstrip("\ufeff"))))
    by_address = {row["address"]: row for row in rows}
    assert len(rows) == 4
    assert (by_address["ann@gmail.example"]["status"], by_address["ann@gmail.example"]["opens"],
            by_address["ann@gmail.example"]["clicks"], by_address["ann@gmail.example"]["last_event"]) == (
        "sent", "1", "1", "clicked")  # fmt: skip
    assert (by_address["bo@gmail.example"]["status"], by_address["bo@gmail.example"]["last_event"]) == (
        "bounced", "bounced")  # fmt: skip
    assert by_address["cy@yahoo.example"]["status"] == "deferred"
    assert by_address["di@yahoo.example"]["last_event"] == ""


def test_the_csv_export_comes_in_chunks_of_a_thousand_people(marketer, shop, settings):
    campaign = make_campaign(shop, [f"p{n}@gmail.example" for n in range(2100)])

    response = signed_in(marketer).get(f"/marketing/campaigns/{campaign.pk}/results.csv")

    chunks = list(response.streaming_content)
    assert len(chunks) == 4  # the header, then 1000 + 1000 + 100 people
    assert sum(chunk.count(b"\n") for chunk in chunks) == 2101


def test_another_workspaces_campaign_is_not_found(other_marketer, sending):
    client = signed_in(other_marketer)

    assert client.get(f"/marketing/campaigns/{sending.pk}/results/").status_code == 404
    assert client.get(f"/marketing/campaigns/{sending.pk}/results/", headers={"HX-Request": "true"}).status_code == 404
    assert client.get(f"/marketing/campaigns/{sending.pk}/results.csv").status_code == 404


def test_the_page_speaks_chinese(marketer, sending):
    client = signed_in(marketer)

    html = client.get(f"/marketing/campaigns/{sending.pk}/results/", headers={"Accept-Language": "zh-hans"}).content

    text = html.decode()
    assert "进度" in text and "按目标域名" in text and "点击最多的链接" in text


def test_past_three_days_the_chart_over_time_has_a_point_per_day(marketer, shop):
    campaign = make_campaign(shop, ["ann@gmail.example", "bo@gmail.example"])
    start = timezone.now().replace(hour=22, minute=0, second=0, microsecond=0) - timedelta(days=5)
    happened_at(start, recipient_of(campaign, "ann@gmail.example"), "sent")
    happened_at(start + timedelta(days=4), recipient_of(campaign, "bo@gmail.example"), "sent")

    results = results_of(campaign)

    assert results.series_step == timedelta(days=1)
    assert [point.start.hour for point in results.series] == [0] * 5
    assert [point.counts["sent"] for point in results.series] == [1, 0, 0, 0, 1]
