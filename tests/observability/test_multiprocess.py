"""Multi-process mode for real: separate Python processes count into one folder, one scrape adds them up."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from observability.management.commands.metrics_reset import reset_metrics_dir
from observability.metrics import render_metrics
from tests.observability.conftest import parse

COUNT = """
from core.metrics import DELIVERY_ATTEMPTS, SMTP_DURATION
DELIVERY_ATTEMPTS.labels(outcome="sent", provider="gmail").inc({n})
SMTP_DURATION.labels(provider="gmail").observe(0.2)
"""


def count_in_another_process(directory: Path, n: int) -> None:
    subprocess.run(  # noqa: S603
        [sys.executable, "-c", COUNT.format(n=n)],
        cwd=settings.BASE_DIR,
        env={"PROMETHEUS_MULTIPROC_DIR": str(directory), "PATH": "/usr/bin:/bin"},
        check=True,
    )


@pytest.mark.django_db
def test_one_scrape_adds_up_the_counters_of_every_process(tmp_path):
    for n in (2, 3, 5):
        count_in_another_process(tmp_path, n)

    samples = parse(render_metrics(multiprocess_dir=str(tmp_path)).decode())

    assert samples[("webmail_delivery_attempts_total", (("outcome", "sent"), ("provider", "gmail")))] == 10
    assert samples[("webmail_smtp_transaction_duration_seconds_count", (("provider", "gmail"),))] == 3
    # The database's figures come with it, once (not per process).
    assert ("webmail_outbound_dead_letters", (("queue", "bulk"),)) in samples
    assert len(list(tmp_path.glob("counter_*.db"))) == 3


@pytest.mark.django_db
def test_metrics_reset_empties_the_folder(tmp_path):
    count_in_another_process(tmp_path, 4)
    assert reset_metrics_dir(str(tmp_path)) >= 2  # a counter and a histogram file

    samples = parse(render_metrics(multiprocess_dir=str(tmp_path)).decode())

    assert ("webmail_delivery_attempts_total", (("outcome", "sent"), ("provider", "gmail"))) not in samples


def test_settings_export_the_folder_before_prometheus_client_is_imported():
    from prometheus_client import values

    if not settings.METRICS_DIR:
        pytest.skip("METRICS_DIR is empty: single-process mode")
    assert values.ValueClass.__name__ == "MmapedValue"  # multi-process values in this process too


@pytest.mark.django_db
def test_without_a_folder_the_scrape_reads_this_process_alone():
    from core.metrics import MX_REPLIES

    key = ("webmail_mx_replies_total", (("code", "554"), ("command", "DATA")))
    before = parse(render_metrics(multiprocess_dir="").decode()).get(key, 0.0)
    MX_REPLIES.labels(command="DATA", code="554").inc()

    samples = parse(render_metrics(multiprocess_dir="").decode())

    assert samples[key] == before + 1
    assert ("webmail_metrics_database_up", ()) in samples


def test_a_process_that_imported_prometheus_client_too_early_is_warned_about(monkeypatch, settings):
    from prometheus_client import values

    from observability.checks import metrics_dir_exported_in_time

    settings.METRICS_DIR = "/tmp/metrics"
    if values.ValueClass.__name__ == "MmapedValue":  # this test process, unless run with METRICS_DIR empty
        assert metrics_dir_exported_in_time(None) == []
    monkeypatch.setattr(values, "ValueClass", values.MutexValue)  # as if imported before settings
    [warning] = metrics_dir_exported_in_time(None)
    assert warning.id == "observability.W001"
