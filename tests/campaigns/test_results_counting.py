"""A campaign's counters move with its delivery events, in the transaction that stores them."""

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from campaigns.apps import count_results
from campaigns.models import Campaign, CampaignHourlyTally, CampaignLinkTally, CampaignTally
from campaigns.services.results import rebuild_tallies
from delivery.services import run_delivery
from delivery.services.events import events_recorded, record_delivery_event
from inbound.bounces import handle_report
from mailboxes.models import Recipient
from tests.campaigns.results_world import (  # noqa: F401 - fixtures
    make_campaign,
    marketer_fixture,
    recipient_of,
    sample_renderer_fixture,
    shop_fixture,
)
from tests.factories import send_and_deliver
from tests.inbound.test_bounces import about, return_path

pytestmark = pytest.mark.django_db


def tallies(campaign, domain="") -> dict[str, int]:
    rows = CampaignTally.objects.filter(campaign=campaign, domain=domain).exclude(count=0)
    return dict(rows.values_list("metric", "count"))


def track(recipient, kind, **metadata):
    return record_delivery_event(
        recipient=recipient, event_type=kind, transport="tracking", metadata=metadata, update_status=False
    )


def due_again(campaign):
    Recipient.objects.filter(message=campaign.message, status="deferred").update(
        next_attempt_at=campaign.started_at - timedelta(minutes=1)
    )


def test_the_engine_counts_sent_deferred_and_hard_and_soft_bounces_once_per_recipient(
    shop, remote_domain, smtp_server, sample_renderer
):
    campaign = make_campaign(shop, ["ok@remote.example", "unknown@remote.example", "full@remote.example",
                                    "later@remote.example"])  # fmt: skip
    smtp_server.handler.script("later@remote.example", ["451 4.2.0 Try again later", "250 OK"])

    run_delivery(message_id=campaign.message_id)

    assert tallies(campaign) == {
        "sent": 1, "bounced": 2, "bounced_hard": 1, "bounced_soft": 1, "deferred": 1,
        "now_delivered": 1, "now_bounced_hard": 1, "now_bounced_soft": 1, "now_deferred": 1,
    }  # fmt: skip
    assert tallies(campaign, "remote.example") == tallies(campaign)

    due_again(campaign)
    run_delivery(message_id=campaign.message_id)

    # Deferred, then sent: one more sent, no one deferred now; the deferral event stays counted.
    assert tallies(campaign) == {
        "sent": 2, "bounced": 2, "bounced_hard": 1, "bounced_soft": 1, "deferred": 1,
        "now_delivered": 2, "now_bounced_hard": 1, "now_bounced_soft": 1,
    }  # fmt: skip
    hours = CampaignHourlyTally.objects.filter(campaign=campaign, metric="now_deferred")
    assert hours.aggregate(total=Sum("count"))["total"] == 0


def test_a_cancelled_campaigns_recipients_count_as_cancelled_not_as_suppressed(shop, remote_domain, sample_renderer):
    campaign = make_campaign(shop, ["a@remote.example", "b@remote.example"], status=Campaign.Status.CANCELLED)

    run_delivery(message_id=campaign.message_id)

    assert tallies(campaign) == {"cancelled": 2, "now_cancelled": 2}


def test_opens_and_clicks_count_people_apart_from_machines_and_links_count_clicks(shop):
    campaign = make_campaign(shop, ["a@remote.example", "b@remote.example"])
    a, b = recipient_of(campaign, "a@remote.example"), recipient_of(campaign, "b@remote.example")

    track(a, "opened", machine=True, unique=True)  # a privacy proxy fetched the pixel
    track(a, "opened", machine=False, unique=True)
    track(a, "opened", machine=False, unique=False)
    track(b, "opened", machine=False, unique=True)
    track(a, "clicked", machine=False, unique=True, url="https://shop.example/sale")
    track(a, "clicked", machine=False, unique=False, url="https://shop.example/sale")
    track(b, "clicked", machine=False, unique=True, url="https://shop.example/shoes")
    track(b, "clicked", machine=True, unique=True, url="https://shop.example/shoes")  # a link scanner
    record_delivery_event(recipient=b, event_type="unsubscribed", transport="campaign", update_status=False)

    assert tallies(campaign) == {
        "opened": 3, "opened_unique": 2, "opened_machine": 1,
        "clicked": 3, "clicked_unique": 2, "clicked_machine": 1, "unsubscribed": 1,
    }  # fmt: skip
    links = CampaignLinkTally.objects.filter(campaign=campaign).order_by("url")
    assert list(links.values_list("url", "clicks", "unique_clicks")) == [
        ("https://shop.example/sale", 2, 1),
        ("https://shop.example/shoes", 1, 1),
    ]


