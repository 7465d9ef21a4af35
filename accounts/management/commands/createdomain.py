"""``manage.py createdomain DOMAIN``: start hosting mail for a domain."""

from django.core.management.base import BaseCommand, CommandError

from accounts.services import create_domain
from webmail.errors import UserError


class Command(BaseCommand):
    help = "Add a hosted domain: mail to its addresses is accepted and delivered to mailboxes here."

    def add_arguments(self, parser):
        parser.add_argument("domain", help="The domain name, e.g. example.org (IDN allowed).")

    def handle(self, *args, domain, **options):
        try:
            created = create_domain(name=domain)
        except UserError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(f"Now hosting {created.name}."))
        self.stdout.write(f"Add users with: manage.py createmailuser someone@{created.name} --password …")
