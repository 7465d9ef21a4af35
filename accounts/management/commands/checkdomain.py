"""manage.py checkdomain DOMAIN: ask DNS about the domain's ownership token, MX, SPF, DKIM and DMARC."""

from django.core.management.base import BaseCommand, CommandError

from accounts.addresses import normalize_domain
from accounts.domain_checks import run_checks
from accounts.models import Domain
from webmail.errors import UserError

SYMBOLS = {"green": "OK  ", "amber": "WARN", "red": "FAIL"}


class Command(BaseCommand):
    help = "Checks a hosted domain's DNS (ownership token, MX, SPF, DKIM, DMARC) and prints the records to publish."

    def add_arguments(self, parser):
        parser.add_argument("domain")

    def handle(self, *args, domain, **options):
        try:
            name = normalize_domain(domain)
        except UserError as exc:
            raise CommandError(exc.message) from exc
        hosted = Domain.objects.filter(name=name).first()
        if hosted is None:
            raise CommandError(f"{name} is not a hosted domain.")
        status = run_checks(hosted)
        verified = f"verified {hosted.verified_at:%Y-%m-%d %H:%M} UTC" if hosted.verified_at else "NOT verified"
        self.stdout.write(f"{hosted.name}: {verified}; checked {status.checked_at:%Y-%m-%d %H:%M:%S} UTC")
        to_publish = []
        for check in status.checks:
            self.stdout.write(f"[{SYMBOLS[check.light]}] {check.label}: {check.found}")
            if check.note:
                self.stdout.write(f"       {check.note}")
            if check.light != "green":
                to_publish += [record for record in check.publish if record not in to_publish]
        if to_publish:
            self.stdout.write("\nPublish these records:")
            for record in to_publish:
                self.stdout.write(record)
