"""``manage.py rebuild_reputation [--days 30]``: recount the reputation counters from the delivery event log."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from reputation.services.figures import rebuild_counts


class Command(BaseCommand):
    help = (
        "Recount the reputation counters of the last DAYS days (from the start of that day, UTC) out of the "
        "delivery event log: for mail sent before the counters existed, or after a bug. The counters keep "
        "themselves otherwise."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=30, help="How far back (default 30: the longest window).")
        parser.add_argument("--batch-size", type=int, default=2000, help="Events read and counted per batch.")

    def handle(self, *args, days, batch_size, **options):
        if days < 1 or batch_size < 1:
            raise CommandError("--days and --batch-size must be at least 1.")
        if days > settings.REPUTATION_DAILY_KEPT_DAYS:
            self.stderr.write(
                f"Note: daily counters are kept {settings.REPUTATION_DAILY_KEPT_DAYS} days; the next pruning "
                "drops the older ones again."
            )
        since = timezone.now() - timedelta(days=days)
        self.stdout.write(f"Recounting the delivery events since {since:%Y-%m-%d} 00:00 UTC…")

        def progress(done: int, total: int) -> None:
            self.stdout.write(f"  {done}/{total} events counted")

        done = rebuild_counts(since=since, batch_size=batch_size, progress=progress)
        self.stdout.write(self.style.SUCCESS(f"Done: {done} events recounted."))
