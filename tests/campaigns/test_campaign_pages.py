"""The campaign pages: list, form (time zones, every error at once), the campaign page's check and its buttons."""

# ruff: noqa: F811 - the fixtures imported below are pytest fixtures, used as arguments

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import Domain
from campaigns.models import Campaign
from campaigns.services.fanout import release_due, start_due_campaigns
from delivery.services.engine import run_delivery
from mailboxes.models import Folder, MailboxItem, Recipient
from tests.campaigns.campaign_ui_world import (  # noqa: F401 - fixtures
    CampaignFactory,
    alice,
    alice_client,
    bob,
    bob_client,
    customers,
    mallory,
    mallory_client,
    mallory_segment,
    newsletter,
    ready_draft,
    receipt,
    workspace,
)

pytestmark = pytest.mark.django_db

NEW = "/marketing/campaigns/new/"


def page(campaign) -> str:
    return f"/marketing/campaigns/{campaign.pk}/"


def form_data(**overrides) -> dict:
    data = {
        "name": "December news", "template": "", "segment": "", "from_address": "alice@shop.test", "from_name": "Shop",
        "time_zone": "UTC", "send_mode": "now", "send_at": "", "finish_by": "", "rate": "", "rate_unit": "hour",
    }  # fmt: skip
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def in_a_year() -> dt.datetime:
    return timezone.now().replace(microsecond=0) + dt.timedelta(days=365)


# --- list ---------------------------------------------------------------------------------------


