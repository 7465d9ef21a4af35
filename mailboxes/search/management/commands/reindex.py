import time

from django.core.management.base import BaseCommand

from mailboxes.search.backends import get_search_backend
from mailboxes.search.indexing import indexing_lag, purge_orphans, rebuild_index


class Command(BaseCommand):
    help = "Rebuilds the search index from the message store, with a progress bar on stderr."

    def add_arguments(self, parser):
        parser.add_argument("--backend", default="default", help="SEARCH_BACKENDS alias (default: default)")
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--status", action="store_true", help="only print the indexing lag")
        parser.add_argument("--purge", action="store_true", help="only remove documents of deleted items")

    def handle(self, *args, backend, batch_size, status, purge, **options):
        if status:
            lag = indexing_lag()
            self.stdout.write(f"pending changes: {lag.pending_changes}, lag: {lag.seconds:.1f} s")
            return
        if purge:
            self.stdout.write(f"removed {purge_orphans()} orphan documents")
            return
        started = time.monotonic()
        interactive = self.stderr.isatty()

        def progress(done: int, total: int) -> None:
            elapsed = max(time.monotonic() - started, 1e-6)
            width = 30
            filled = width * done // total if total else width
            line = (
                f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
                f"({100 * done // max(total, 1)}%) {done / elapsed:.0f} msg/s"
            )
            self.stderr.write(
                ("\r" + line) if interactive else line, ending="" if interactive else "\n", style_func=str
            )
            self.stderr.flush()

        count = rebuild_index(backend=get_search_backend(backend), batch_size=batch_size, progress=progress)
        if interactive:
            self.stderr.write("", style_func=str)
        elapsed = time.monotonic() - started
        self.stdout.write(f"indexed {count} items in {elapsed:.1f} s ({count / max(elapsed, 1e-6):.0f} msg/s)")
