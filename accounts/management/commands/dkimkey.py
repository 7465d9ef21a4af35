"""manage.py dkimkey DOMAIN [--ed25519] [--rotate]: make the domain's DKIM key(s) it lacks (or replace them,
with --rotate); print the DNS records to publish."""

from django.core.management.base import BaseCommand, CommandError

from accounts.dkim import dns_records
from accounts.domain_verification import ensure_verification_token
from accounts.services import ensure_dkim_key, rotate_dkim_key
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
        parser.add_argument(
            "--rotate",
            action="store_true",
            help="Replace the domain's keys with new ones under new selectors; the old public keys stay to be "
            "published until in-flight mail is delivered (DKIM_RETIRED_KEY_PUBLISH_SECONDS).",
        )

    def handle(self, *args, domain, ed25519, rotate, **options):
        try:
            if rotate:
                hosted, retired = rotate_dkim_key(domain_name=domain, ed25519=ed25519)
            else:
                hosted, created = ensure_dkim_key(domain_name=domain, ed25519=ed25519)
        except UserError as exc:
            raise CommandError(exc.message) from exc
        selectors = ", ".join(s for s in (hosted.dkim_selector, hosted.dkim_ed25519_selector) if s)
        if rotate:
            note = f"Rotated: new DKIM key (selector {selectors}) signs from now on"
            for old in retired:
                note += f"; keep {old.selector} published until {old.publish_until:%Y-%m-%d %H:%M} UTC"
        else:
            note = "Made a new DKIM key" if created else "The domain already has a DKIM key"
            note += f" (selector {selectors})"
        ensure_verification_token(hosted)
        self.stderr.write(f"{note}. Publish these records in {hosted.name}'s zone:")
        for record in dns_records(hosted):
            self.stdout.write(record)
