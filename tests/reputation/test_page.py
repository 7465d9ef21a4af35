"""The admin reputation page: who may see it, the figures and their order, the windows, holds and alerts."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.charts import rate_chart
from delivery.services import run_delivery, send_message
from reputation.figures import Window
from reputation.models import ReputationAlert, SendingHold
from reputation.overview import Thresholds, reputation_overview, sender_standings
from reputation.templatetags.reputation_figures import rate_percent
from tests.factories import UserFactory
from tests.reputation.page_world import count, staff_viewer

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 7, 12, 2, tzinfo=UTC)
PAGE = "admin:reputation_overview"


@pytest.fixture
def operator(db):
    return UserFactory(address="root@example.test", display_name="Operator", admin=True)


@pytest.fixture
def admin_client(client, operator):
    client.force_login(operator)
    return client


def just_now() -> datetime:
    """A moment inside every window of a page rendered now (the page reads the clock itself)."""
    return timezone.now() - timedelta(minutes=1)


def rows_of(html: str) -> list[tuple[str, str]]:
    """The senders table's rows in order, as (kind, key)."""
    return re.findall(r'<tr data-kind="(\w+)" data-key="([^"]+)"', html)


# --- who may see it -------------------------------------------------------------


def test_anonymous_and_non_staff_are_sent_to_the_admin_sign_in(client, alice):
    assert client.get(reverse(PAGE)).status_code == 302
    client.force_login(alice)
    response = client.get(reverse(PAGE))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_staff_without_the_view_permission_is_refused(client, alice):
    alice.is_staff = True
    alice.save(update_fields=["is_staff"])
    client.force_login(alice)
    assert client.get(reverse(PAGE)).status_code == 403


def test_the_admin_index_links_to_the_page(admin_client):
    assert reverse(PAGE) in admin_client.get(reverse("admin:index")).content.decode()


# --- figures ---------------------------------------------------------------------


def test_rates_are_shown_as_careful_percentages_from_the_counted_figures(admin_client):
    count("domain", "shop.example", at=just_now(), delivered=2500, bounced_hard=100, unknown_user=100, complained=3)
    count("domain", "shop.example", at=just_now(), deferred=52)

    html = admin_client.get(reverse(PAGE), {"window": "day"}).content.decode()

    row = re.search(r'<tr data-kind="domain" data-key="shop.example".*?</tr>', html, re.S).group(0)
    assert ">2600<" in row  # sent: delivered + bounced
    assert ">2500<" in row
    assert "3.85\u00a0%" in row  # bounce rate 100 / 2600
    assert "0.12\u00a0%" in row  # complaint rate 3 / 2500, not 0.0012
    assert "1.96\u00a0%" in row  # deferral rate 52 / (2600 + 52)
    assert "40.0\u00a0%" in row  # of the complaint pause: 0.12 % / 0.30 %


def test_real_deliveries_reach_the_page_through_the_counters(admin_client, alice, remote_domain, smtp_server):
    smtp_server.handler.script("busy@remote.example", ["452 4.2.2 mailbox over quota, try later"])
    message = send_message(
        user=alice, to=["ok1@remote.example", "ok2@remote.example", "unknown@remote.example", "busy@remote.example"],
        text="Hello",
    )  # fmt: skip
    run_delivery(message_id=message.pk)

    html = admin_client.get(reverse(PAGE), {"window": "hour"}).content.decode()

    row = re.search(rf'<tr data-kind="user" data-key="{alice.pk}".*?</tr>', html, re.S).group(0)
    assert "alice@example.test" in row
    assert ">3<" in row and ">2<" in row  # sent (2 delivered + 1 bounced; the deferred one is still queued)
    assert "33.3\u00a0%" in row  # bounce rate 1 / 3, unknown-user rate too
    assert "25.0\u00a0%" in row  # deferral rate: 1 temporary failure in 4 attempts
    assert "under the minimum of 100" in row
    assert 'data-key="example.test"' in html  # the sending domain has its row and its chart
    assert "Other providers" in html.split('id="provider-charts"')[1]


@pytest.mark.parametrize(
    ("rate", "shown"),
    [(0, "0\u00a0%"), (0.0012, "0.12\u00a0%"), (0.003, "0.30\u00a0%"), (0.05, "5.00\u00a0%"), (0.1, "10.0\u00a0%"),
     (0.00004, "<\u00a00.01\u00a0%"), (1, "100.0\u00a0%")],
)  # fmt: skip
def test_rate_percent_keeps_the_decimals_the_thresholds_need(rate, shown):
    assert rate_percent(rate) == shown


