"""A real Celery worker (on the embedded file broker) labels its tasks with the queue they came from."""

import threading

import pytest
from celery import signals
from celery.contrib.testing.worker import start_worker
from prometheus_client import REGISTRY

from tests.support.broker import forget_broker_connections
from webmail.celery import app


@app.task(name="tests.observability.multiply")
def multiply(a, b):
    return a * b


@pytest.fixture
def file_broker(tmp_path):
    folders = {name: tmp_path / name for name in ("queue", "processed", "control")}
    for folder in folders.values():
        folder.mkdir()
    keys = ("broker_url", "broker_transport", "broker_transport_options", "task_always_eager")
    saved = {key: app.conf[key] for key in keys}
    app.conf.update(
        broker_url="filesystem://",
        broker_transport="webmail.broker:Transport",
        broker_transport_options={
            "data_folder_in": str(folders["queue"]),
            "data_folder_out": str(folders["queue"]),
            "processed_folder": str(folders["processed"]),
            "control_folder": str(folders["control"]),
            "polling_interval": 0.05,
        },
        task_always_eager=False,
    )
    forget_broker_connections()
    yield
    app.conf.update(saved)
    forget_broker_connections()


def test_a_task_through_the_broker_is_counted_under_its_queue(file_broker):
    labels = {"queue": "default", "task": "tests.observability.multiply", "state": "succeeded"}
    before = REGISTRY.get_sample_value("webmail_celery_tasks_total", labels) or 0.0
    finished = threading.Event()

    def after_ours(task=None, **kwargs):  # connected after observability's receiver: runs after it counted
        if task.name == multiply.name:
            finished.set()

    signals.task_postrun.connect(after_ours, weak=False)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            multiply.apply_async((6, 7), queue="default")
            assert finished.wait(timeout=60), "the worker never ran the task"
    finally:
        signals.task_postrun.disconnect(after_ours)

    assert REGISTRY.get_sample_value("webmail_celery_tasks_total", labels) == before + 1
