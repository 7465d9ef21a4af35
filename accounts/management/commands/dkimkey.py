"""manage.py dkimkey DOMAIN: make the domain's DKIM key if it has none; print the DNS records to publish."""

from django.core.management.base import BaseCommand, CommandError

from accounts.dkim import dns_records
from accounts.services import ensure_dkim_key
from webmail.errors import UserError


class Command(BaseCommand):
    help = "Makes a hosted domain's DKIM key if it has none and prints the DNS records (MX, SPF, DKIM, DMARC)."

    def add_arguments(self, parser):
        parser.add_argument("domain")

    def handle(self, *args, domain, **options):
        try:
            hosted, created = ensure_dkim_key(domain_name=domain)
        except UserError as exc:
            raise CommandError(exc.message) from exc
        note = "Made a new DKIM key" if created else "The domain already has a DKIM key"
        self.stderr.write(f"{note} (selector {hosted.dkim_selector}). Publish these records in {hosted.name}'s zone:")
        for record in dns_records(hosted):
            self.stdout.write(record)
