"""An exited gunicorn worker or Celery pool process is marked dead: its live gauges leave the sum."""

import importlib.util
from types import SimpleNamespace

from django.conf import settings

from observability.tasks_metrics import on_worker_process_shutdown


def live_gauge_files(directory, pid):
    for kind in ("livesum", "liveall", "livemax"):
        (directory / f"gauge_{kind}_{pid}.db").write_bytes(b"")
    (directory / f"counter_{pid}.db").write_bytes(b"")


def remaining(directory):
    return sorted(path.name for path in directory.iterdir())


def test_gunicorn_child_exit_marks_the_worker_dead(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    spec = importlib.util.spec_from_file_location("gunicorn_conf", settings.BASE_DIR / "deploy" / "gunicorn.conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    live_gauge_files(tmp_path, 4242)
    live_gauge_files(tmp_path, 4343)

    conf.child_exit(server=None, worker=SimpleNamespace(pid=4242))

    # What it counted stays (counters); its live gauges go; the other worker's stay.
    assert remaining(tmp_path) == [
        "counter_4242.db", "counter_4343.db", "gauge_liveall_4343.db", "gauge_livemax_4343.db",
        "gauge_livesum_4343.db",
    ]  # fmt: skip


def test_celery_pool_process_shutdown_marks_it_dead(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    live_gauge_files(tmp_path, 5151)

    on_worker_process_shutdown(pid=5151, exitcode=0)

    assert remaining(tmp_path) == ["counter_5151.db"]
