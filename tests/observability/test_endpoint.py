"""/metrics: its protection, and that a scrape is valid Prometheus text (promtool agrees)."""

import shutil
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.metrics import SEND_REQUESTS
from tests.observability.conftest import parse

TOKEN = "s3cret-metrics-token"


@pytest.fixture
def protected(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128", "10.1.0.0/16"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("remote_addr", "authorization", "status"),
    [
        ("203.0.113.9", f"Bearer {TOKEN}", 200),  # the token, from anywhere
        ("203.0.113.9", f"bearer {TOKEN}", 200),  # the scheme is case-insensitive
        ("203.0.113.9", "Bearer wrong-token", 403),
        ("203.0.113.9", f"Basic {TOKEN}", 403),
        ("203.0.113.9", "", 403),  # another network, no token
        ("127.0.0.1", "", 200),  # loopback
        ("::1", "", 200),
        ("10.1.44.2", "", 200),  # an allowed network
        ("10.2.0.1", "", 403),
        ("::ffff:10.1.0.7", "", 200),  # IPv4 seen through an IPv6 socket
    ],
)
def test_only_the_token_or_an_allowed_network_may_scrape(client, protected, remote_addr, authorization, status):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = client.get("/metrics", REMOTE_ADDR=remote_addr, **headers)

    assert response.status_code == status
    if status == 200:
        assert response["Content-Type"].startswith("text/plain; version=")
        assert b"webmail_outbound_queue_depth" in response.content
    else:
        assert b"webmail_" not in response.content


@pytest.mark.django_db
def test_an_empty_token_setting_lets_no_token_in(client, settings):
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 403


@pytest.mark.django_db
def test_only_get_is_answered(client):
    assert client.post("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 405


@pytest.mark.django_db
def test_a_scrape_carries_the_process_counters(scrape):
    key = ("webmail_send_requests_total", (("channel", "api"), ("result", "refused")))
    before = scrape().get(key, 0.0)
    SEND_REQUESTS.labels(channel="api", result="refused").inc(3)

    assert scrape()[key] == before + 3


@pytest.mark.django_db
def test_promtool_finds_nothing_wrong_with_a_scrape(client):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    client.get("/mail/", REMOTE_ADDR="127.0.0.1")  # so that the web metrics have samples
    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content

    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, check=False)  # noqa: S603

    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert list(text_string_to_metric_families(text.decode()))  # and the official parser reads it
    assert parse(text.decode())
