"""Gunicorn settings for the web process: ``gunicorn -c deploy/gunicorn.conf.py webmail.asgi:application``.

The app is Django's ASGI application under uvicorn's workers (one event loop per worker),
so that a worker holds many server-sent event streams open at once (docs/PUSH.md).
Add workers and binds as usual, here or on the command line. Run ``manage.py metrics_reset``
before gunicorn starts (docs/OBSERVABILITY.md).
"""

import os

worker_class = "uvicorn_worker.UvicornWorker"
# Open event streams never finish by themselves: on a restart, a worker waits this long for them,
# then is stopped; the pages reconnect to the new workers and carry on from their last event.
graceful_timeout = 10


def child_exit(server, worker):
    # A worker that exited (restarted, killed) must stop counting in live gauges.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