def test_a_complaint_and_a_late_bounce_reported_by_mail_move_the_counters(shop, remote_domain, sample_renderer):
    campaign = make_campaign(shop, ["reader@remote.example", "jdoe@remote.example"])
    run_delivery(message_id=campaign.message_id)
    reader, jdoe = recipient_of(campaign, "reader@remote.example"), recipient_of(campaign, "jdoe@remote.example")

    handle_report(raw=about(reader, "complaints/yahoo_arf_abuse.eml"), verp_address=return_path(reader))
    handle_report(raw=about(jdoe, "bounces/postfix_user_unknown.eml"), verp_address=return_path(jdoe))

    # jdoe was delivered, then bounced: now a hard bounce, no longer delivered.
    assert tallies(campaign) == {
        "sent": 2, "complained": 1, "bounced": 1, "bounced_hard": 1, "now_delivered": 1, "now_bounced_hard": 1,
    }  # fmt: skip


def test_mail_that_is_not_a_campaigns_leaves_no_tally_and_costs_no_query(alice, bob):
    message = send_and_deliver(user=alice, to=["bob@example.test"], subject="Hi", text="Hello")
    recipient = Recipient.objects.get(message=message)

    def queries_to_record() -> list[int]:
        counted = []
        for kind in ("delivered", "opened"):
            with CaptureQueriesContext(connection) as queries:
                record_delivery_event(recipient=recipient, event_type=kind, transport="local")
            counted.append(len(queries))
        return counted

    with_counters = queries_to_record()
    events_recorded.disconnect(count_results, dispatch_uid="campaigns.count_results")
    try:
        without_counters = queries_to_record()
    finally:
        events_recorded.connect(count_results, dispatch_uid="campaigns.count_results")

    assert with_counters == without_counters
    assert not CampaignTally.objects.exists()


def test_rebuilt_counters_equal_the_incremental_ones_after_a_mixed_sequence(
    shop, remote_domain, smtp_server, sample_renderer
):
    addresses = ["ok@remote.example", "unknown@remote.example", "full@remote.example", "later@remote.example",
                 "jdoe@remote.example"]  # fmt: skip
    campaign = make_campaign(shop, addresses)
    smtp_server.handler.script("later@remote.example", ["451 4.2.0 Try again later", "451 4.2.0 Still busy", "250 OK"])
    run_delivery(message_id=campaign.message_id)
    for _ in range(2):
        due_again(campaign)
        run_delivery(message_id=campaign.message_id)
    ok, jdoe = recipient_of(campaign, "ok@remote.example"), recipient_of(campaign, "jdoe@remote.example")
    track(ok, "opened", machine=False, unique=True)
    track(ok, "clicked", machine=False, unique=True, url="https://shop.example/sale")
    handle_report(raw=about(jdoe, "bounces/postfix_user_unknown.eml"), verp_address=return_path(jdoe))
    incremental = counters(campaign)

    rebuild_tallies(campaign)

    assert incremental[0] and counters(campaign) == incremental


def counters(campaign):
    """Every counter of the campaign; a row at 0 is as good as none."""
    return (
        sorted(
            CampaignTally.objects.filter(campaign=campaign).exclude(count=0).values_list("metric", "domain", "count")
        ),
        sorted(
            CampaignHourlyTally.objects.filter(campaign=campaign)
            .exclude(count=0)
            .values_list("metric", "hour", "count")
        ),
        sorted(CampaignLinkTally.objects.filter(campaign=campaign).values_list("url", "clicks", "unique_clicks")),
    )


def test_the_rebuild_command_recounts_a_campaign_and_refuses_an_unknown_id(shop):
    campaign = make_campaign(shop, ["a@remote.example", "b@remote.example"])
    record_delivery_event(recipient=recipient_of(campaign, "a@remote.example"), event_type="sent", transport="smtp")
    CampaignTally.objects.filter(campaign=campaign).delete()  # lost, or counted wrong
    out = io.StringIO()

    call_command("rebuild_campaign_results", str(campaign.pk), stdout=out)

    assert tallies(campaign) == {"sent": 1, "now_delivered": 1}
    assert "1 sent, 0 bounced, 0 deferred, 1 remaining" in out.getvalue()
    with pytest.raises(CommandError, match="No campaign with id 999999"):
        call_command("rebuild_campaign_results", "999999")


def test_events_of_a_deleted_campaigns_recipients_are_recorded_and_not_counted(shop):
    campaign = make_campaign(shop, ["a@remote.example"])
    # As the engine holds it: its message's send scope loaded, which still names the campaign once deleted.
    recipient = Recipient.objects.select_related("message__send_scope").get(message=campaign.message)
    campaign.delete()

    record_delivery_event(recipient=recipient, event_type="sent", transport="smtp")

    assert recipient.events.filter(event_type="sent").exists()
    assert not CampaignTally.objects.exists()