def test_senders_are_ordered_by_closeness_to_a_pause_and_low_volume_last(admin_client):
    at = just_now()
    count("campaign", "41", at=at, delivered=111, bounced_hard=9)  # bounce 7.5 %: 75 % of the pause
    count("user", "7", at=at, delivered=1000, complained=2)  # complaints 0.2 %: 66.7 % of the pause
    count("domain", "calm.example", at=at, delivered=495, bounced_soft=5)  # bounce 1 %: 10 %
    count("domain", "tiny.example", at=at, delivered=7, bounced_hard=3)  # 30 %, but 10 sent: not judged yet

    html = admin_client.get(reverse(PAGE)).content.decode()

    assert rows_of(html) == [("campaign", "41"), ("user", "7"), ("domain", "calm.example"), ("domain", "tiny.example")]
    tiny = re.search(r'data-key="tiny.example".*?</tr>', html, re.S).group(0)
    assert "under the minimum of 100" in tiny


def test_a_sender_past_the_threshold_is_first_and_marked(settings):
    settings.REPUTATION_MIN_VOLUME = 50
    count("domain", "past.example", at=NOW, delivered=54, bounced_hard=6)  # 10 %: at the pause
    count("domain", "near.example", at=NOW, delivered=91, bounced_hard=9)  # 9 %

    standings = sender_standings(window=Window.HOUR, now=NOW, thresholds=Thresholds.from_settings())

    assert [(s.key, round(s.closeness, 2), s.nearest) for s in standings] == [
        ("past.example", 1.0, "bounce_rate"),
        ("near.example", 0.9, "bounce_rate"),
    ]


def test_senders_are_labelled_by_address_and_campaign_name(admin_client, alice):
    count("user", str(alice.pk), at=just_now(), delivered=10)

    html = admin_client.get(reverse(PAGE)).content.decode()

    assert "alice@example.test" in re.search(rf'data-key="{alice.pk}".*?</tr>', html, re.S).group(0)


# --- windows ---------------------------------------------------------------------


def test_each_window_counts_only_its_own_period():
    count("domain", "now.example", at=NOW - timedelta(minutes=10), delivered=5)
    count("domain", "earlier.example", at=NOW - timedelta(hours=3), delivered=6)
    count("domain", "days-ago.example", at=NOW - timedelta(days=3), delivered=7)
    count("domain", "weeks-ago.example", at=NOW - timedelta(days=20), delivered=8)

    def shown(window):
        return {s.key: s.figures.sent for s in reputation_overview(window=window, now=NOW).senders}

    assert shown(Window.HOUR) == {"now.example": 5}
    assert shown(Window.DAY) == {"now.example": 5, "earlier.example": 6}
    assert shown(Window.WEEK) == {"now.example": 5, "earlier.example": 6, "days-ago.example": 7}
    assert shown(Window.MONTH) == {"now.example": 5, "earlier.example": 6, "days-ago.example": 7,
                                   "weeks-ago.example": 8}  # fmt: skip


def test_the_window_picker_marks_the_window_shown_and_ignores_a_bad_one(admin_client):
    html = admin_client.get(reverse(PAGE), {"window": "week"}).content.decode()
    assert re.search(r'<a href="\?window=week" aria-current="page">', html)
    html = admin_client.get(reverse(PAGE), {"window": "decade"}).content.decode()
    assert re.search(r'<a href="\?window=day" aria-current="page">', html)


