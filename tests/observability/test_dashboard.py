"""The admin operator dashboard: its figures after real traffic, where they fall in time, who may see it, windows."""

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from prometheus_client.metrics import MetricWrapperBase

from core import metrics
from delivery.models import DeliveryEvent
from inbound.models import InboundMessage
from mailboxes.models import MailboxChange, Message, Recipient
from mailboxes.search.indexing import CHANGES
from mailboxes.search.models import IndexCursor
from observability.dashboard import Window, dashboard
from tests.factories import UserFactory
from tests.observability.world import receive_some, send_some
from tests.reputation.page_world import count

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 7, 12, 2, tzinfo=UTC)  # the hour's buckets: 11:05, 11:10 … 12:00 (the current one)
PAGE = "admin:operator_dashboard"


@pytest.fixture
def operator(db):
    return UserFactory(address="root@example.test", display_name="Operator", admin=True)


@pytest.fixture
def admin_client(client, operator):
    client.force_login(operator)
    return client


def total(html: str, name: str) -> str:
    return re.search(rf'data-total="{name}"><dt>[^<]*</dt><dd class="number">([^<]*)</dd>', html).group(1)


def moved_to(at: datetime, *, queued: datetime, attempted: datetime, received: datetime) -> None:
    """Put the traffic's log at known moments (the figures are read by ``now=``, never the clock)."""
    Message.objects.exclude(status=Message.Status.RECEIVED).update(created_at=queued)
    DeliveryEvent.objects.filter(event_type="queued").update(timestamp=queued)
    DeliveryEvent.objects.exclude(event_type="queued").update(timestamp=attempted)
    InboundMessage.objects.update(received_at=received)


# --- the figures, after real traffic ---------------------------------------------------------


def test_real_traffic_is_counted_in_its_buckets(alice, bob, remote_domain, smtp_server):
    send_some(alice, smtp_server)
    receive_some()
    moved_to(NOW, queued=NOW - timedelta(minutes=50), attempted=NOW - timedelta(minutes=20),
             received=NOW - timedelta(minutes=30))  # fmt: skip

    figures = dashboard(Window.HOUR, now=NOW)

    assert figures.send.starts[0] == datetime(2026, 12, 7, 11, 5, tzinfo=UTC) and len(figures.send.starts) == 12
    # 11:12 is the 11:10 bucket (index 1), 11:42 the 11:40 one (7), 11:32 the 11:30 one (5).
    assert figures.send.values["submitted"] == [0, 1] + [0] * 10
    assert figures.send.values["attempted"] == [0] * 7 + [4] + [0] * 4  # two sent, a bounce, a deferral
    assert {key: figures.outcomes.values[key][7] for key in ("sent", "deferred", "bounced", "failed")} == {
        "sent": 2, "deferred": 1, "bounced": 1, "failed": 0,
    }  # fmt: skip
    assert figures.inbound.values["received"] == [0] * 5 + [3] + [0] * 6
    assert (figures.inbound.values["placed"][5], figures.inbound.values["spam"][5]) == (4, 1)
    assert figures.spam_share.values["spam"][5] == pytest.approx(0.25)
    assert figures.totals == {
        "submitted": 1, "attempted": 4, "sent": 2, "deferred": 1, "bounced": 1, "failed": 0,
        "received": 3, "placed": 4, "spam": 1,
    }  # fmt: skip


def test_queue_depth_now_and_its_history_derived_from_the_log(alice, remote_domain, smtp_server):
    send_some(alice, smtp_server)
    moved_to(NOW, queued=NOW - timedelta(minutes=50), attempted=NOW - timedelta(minutes=20),
             received=NOW)  # fmt: skip

    figures = dashboard(Window.HOUR, now=NOW)

    # Only the deferred recipient still waits; it was one of four queued at 11:12, three left at 11:42.
    assert figures.queue_now == {"transactional": 1, "bulk": 0}
    assert figures.queue_history.values["transactional"] == [0] + [4] * 6 + [1] * 5
    assert figures.queue_history.values["bulk"] == [0] * 12


def test_a_dead_letter_counts_as_failed_and_leaves_the_queue(alice, remote_domain, smtp_server):
    send_some(alice, smtp_server)
    busy = Recipient.objects.get(address="busy@remote.example")
    DeliveryEvent.objects.create(message=busy.message, recipient=busy, event_type="failed", transport="engine")
    Recipient.objects.filter(pk=busy.pk).update(status=Recipient.Status.FAILED)
    moved_to(NOW, queued=NOW - timedelta(minutes=50), attempted=NOW - timedelta(minutes=20), received=NOW)

    figures = dashboard(Window.HOUR, now=NOW)

    assert figures.totals["failed"] == 1
    assert figures.totals["attempted"] == 4  # the dead letter is bookkeeping, not an attempt
    assert figures.queue_now["transactional"] == 0
    assert figures.queue_history.values["transactional"] == [0] + [4] * 6 + [0] * 5


