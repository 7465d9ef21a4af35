"""The issue's "Done when": a real Prometheus server (Debian's package) scrapes the web's /metrics
with the bearer token and holds every metric core.metrics defines.

The web is Django's live server (a real HTTP server in a thread, on the test database); Prometheus
runs as its own process on a free loopback port, scraping every 5 seconds. bench/prometheus_check.py
does the same with separate web, MX and worker processes and real mail.
"""

import urllib.request

import pytest
import yaml
from django.core.signals import request_finished, request_started
from django.urls import NoReverseMatch, reverse
from prometheus_client.metrics import MetricWrapperBase

from core import metrics
from tests.support.prometheus import DATABASE_GAUGES, DEPLOY_DIR, PrometheusServer, Scrapes, poll, require

pytestmark = [pytest.mark.django_db(transaction=True)]

TOKEN = "s3cret-scrape-token"  # noqa: S105 - a test token

# A plausible, bounded value for each label, so every family has a series before any traffic.
SAMPLE_LABELS = {
    "view": "accounts:login", "method": "GET", "status": "2xx", "channel": "webmail", "result": "accepted",
    "outcome": "sent", "provider": "other", "event": "delivered", "command": "RCPT", "code": "250",
    "placement": "inbox", "filter": "builtin", "verdict": "clean", "queue": "default", "task": "probe",
    "state": "succeeded",
}  # fmt: skip
SAMPLE_OVERRIDES = {
    "webmail_auth_results": {"method": "spf", "result": "pass"},
    "webmail_spam_verdicts": {"verdict": "ham"},
}


def defined_metrics():
    return [value for value in vars(metrics).values() if isinstance(value, MetricWrapperBase)]


def series_name(metric):
    """The name of one series Prometheus stores for the metric (a histogram's _count, a counter's _total)."""
    return metric._name + {"counter": "_total", "histogram": "_count"}.get(metric._type, "")


def touch(metric):
    """Create the metric's child without changing a value (a labelled family has no series until then)."""
    if metric._labelnames:
        labels = {**SAMPLE_LABELS, **SAMPLE_OVERRIDES.get(metric._name, {})}
        metric.labels(**{name: labels[name] for name in metric._labelnames})


@pytest.fixture
def web(live_server, settings):
    """The live server, /metrics readable with the token only (no network allowed without it)."""
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []
    try:
        path = reverse("metrics")
    except NoReverseMatch:
        pytest.skip("no /metrics yet (the endpoint part of issue 17)")
    live_server.metrics_path = path
    live_server.address = live_server.url.removeprefix("http://")
    return live_server


@pytest.fixture
def scrapes(web):
    """Each scrape the live server answers: the tests wait for the next one, never for a time."""
    scrapes = Scrapes(web.metrics_path)
    request_started.connect(scrapes.started)
    request_finished.connect(scrapes.finished)
    yield scrapes
    request_started.disconnect(scrapes.started)
    request_finished.disconnect(scrapes.finished)


def test_prometheus_scrapes_every_metric_with_the_bearer_token(web, scrapes, tmp_path):
    require("prometheus")
    for metric in defined_metrics():
        touch(metric)
    # Real traffic through the web process: the request middleware counts these by view.
    for _ in range(3):
        with urllib.request.urlopen(web.url + reverse("accounts:login"), timeout=10) as response:  # noqa: S310 - loopback
            assert response.status == 200

    server = PrometheusServer(tmp_path / "prometheus", {"webmail": [web.address]}, token=TOKEN, wait=scrapes.wait_next)
    with server as prometheus:
        prometheus.wait_until_up("webmail")
        expected = {series_name(metric) for metric in defined_metrics()}
        seen = poll(lambda: expected <= prometheus.metric_names() and prometheus.metric_names(), what="every metric",
                    wait=scrapes.wait_next)  # fmt: skip
        assert expected <= seen

        # Prometheus stored the request counter the live server counted: at least our three sign-in pages.
        counted = 'sum(webmail_http_requests_total{view="accounts:login", method="GET", status="2xx"})'
        requests = prometheus.query(counted)
        assert requests and requests[0][1] >= 3
        # The database-backed gauges come from the scrape too (observability.collectors).
        assert seen >= DATABASE_GAUGES
        assert prometheus.query("webmail_metrics_database_up")[0][1] == 1

        # The deployment's alerts.yml, loaded into this Prometheus, evaluates against the real scrape without an
        # error (a many-to-many match, say), and nothing fires on a healthy system.
        def evaluated_rules():
            rules = [rule for group in prometheus.api("rules")["groups"] for rule in group["rules"]]
            return rules if all(not rule["lastEvaluation"].startswith("0001") for rule in rules) else None

        rules = poll(evaluated_rules, what="every rule evaluated", wait=scrapes.wait_next)
        defined = yaml.safe_load((DEPLOY_DIR / "alerts.yml").read_text())["groups"]
        assert {rule["name"] for rule in rules} == {rule["alert"] for group in defined for rule in group["rules"]}
        assert [(rule["name"], rule.get("lastError")) for rule in rules if rule["health"] != "ok"] == []
        # A scrape that timed out on a loaded machine sets up=0 for a moment: then, and only then, the
        # target-down alert may be pending (its 2 minutes keep it from firing).
        never_down = prometheus.query('min_over_time(up{job="webmail"}[1h])')[0][1] == 1
        may_be_pending = set() if never_down else {"WebmailTargetDown"}
        active = [rule["name"] for rule in rules if rule["state"] != "inactive"]
        unexpected = [name for name in active if name not in may_be_pending]
        assert unexpected == []
        assert [rule["name"] for rule in rules if rule["state"] == "firing"] == []


def test_a_wrong_token_leaves_the_target_down(web, scrapes, tmp_path):
    server = PrometheusServer(
        tmp_path / "prometheus", {"webmail": [web.address]}, token="wrong", wait=scrapes.wait_next
    )
    with server as prometheus:
        health = poll(
            lambda: [t for t in prometheus.targets_health() if t[1] != "unknown"], what="the first scrape",
            wait=scrapes.wait_next,
        )  # fmt: skip
        assert health == [("webmail", "down", health[0][2])]
        assert "403" in health[0][2]
        assert prometheus.query('up{job="webmail"}')[0][1] == 0
