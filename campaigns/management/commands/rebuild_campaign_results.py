"""``manage.py rebuild_campaign_results ID [ID …]``: recount campaigns' results from their delivery events."""

from django.core.management.base import BaseCommand, CommandError

from campaigns.models import Campaign
from campaigns.selectors.results import progress_of
from campaigns.services.results import rebuild_tallies


class Command(BaseCommand):
    help = "Recount campaigns' result counters from the delivery event log (a repair; the counters keep themselves)."

    def add_arguments(self, parser):
        parser.add_argument("campaign_ids", nargs="+", type=int, metavar="ID")

    def handle(self, *args, campaign_ids, **options):
        campaigns = {c.pk: c for c in Campaign.objects.filter(pk__in=campaign_ids)}
        missing = sorted(set(campaign_ids) - campaigns.keys())
        if missing:
            raise CommandError(f"No campaign with id {', '.join(map(str, missing))}.")
        for campaign in campaigns.values():
            rebuild_tallies(campaign)
            progress = progress_of(campaign)
            self.stdout.write(
                f"{campaign.pk} {campaign.name}: {progress.sent} sent, {progress.bounced} bounced, "
                f"{progress.deferred} deferred, {progress.remaining} remaining"
            )