def test_an_empty_platform_shows_empty_states_not_errors(admin_client):
    response = admin_client.get(reverse(PAGE), {"window": "hour"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "Nothing was sent in this window." in html
    assert "No sender is paused or suspended." in html
    assert "No sending domain has figures in this window." in html
    assert "No alert yet." in html
    assert "line-chart" not in html


# --- charts ----------------------------------------------------------------------


def test_charts_draw_a_line_per_domain_and_provider_with_the_thresholds(admin_client):
    at = just_now()
    count("domain", "shop.example", at=at, delivered=90, bounced_hard=10)
    count("domain", "news.example", at=at, delivered=100)
    count("provider", "gmail", at=at, delivered=150, bounced_hard=8, complained=1)
    count("provider", "yahoo", at=at, delivered=40, bounced_hard=2)

    html = admin_client.get(reverse(PAGE), {"window": "hour"}).content.decode()

    domains = html.split('id="domain-charts"')[1].split("</section>")[0]
    bounce = re.search(r'data-rate="bounce_rate".*?</figure>', domains, re.S).group(0)
    assert bounce.count("<polyline") == 2
    assert "guide-warn" in bounce and "guide-pause" in bounce
    assert "Pause at 10.0\u00a0%" in bounce
    providers = html.split('id="provider-charts"')[1].split("</section>")[0]
    complaints = re.search(r'data-rate="complaint_rate".*?</figure>', providers, re.S).group(0)
    assert complaints.count("<polyline") == 2
    assert "Gmail / Google Workspace" in complaints
    assert "Pause at 0.30\u00a0%" in complaints
    deferral = re.search(r'data-rate="deferral_rate".*?</figure>', providers, re.S).group(0)
    assert "guide-" not in deferral  # no guardrail on deferrals: no threshold line


def test_a_rate_chart_scales_to_show_its_thresholds():
    starts = [NOW - timedelta(hours=2), NOW - timedelta(hours=1), NOW]
    chart = rate_chart(starts, {"s0": [0.0, 0.001, 0.002]}, {"warn": 0.001, "pause": 0.003})

    assert [t.value for t in chart.y_ticks] == [0.0, 0.0025, 0.005]
    pause = next(g for g in chart.guides if g.key == "pause")
    assert pause.position == round(chart.bottom - (chart.bottom - chart.top) * 0.003 / 0.005, 1)
    assert chart.lines[0].points.split()[0].endswith(f",{chart.bottom}.0")  # 0 % sits on the axis


# --- holds and alerts --------------------------------------------------------------


@pytest.fixture
def hold(db):
    return SendingHold.objects.create(
        kind="domain", key="shop.example", cause="guardrail",
        reason="Bounce rate 12.0 % over the last day (120 of 1000), past the 10 % pause.",
        evidence={"bounce_rate": 0.12, "sent": 1000, "window": "day"},
    )  # fmt: skip


def test_open_holds_are_listed_with_their_reason_evidence_and_a_resume_form(admin_client, hold):
    SendingHold.objects.create(kind="user", key="99", cause="admin", reason="Old", resolved_at=timezone.now())

    html = admin_client.get(reverse(PAGE)).content.decode()

    holds = html.split('id="holds"')[1].split("</section>")[0]
    assert "shop.example" in holds and "past the 10 % pause" in holds
    assert "<dt>sent</dt><dd>1000</dd>" in holds
    assert "Old" not in holds  # resolved: no longer shown
    assert reverse("admin:reputation_resume_hold", args=[hold.pk]) in holds
    assert 'name="csrfmiddlewaretoken"' in holds and 'name="note"' in holds


def test_resuming_asks_for_a_note(admin_client, hold):
    response = admin_client.post(reverse("admin:reputation_resume_hold", args=[hold.pk]), {"note": "  "}, follow=True)

    hold.refresh_from_db()
    assert hold.is_open
    assert "a note is required" in response.content.decode()


def test_the_resume_button_releases_the_hold_with_the_note(admin_client, operator, hold):
    response = admin_client.post(reverse("admin:reputation_resume_hold", args=[hold.pk]), {"note": "List cleaned"})
    shown = admin_client.get(response["Location"]).content.decode()

    assert response.status_code == 302 and response["Location"].endswith("#holds")
    hold.refresh_from_db()
    assert not hold.is_open
    assert (hold.resolved_by, hold.resolution_note) == (operator, "List cleaned")
    assert "Resumed: shop.example may send again." in shown
    assert "No sender is paused or suspended." in shown


def test_resuming_takes_a_post(admin_client, hold):
    assert admin_client.get(reverse("admin:reputation_resume_hold", args=[hold.pk])).status_code == 405


def test_staff_who_may_only_look_cannot_resume(client, hold):
    client.force_login(staff_viewer())

    html = client.get(reverse(PAGE)).content.decode()
    response = client.post(reverse("admin:reputation_resume_hold", args=[hold.pk]), {"note": "Let me"})

    assert "shop.example" in html and "Resume sending" not in html
    assert response.status_code == 403
    hold.refresh_from_db()
    assert hold.is_open


def test_recent_alerts_are_listed_newest_first(admin_client):
    ReputationAlert.objects.create(kind="domain", key="a.example", level="warning", metric="complaint_rate",
                                   rate=0.0012, threshold=0.001, volume=2500, window="day",
                                   created_at=timezone.now() - timedelta(hours=1))  # fmt: skip
    ReputationAlert.objects.create(kind="campaign", key="41", level="pause", metric="bounce_rate",
                                   rate=0.125, threshold=0.1, volume=400, window="hour")  # fmt: skip

    html = admin_client.get(reverse(PAGE)).content.decode()

    alerts = html.split('id="alerts"')[1].split("</section>")[0]
    assert alerts.index("41") < alerts.index("a.example")
    assert "Complaint rate 0.12\u00a0%" in alerts and "0.10\u00a0%" in alerts
    assert "Bounce rate 12.5\u00a0%" in alerts


def test_the_page_is_translated(admin_client):
    count("domain", "shop.example", at=just_now(), delivered=2500, complained=3)

    html = admin_client.get(reverse(PAGE), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert "发信信誉" in html and "最近 24 小时" in html and "投诉率" in html
    assert "0.12\u00a0%" in html


def test_the_number_of_queries_does_not_grow_with_the_senders(django_assert_max_num_queries):
    def world(n):
        for i in range(n):
            count("domain", f"d{i}.example", at=NOW, delivered=10 + i, bounced_hard=1)
            count("user", str(1000 + i), at=NOW, delivered=5)
            count("campaign", str(2000 + i), at=NOW, delivered=5)

    world(8)
    with CaptureQueriesContext(connection) as few:
        reputation_overview(window=Window.DAY, now=NOW)
    world(25)
    with django_assert_max_num_queries(len(few.captured_queries)):
        overview = reputation_overview(window=Window.DAY, now=NOW)
    assert len(overview.senders) == 75
