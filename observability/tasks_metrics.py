"""Celery task metrics through Celery's signals: run time and outcome of each task, by queue.

Connected in ``ObservabilityConfig.ready`` (every worker runs Django's setup). A task run
eagerly (tests, CELERY_TASK_ALWAYS_EAGER) has no queue: it is labelled "eager".
"""

import os
import time

from celery import signals
from prometheus_client import multiprocess

from core.metrics import TASK_DURATION, TASKS

# task_postrun's state → the metric's state label.
STATES = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}

_started: dict[str, float] = {}


def task_queue(task) -> str:
    request = task.request
    if getattr(request, "is_eager", False):
        return "eager"
    delivery_info = getattr(request, "delivery_info", None) or {}
    return delivery_info.get("routing_key") or getattr(task, "queue", None) or "default"


def on_task_prerun(task_id=None, **kwargs):
    _started[task_id] = time.perf_counter()


def on_task_postrun(task_id=None, task=None, state=None, **kwargs):
    started = _started.pop(task_id, None)
    queue = task_queue(task)
    TASKS.labels(queue=queue, task=task.name, state=STATES.get(state, "other")).inc()
    if started is not None:
        TASK_DURATION.labels(queue=queue, task=task.name).observe(time.perf_counter() - started)


def on_worker_process_shutdown(pid=None, **kwargs):
    # A pool process's live gauges must stop counting once it is gone (prometheus-client's rule).
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid or os.getpid())


def connect() -> None:
    signals.task_prerun.connect(on_task_prerun, weak=False, dispatch_uid="observability.task_prerun")
    signals.task_postrun.connect(on_task_postrun, weak=False, dispatch_uid="observability.task_postrun")
    signals.worker_process_shutdown.connect(
        on_worker_process_shutdown, weak=False, dispatch_uid="observability.worker_process_shutdown"
    )
