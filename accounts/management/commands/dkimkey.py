"""manage.py dkimkey DOMAIN [--ed25519]: make the domain's DKIM key(s) it lacks; print the DNS records to publish."""

from django.core.management.base import BaseCommand, CommandError

from accounts.dkim import dns_records
from accounts.services import ensure_dkim_key
from webmail.errors import UserError


class Command(BaseCommand):
    help = "Makes a hosted domain's DKIM key if it has none and prints the DNS records (MX, SPF, DKIM, DMARC)."

    def add_arguments(self, parser):
        parser.add_argument("domain")
        parser.add_argument(
            "--ed25519",
            action="store_true",
            help="Also make an Ed25519 key (RFC 8463): mail is then signed with both the RSA and the Ed25519 key.",
        )

    def handle(self, *args, domain, ed25519, **options):
        try:
            hosted, created = ensure_dkim_key(domain_name=domain, ed25519=ed25519)
        except UserError as exc:
            raise CommandError(exc.message) from exc
        note = "Made a new DKIM key" if created else "The domain already has a DKIM key"
        selectors = ", ".join(s for s in (hosted.dkim_selector, hosted.dkim_ed25519_selector) if s)
        self.stderr.write(f"{note} (selector {selectors}). Publish these records in {hosted.name}'s zone:")
        for record in dns_records(hosted):
            self.stdout.write(record)