def test_list_shows_the_workspace_campaigns_with_status_and_local_send_time(alice_client, alice, workspace, mallory):
    CampaignFactory(
        domain=workspace, created_by=alice, name="Christmas", status="scheduled", time_zone="Asia/Shanghai",
        send_at=dt.datetime(2026, 12, 24, 1, 0, tzinfo=dt.UTC),
    )  # fmt: skip
    CampaignFactory(domain=workspace, created_by=alice, name="Sent one", status="sent", audience_size=3)
    evil = CampaignFactory(domain=Domain.objects.get(name="evil.test"), created_by=mallory, name="Evil plans")

    response = alice_client.get("/marketing/campaigns/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Christmas" in html and "Sent one" in html and evil.name not in html
    assert "2026-12-24 09:00" in html and "Asia/Shanghai" in html  # shown on the campaign's own clock
    assert 'data-status="scheduled"' in html and 'data-status="sent"' in html
    assert 'hx-trigger="every 5s"' in html  # a scheduled campaign keeps the list live


def test_list_reads_in_a_constant_number_of_queries(alice_client, alice, workspace, django_assert_max_num_queries):
    for _ in range(8):
        CampaignFactory(domain=workspace, created_by=alice, status="sending", audience_size=10)
    with django_assert_max_num_queries(12):
        assert alice_client.get("/marketing/campaigns/").status_code == 200


def test_the_sidebar_leads_to_campaigns(alice_client):
    html = alice_client.get("/marketing/templates/").content.decode()
    assert 'href="/marketing/campaigns/"' in html


def test_an_end_user_has_no_campaign_pages(bob_client):
    assert bob_client.get("/marketing/campaigns/").status_code == 403


# --- the form -----------------------------------------------------------------------------------


def test_form_offers_only_the_workspace_marketing_templates_segments_and_own_addresses(
    alice_client, newsletter, receipt, customers, mallory_segment
):
    html = alice_client.get(NEW).content.decode()
    assert f'value="{newsletter.pk}"' in html and "Newsletter" in html
    assert f'value="{receipt.pk}"' not in html  # transactional
    assert f'value="{customers.pk}"' in html and f'value="{mallory_segment.pk}"' not in html
    assert '<option value="alice@shop.test"' in html
    assert "data-browser-zone" in html  # a new campaign starts in the browser's zone


def test_creating_converts_the_local_send_time_and_shows_it_back(alice_client, alice, newsletter, customers):
    response = alice_client.post(NEW, form_data(
        template=newsletter.pk, segment=customers.pk, time_zone="Asia/Shanghai", send_mode="later",
        send_at="2026-12-24T09:00", finish_by="2026-12-24T21:30", rate="100", rate_unit="minute",
        track_opens="on",
    ))  # fmt: skip

    campaign = Campaign.objects.get()
    assert response.status_code == 302 and response["Location"] == page(campaign)
    assert campaign.status == "draft" and campaign.created_by == alice
    assert campaign.send_at == dt.datetime(2026, 12, 24, 1, 0, tzinfo=dt.UTC)
    assert campaign.finish_by == dt.datetime(2026, 12, 24, 13, 30, tzinfo=dt.UTC)
    assert campaign.max_per_hour == 6000 and campaign.track_opens and not campaign.track_clicks
    assert (campaign.template, campaign.segment, campaign.time_zone) == (newsletter, customers, "Asia/Shanghai")
    shown = alice_client.get(page(campaign)).content.decode()
    assert "2026-12-24 09:00" in shown and "2026-12-24 21:30" in shown and "Asia/Shanghai" in shown
    edit = alice_client.get(page(campaign) + "edit/").content.decode()
    assert 'value="2026-12-24T09:00"' in edit and 'value="2026-12-24T21:30"' in edit
    assert 'name="rate" type="number" min="1" inputmode="numeric" value="100"' in edit
    assert '<option value="minute" selected>' in edit
    assert '<option value="Asia/Shanghai" selected>' in edit


def test_send_now_stores_no_send_time(alice_client):
    alice_client.post(NEW, form_data(send_mode="now", send_at="2026-12-24T09:00"))
    assert Campaign.objects.get().send_at is None


def test_every_error_of_the_form_is_shown_at_once(alice_client, mallory_segment, receipt):
    response = alice_client.post(NEW, form_data(
        name="", template=receipt.pk, segment=mallory_segment.pk, from_address="mallory@evil.test",
        time_zone="Mars/Olympus", send_mode="later", send_at="", finish_by="tomorrow", rate="0",
    ))  # fmt: skip

    html = response.content.decode()
    assert response.status_code == 400
    assert not Campaign.objects.exists()
    for field in ("name", "template", "segment", "from_address", "time_zone", "send_at", "finish_by", "rate"):
        assert f'id="id_{field}-errors"' in html, field
    assert 'id="form-errors"' in html and html.count('<li><a href="#id_') == 8
    assert "Choose when to send" in html


def test_a_time_the_clocks_skip_is_refused_next_to_its_field(alice_client):
    response = alice_client.post(NEW, form_data(
        time_zone="America/New_York", send_mode="later", send_at="2027-03-14T02:30",
    ))  # fmt: skip
    html = response.content.decode()
    assert response.status_code == 400 and not Campaign.objects.exists()
    assert 'id="id_send_at-errors"' in html and "does not exist in America/New_York" in html


def test_the_segment_count_follows_the_choice(alice_client, customers, mallory_segment):
    html = alice_client.get("/marketing/campaigns/segment-counts/", {"segment": customers.pk}).content.decode()
    assert "<strong>3</strong> in segment" in html and "<strong>1</strong> suppressed" in html
    assert "<strong data-sendable>2</strong> will be sent" in html
    other = alice_client.get("/marketing/campaigns/segment-counts/", {"segment": mallory_segment.pk})
    assert "in segment" not in other.content.decode()


def test_editing_a_draft_saves_it(alice_client, ready_draft):
    response = alice_client.post(page(ready_draft) + "edit/", form_data(
        name="January news", template=ready_draft.template_id, segment=ready_draft.segment_id,
        time_zone="Europe/Paris", send_mode="later", send_at="2027-01-05T08:15",
    ))  # fmt: skip
    assert response.status_code == 302
    ready_draft.refresh_from_db()
    assert ready_draft.name == "January news"
    assert ready_draft.send_at == dt.datetime(2027, 1, 5, 7, 15, tzinfo=dt.UTC)


def test_a_started_campaign_cannot_be_edited(alice_client, alice, workspace):
    campaign = CampaignFactory(domain=workspace, created_by=alice, status="sending")
    response = alice_client.post(page(campaign) + "edit/", form_data(name="Changed"))
    assert response.status_code == 400 and "Only a draft can be changed" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.name != "Changed"


# --- the campaign page: the check and the buttons -----------------------------------------------


def test_a_draft_lists_every_problem_of_the_check_each_with_where_to_fix_it(alice_client, alice, workspace):
    draft = CampaignFactory(
        domain=workspace, created_by=alice, from_address="", send_at=timezone.now() - dt.timedelta(hours=1)
    )
    html = alice_client.get(page(draft)).content.decode()
    for field, anchor in [("template", "id_template"), ("segment", "id_segment"),
                          ("from_address", "id_from_address"), ("send_at", "id_send_at")]:  # fmt: skip
        assert f'data-field="{field}"' in html, field
        assert f'href="/marketing/campaigns/{draft.pk}/edit/#{anchor}"' in html
    assert "4 problems to fix before scheduling" in html


def test_a_ready_draft_says_so_and_offers_its_buttons(alice_client, ready_draft):
    html = alice_client.get(page(ready_draft)).content.decode()
    assert "data-preflight-ok" in html
    assert _buttons(html) == {"schedule", "test", "delete"}
    assert "/edit/" in html and "campaign_results" not in html


@pytest.mark.parametrize(
    ("status", "buttons"),
    [("scheduled", {"unschedule", "test", "cancel"}), ("sending", {"pause", "cancel"}),
     ("paused", {"resume", "cancel"}), ("sent", set()), ("cancelled", set())],
)  # fmt: skip
def test_each_status_offers_only_its_buttons(alice_client, alice, workspace, status, buttons):
    campaign = CampaignFactory(domain=workspace, created_by=alice, status=status)
    html = alice_client.get(page(campaign)).content.decode()
    assert _buttons(html) == buttons
    assert ("data-preflight" in html) is False
    assert ("data-results" in html) is (status not in ("draft", "scheduled"))


def _buttons(html: str) -> set[str]:
    import re

    return set(re.findall(r'data-action="(\w+)"', html))


def test_scheduling_a_ready_draft(alice_client, ready_draft):
    response = alice_client.post(page(ready_draft) + "schedule/", follow=True)
    ready_draft.refresh_from_db()
    assert ready_draft.status == "scheduled"
    assert "Scheduled: the check passed" in response.content.decode()


def test_scheduling_refuses_with_every_problem(alice_client, alice, workspace):
    draft = CampaignFactory(domain=workspace, created_by=alice)
    response = alice_client.post(page(draft) + "schedule/", follow=True)
    html = response.content.decode()
    draft.refresh_from_db()
    assert draft.status == "draft"
    assert html.count('class="flash-error"') >= 2 and "Choose a template." in html and "Choose a segment." in html


def test_unschedule_pause_resume_and_cancel_through_the_page(alice_client, alice, workspace, ready_draft):
    alice_client.post(page(ready_draft) + "schedule/")
    alice_client.post(page(ready_draft) + "unschedule/")
    ready_draft.refresh_from_db()
    assert ready_draft.status == "draft"

    sending = CampaignFactory(domain=workspace, created_by=alice, status="sending")
    alice_client.post(page(sending) + "pause/")
    sending.refresh_from_db()
    assert sending.status == "paused" and sending.paused_at is not None
    alice_client.post(page(sending) + "resume/")
    sending.refresh_from_db()
    assert sending.status == "sending" and sending.paused_at is None
    response = alice_client.post(page(sending) + "cancel/", follow=True)
    sending.refresh_from_db()
    assert sending.status == "cancelled" and "Cancelled: nothing more will be sent." in response.content.decode()


def test_a_transition_not_valid_for_the_status_is_explained(alice_client, alice, workspace):
    sent = CampaignFactory(domain=workspace, created_by=alice, status="sent")
    response = alice_client.post(page(sent) + "pause/", follow=True)
    assert "Only a sending campaign can be paused." in response.content.decode()
    assert alice_client.post(page(sent) + "explode/").status_code == 404


def test_a_test_send_reaches_the_given_addresses(alice_client, ready_draft, bob, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # delivery runs once the message is stored
        response = alice_client.post(page(ready_draft) + "test/", {"to": " bob@shop.test ;"}, follow=True)
    assert "Test sent to bob@shop.test." in response.content.decode()
    item = MailboxItem.objects.get(user=bob, folder=Folder.INBOX)
    assert item.message.subject == "[Test] News for Ann"  # rendered for a real contact of the segment


def test_a_test_send_without_a_template_says_why(alice_client, alice, workspace):
    draft = CampaignFactory(domain=workspace, created_by=alice)
    response = alice_client.post(page(draft) + "test/", {"to": "bob@shop.test"}, follow=True)
    assert "The test was not sent: Choose a template with an active version first." in response.content.decode()


def test_deleting_a_draft(alice_client, ready_draft):
    response = alice_client.post(page(ready_draft) + "delete/")
    assert response.status_code == 302 and response["Location"] == "/marketing/campaigns/"
    assert not Campaign.objects.filter(pk=ready_draft.pk).exists()


# --- live progress ------------------------------------------------------------------------------


def test_a_sending_campaign_polls_its_progress_and_reloads_when_its_status_changes(alice_client, alice, workspace):
    campaign = CampaignFactory(domain=workspace, created_by=alice, status="sending", audience_size=4, released_count=2)
    html = alice_client.get(page(campaign)).content.decode()
    assert f'hx-get="/marketing/campaigns/{campaign.pk}/progress/?shown=sending"' in html
    assert '<progress max="4" value="0"' in html and "0% · 0 of 4 sent" in html

    partial = alice_client.get(page(campaign) + "progress/", {"shown": "sending"}, headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "2 of 4 handed to the outbox" in partial.content.decode()
    assert "<html" not in partial.content.decode()

    Campaign.objects.filter(pk=campaign.pk).update(status="paused")
    moved = alice_client.get(page(campaign) + "progress/", {"shown": "sending"}, headers={"HX-Request": "true"})
    assert moved["HX-Refresh"] == "true"


def test_a_finished_campaign_stops_polling(alice_client, alice, workspace):
    campaign = CampaignFactory(domain=workspace, created_by=alice, status="sent", audience_size=4)
    assert "every 2s" not in alice_client.get(page(campaign)).content.decode()


# --- workspaces ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("get", "edit/"), ("post", "edit/"), ("get", "progress/"), ("post", "schedule/"),
     ("post", "unschedule/"), ("post", "pause/"), ("post", "resume/"), ("post", "cancel/"), ("post", "test/"),
     ("post", "delete/")],
)  # fmt: skip
def test_another_workspace_campaign_is_a_404(mallory_client, ready_draft, method, suffix):
    response = getattr(mallory_client, method)(page(ready_draft) + suffix, {"to": "mallory@evil.test"})
    assert response.status_code == 404
    ready_draft.refresh_from_db()
    assert ready_draft.status == "draft" and ready_draft.name == "December news"


def test_the_progress_bar_counts_what_delivery_did(alice_client, ready_draft, remote_domain, smtp_server):
    """Scheduled from the page, started and released by the pacer, delivered by the real engine over SMTP."""
    alice_client.post(page(ready_draft) + "schedule/")
    now = timezone.now()
    assert start_due_campaigns(now=now) == [ready_draft.pk]
    release_due(now=now)
    run_delivery(queue=Recipient.Queue.BULK)  # its last top-up finds everyone sent: the campaign is over

    ready_draft.refresh_from_db()
    assert ready_draft.status == "sent"
    partial = alice_client.get(page(ready_draft) + "progress/", {"shown": "sent"}, headers={"HX-Request": "true"})
    html = partial.content.decode()
    assert '<progress max="2" value="2"' in html and "100% · 2 of 2 sent" in html  # Cy is suppressed
    assert "1 member of the segment was left out as suppressed." in html
    assert len(smtp_server.messages) == 2


def test_the_pages_speak_chinese(alice_client, alice, workspace, settings):
    campaign = CampaignFactory(domain=workspace, created_by=alice, status="sending", audience_size=4)
    alice_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    assert "营销活动" in alice_client.get("/marketing/campaigns/").content.decode()
    html = alice_client.get(page(campaign)).content.decode()
    assert "暂停" in html and "取消营销活动" in html and "0% · 已发送 0 / 4" in html
