"""manage.py rundev: the whole product in one terminal (web server, MX, Celery worker and scheduler).

The web server is the production one: gunicorn with a uvicorn worker serving the ASGI app.

For development and the embedded defaults; production runs each process
under its own supervisor. Ctrl-C stops everything; if one process dies, the
others are stopped too, so a half-running system never goes unnoticed.
"""

import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from observability.management.commands.metrics_reset import reset_metrics_dir

QUEUES = "transactional,bulk,tracking,inbound,indexing,default"


class Command(BaseCommand):
    help = "Runs the web server, the MX, a Celery worker and Celery beat together until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host, port, **options):
        python = sys.executable
        # The counters of the last run's processes must not be added to this run's scrapes.
        if settings.METRICS_DIR:
            reset_metrics_dir(settings.METRICS_DIR)
        commands = {
            # The production web stack (gunicorn, uvicorn's worker, the ASGI app), static files by WhiteNoise.
            "web": [python, "-m", "gunicorn", "-c", str(settings.BASE_DIR / "deploy" / "gunicorn.conf.py"),
                    "webmail.asgi:application",
                    "--bind", f"{host}:{port}", "--workers", "1", "--access-logfile", "-"],
            "worker": [python, "-m", "celery", "-A", "webmail", "worker", "-Q", QUEUES, "--concurrency", "2",
                       "--loglevel", "INFO"],
            "mx": [python, "manage.py", "runsmtpd"],
            "beat": [python, "-m", "celery", "-A", "webmail", "beat", "--loglevel", "INFO",
                     "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME],
        }  # fmt: skip
        processes = {name: subprocess.Popen(command) for name, command in commands.items()}  # noqa: S603
        self.stdout.write(f"Running {', '.join(processes)}; open http://{host}:{port}/ — Ctrl-C stops all.")
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        exit_code = 0
        try:
            while True:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(f"{name} exited with status {process.returncode}; stopping the others.")
                        exit_code = process.returncode or 1
                        raise KeyboardInterrupt
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            # A second Ctrl-C or SIGTERM must not cut the cleanup short and orphan the children.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            for process in processes.values():
                if process.poll() is None:
                    process.terminate()
            for process in processes.values():
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
        sys.exit(exit_code)
