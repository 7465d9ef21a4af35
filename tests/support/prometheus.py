"""A real Prometheus server (Debian's ``prometheus`` package) for tests and bench scripts.

Started on a free loopback port with a temporary data directory and a generated config that
scrapes every 5 seconds with a bearer token; never the packaged service on :9090.
"""

import json
import os
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.support.smtp_server import free_port

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
# Gauges /metrics reads from the database at scrape time (observability.collectors), not in core.metrics.
DATABASE_GAUGES = {
    "webmail_outbound_queue_depth",
    "webmail_outbound_due_recipients",
    "webmail_outbound_oldest_due_seconds",
    "webmail_outbound_dead_letters",
    "webmail_search_indexing_lag_seconds",
    "webmail_inbound_queue_depth",
    "webmail_inbound_oldest_queued_seconds",
    "webmail_inbound_dead_letters",
    "webmail_metrics_database_up",
}


def prometheus_binary(name):
    """Path of ``promtool`` / ``prometheus``, or None. On CI (``CI`` set by .ci/run) a missing one fails the test."""
    path = shutil.which(name) or next((p for p in (f"/usr/bin/{name}",) if Path(p).exists()), None)
    if path is None and os.environ.get("CI"):
        pytest.fail(f"{name} is missing: CI installs Debian's prometheus package (.ci/run)")
    return path


def require(name):
    path = prometheus_binary(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install prometheus)")
    return path


def poll(check, *, what, wait, timeout=300.0):
    """Call ``check`` until it returns something truthy, calling ``wait(seconds left)`` between tries.

    ``wait`` blocks until something that may change the answer happened (``Scrapes.wait_next``: Prometheus
    scraped us again); the timeout only bounds a hang, it asserts nothing about speed.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"gave up waiting for {what} after {timeout:.0f} s")
        wait(left)


class Scrapes:
    """The scrapes of ``/metrics`` this process answered (the live server's), to wait on instead of the clock.

    Connected to Django's ``request_finished``: each finished request to the metrics path wakes the waiters.
    Prometheus stores a scrape, and evaluates its rules, on the same one-second beat, so "the next scrape" is
    the event after which an answer that was not there yet may be.
    """

    def __init__(self, path):
        self.path = path
        self.count = 0
        self._changed = threading.Condition()
        self._current = threading.local()

    def started(self, sender, environ=None, **kwargs):
        self._current.path = (environ or {}).get("PATH_INFO")

    def finished(self, sender, **kwargs):
        if getattr(self._current, "path", None) == self.path:
            with self._changed:
                self.count += 1
                self._changed.notify_all()

    def wait_next(self, timeout):
        with self._changed:
            seen = self.count
            self._changed.wait_for(lambda: self.count > seen, timeout=timeout)


class PrometheusServer:
    """``with PrometheusServer(folder, targets, token=...) as prom: prom.query("up")``.

    ``targets`` maps a job name to ``host:port`` addresses; each is scraped at ``/metrics``
    every 5 seconds with ``Authorization: Bearer <token>`` (the deployment's scrape config,
    deploy/prometheus/prometheus.yml, with the interval shortened for tests).
    """

    def __init__(self, folder, targets, *, token, wait, binary=None, metrics_path="/metrics"):
        self.folder = Path(folder)
        self.wait = wait  # between polls of its API: see ``poll``
        self.targets = targets
        self.token = token
        self.binary = binary or require("prometheus")
        self.metrics_path = metrics_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def write_config(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        token_file = self.folder / "metrics_token"
        token_file.write_text(self.token)
        jobs = [
            {
                "job_name": job,
                "metrics_path": self.metrics_path,
                "authorization": {"type": "Bearer", "credentials_file": str(token_file)},
                "static_configs": [{"targets": list(addresses)}],
            }
            for job, addresses in self.targets.items()
        ]
        config = {
            # A scrape may take seconds on a loaded machine (CI beside other work): one that times out leaves
            # ``up`` at 0 and the metrics unseen, so the timeout is generous (Prometheus caps it at the interval).
            "global": {"scrape_interval": "5s", "scrape_timeout": "5s", "evaluation_interval": "1s"},
            "rule_files": [str(DEPLOY_DIR / "alerts.yml")],
            "scrape_configs": jobs,
        }
        path = self.folder / "prometheus.yml"
        path.write_text(json.dumps(config, indent=2))  # JSON is YAML
        return path

    def __enter__(self):
        config = self.write_config()
        self.log = (self.folder / "prometheus.log").open("w")
        self.process = subprocess.Popen(  # noqa: S603 - a fixed binary and arguments
            [
                self.binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
                "--web.enable-lifecycle",
            ],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        poll(self._ready, what="Prometheus to be ready", wait=self.wait)
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()

    def _ready(self):
        if self.process.poll() is not None:
            raise AssertionError(f"prometheus exited: {(self.folder / 'prometheus.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=5) as response:  # noqa: S310 - loopback
                return response.status == 200
        except OSError:
            return False

    def api(self, path, **params):
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr):
        """An instant query: a list of (labels, float value)."""
        return [(item["metric"], float(item["value"][1])) for item in self.api("query", query=expr)["result"]]

    def metric_names(self):
        """Names of every series Prometheus has stored (``webmail_http_requests_total``, ``…_bucket``…)."""
        return set(self.api("label/__name__/values"))

    def targets_health(self):
        return [(t["labels"]["job"], t["health"], t["lastError"]) for t in self.api("targets")["activeTargets"]]

    def wait_until_up(self, job, *, count=1):
        """Until ``count`` targets of ``job`` have been scraped successfully (up == 1)."""
        return poll(
            lambda: len([v for _, v in self.query(f'up{{job="{job}"}} == 1')]) >= count,
            what=f"{count} target(s) of {job} up ({self.folder / 'prometheus.log'})",
            wait=self.wait,
        )