def test_bounce_and_complaint_rates_come_from_the_reputation_counters(db):
    count("stream", "bulk", at=NOW - timedelta(minutes=1), delivered=90, bounced_hard=10, complained=9)
    count("stream", "transactional", at=NOW - timedelta(minutes=1), delivered=50)
    count("provider", "gmail", at=NOW - timedelta(minutes=1), delivered=95, bounced_soft=5)

    figures = dashboard(Window.HOUR, now=NOW)

    assert figures.bounce_rates.values["bulk"][-1] == pytest.approx(0.1)
    assert figures.complaint_rates.values["bulk"][-1] == pytest.approx(0.1)
    assert figures.bounce_rates.values["transactional"][-1] == 0.0
    assert "personal" not in figures.bounce_rates.values  # no volume, no line
    assert set(figures.provider_bounce_rates.values) == {"gmail"}
    assert figures.provider_bounce_rates.values["gmail"][-1] == pytest.approx(0.05)


def test_indexing_lag_is_the_age_of_the_oldest_change_not_yet_indexed(alice, bob):
    receive_some()
    changes = list(MailboxChange.objects.order_by("pk").values_list("pk", flat=True))
    assert len(changes) >= 2
    MailboxChange.objects.filter(pk=changes[0]).update(created_at=NOW - timedelta(minutes=5))
    MailboxChange.objects.filter(pk__gt=changes[0]).update(created_at=NOW - timedelta(minutes=3))

    IndexCursor.objects.update_or_create(name=CHANGES, defaults={"position": 0})
    assert dashboard(Window.HOUR, now=NOW).indexing_lag == timedelta(minutes=5)
    IndexCursor.objects.filter(name=CHANGES).update(position=changes[0])
    assert dashboard(Window.HOUR, now=NOW).indexing_lag == timedelta(minutes=3)
    IndexCursor.objects.filter(name=CHANGES).update(position=changes[-1])
    assert dashboard(Window.HOUR, now=NOW).indexing_lag is None


def test_windows_cut_into_hours_and_days_and_leave_older_traffic_out(alice, bob, remote_domain, smtp_server):
    send_some(alice, smtp_server)
    receive_some()
    moved_to(NOW, queued=NOW - timedelta(hours=3), attempted=NOW - timedelta(hours=3),
             received=NOW - timedelta(days=2))  # fmt: skip

    hour, day, week = (dashboard(w, now=NOW) for w in (Window.HOUR, Window.DAY, Window.WEEK))

    assert hour.totals["submitted"] == 0 and hour.totals["received"] == 0
    assert len(day.send.starts) == 24 and day.send.starts[-1] == datetime(2026, 12, 7, 12, tzinfo=UTC)
    assert day.send.values["submitted"][-4] == 1 and day.totals["received"] == 0
    assert len(week.send.starts) == 7 and week.send.starts[-1] == datetime(2026, 12, 7, tzinfo=UTC)
    assert week.inbound.values["received"][-3] == 3 and week.send.values["submitted"][-1] == 1


def test_the_figures_take_a_few_queries_whatever_the_traffic(alice, bob, remote_domain, smtp_server):
    send_some(alice, smtp_server)
    receive_some()
    with CaptureQueriesContext(connection) as first:
        dashboard(Window.DAY, now=NOW)
    send_some(alice, smtp_server)
    receive_some()
    with CaptureQueriesContext(connection) as second:
        dashboard(Window.DAY, now=NOW)
    # Eight grouped reads (submissions, attempts, outcomes, queue now, queued, finished, received, placed), the
    # indexing cursor and the oldest change, one reputation series per stream (3) and provider (5).
    assert len(first) == len(second) == 18


# --- the page ----------------------------------------------------------------------------------


