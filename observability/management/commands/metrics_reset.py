"""manage.py metrics_reset: empties the multi-process metrics folder before a deployment starts.

Run it before the web, MX and Celery processes start (never while they run): the files of
processes gone would otherwise be added to every scrape for ever (counters never go down,
so after a restart Prometheus's rate() handles the reset; stale files it cannot).
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand


def reset_metrics_dir(directory: str) -> int:
    """Removes the metric files (*.db) in ``directory``; returns how many."""
    removed = 0
    for path in Path(directory).glob("*.db"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


class Command(BaseCommand):
    help = "Removes the multi-process metric files in METRICS_DIR (run before the processes start)."

    def handle(self, *args, **options):
        if not settings.METRICS_DIR:
            self.stdout.write("METRICS_DIR is empty: single-process metrics, nothing to reset.")
            return
        removed = reset_metrics_dir(settings.METRICS_DIR)
        self.stdout.write(f"Removed {removed} metric files from {settings.METRICS_DIR}.")
