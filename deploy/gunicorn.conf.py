"""Gunicorn settings for the web process: ``gunicorn -c deploy/gunicorn.conf.py webmail.wsgi``.

Only what the metrics need (docs/OBSERVABILITY.md); add workers, binds and timeouts as usual,
here or on the command line. Run ``manage.py metrics_reset`` before gunicorn starts.
"""

import os


def child_exit(server, worker):
    # A worker that exited (restarted, killed) must stop counting in live gauges.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