def test_the_page_shows_the_traffic_just_sent_and_received(admin_client, alice, bob, remote_domain, smtp_server):
    send_some(alice, smtp_server)
    receive_some()

    response = admin_client.get(reverse(PAGE), {"window": "hour"})

    assert response.status_code == 200
    html = response.content.decode()
    assert (total(html, "submitted"), total(html, "attempted"), total(html, "sent")) == ("1", "4", "2")
    assert (total(html, "deferred"), total(html, "bounced"), total(html, "received")) == ("1", "1", "3")
    assert total(html, "spam") == "1 / 4" and total(html, "failed") == "0"
    assert re.search(r'class="figure queue-now"><dt>Waiting in the Transactional queue</dt><dd class="number">1<', html)
    assert html.count('<svg class="line-chart"') == 8
    assert 'id="empty"' not in html
    assert 'aria-current="page">Last hour<' in html


def test_the_admin_index_links_the_page(admin_client):
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert f'href="{reverse(PAGE)}"' in html


def test_empty_state(admin_client):
    html = admin_client.get(reverse(PAGE)).content.decode()
    assert 'id="empty"' in html
    assert 'aria-current="page">Last 24 hours<' in html  # the default window
    assert html.count('<svg class="line-chart"') == 5  # counts draw flat lines; rates with no volume have none
    assert "Caught up" in html


def test_an_unknown_window_falls_back_to_the_day(admin_client):
    html = admin_client.get(reverse(PAGE), {"window": "year"}).content.decode()
    assert 'aria-current="page">Last 24 hours<' in html


def test_anonymous_and_non_staff_are_sent_to_the_admin_sign_in(client, alice):
    assert client.get(reverse(PAGE)).status_code == 302
    client.force_login(alice)
    response = client.get(reverse(PAGE))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_staff_needs_the_delivery_event_view_permission(client, alice):
    alice.is_staff = True
    alice.save(update_fields=["is_staff"])
    client.force_login(alice)
    assert client.get(reverse(PAGE)).status_code == 403
    assert reverse(PAGE) not in client.get(reverse("admin:index")).content.decode()
    alice.user_permissions.add(Permission.objects.get(codename="view_deliveryevent"))
    assert client.get(reverse(PAGE)).status_code == 200


def test_the_page_is_translated(admin_client):
    html = admin_client.get(reverse(PAGE), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "运维仪表盘" in html


# --- the Grafana dashboard -----------------------------------------------------------------------

GRAFANA = Path(settings.BASE_DIR) / "deploy" / "grafana" / "mail-platform.json"
# The gauges observability.collectors reads from the database at scrape time (the endpoint part).
DATABASE_GAUGES = {
    "webmail_outbound_queue_depth", "webmail_outbound_oldest_due_seconds", "webmail_outbound_dead_letters",
    "webmail_search_indexing_lag_seconds",
}  # fmt: skip


def exported_names() -> set[str]:
    """Every series name Prometheus sees: counters get ``_total``, histograms ``_bucket``, ``_sum``, ``_count``."""
    names = set(DATABASE_GAUGES)
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                names.update(_sample_names(family.name, family.type))
    return names


def _sample_names(name: str, kind: str) -> list[str]:
    if kind == "counter":
        return [f"{name}_total", f"{name}_created"]
    if kind == "histogram":
        return [f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"]
    return [name]


def test_grafana_dashboard_plots_only_metrics_that_exist():
    board = json.loads(GRAFANA.read_text())
    panels = [p for p in board["panels"] if p.get("type") != "row"]
    exprs = [target["expr"] for panel in panels for target in panel.get("targets", [])]
    assert len(panels) >= 8 and all(panel.get("targets") for panel in panels)
    known = exported_names()
    for expr in exprs:
        used = set(re.findall(r"\bwebmail_[a-z_]+\b", expr))
        assert used, expr
        assert used <= known, (expr, used - known)
    for needed in ("webmail_delivery_attempts_total", "webmail_outbound_queue_depth",
                   "webmail_search_indexing_lag_seconds", "webmail_inbound_messages_total"):  # fmt: skip
        assert any(needed in expr for expr in exprs), needed


def test_grafana_expressions_parse_as_promql(tmp_path):
    """promtool (Debian's prometheus package, as CI installs it) parses each expression as a recording rule."""
    import shutil
    import subprocess

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed")
    board = json.loads(GRAFANA.read_text())
    exprs = [t["expr"].replace("$__rate_interval", "5m") for p in board["panels"] for t in p.get("targets", [])]
    rules = {"groups": [{"name": "grafana", "rules": [
        {"record": f"grafana:panel_{i}", "expr": expr} for i, expr in enumerate(exprs)
    ]}]}  # fmt: skip
    path = tmp_path / "rules.json"  # YAML is a superset of JSON: promtool reads it
    path.write_text(json.dumps(rules))
    result = subprocess.run(  # noqa: S603 - our own file, the installed promtool
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
