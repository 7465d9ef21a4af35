"""``manage.py seed_demo [--password PW]``: the demo domain, its users and lived-in mailboxes."""

import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from campaigns.demo import seed_marketing
from mailboxes.demo.people import DOMAIN, EVERYONE
from mailboxes.demo.seed import SeedError, ensure_accounts, has_demo_mail, seed_mail
from webmail.errors import UserError


class Command(BaseCommand):
    help = (
        f"Create the domain {DOMAIN} with alice@, bob@, carol@ and admin@{DOMAIN} and fill their mailboxes. "
        "Running it again adds no mail; it only resets the demo passwords."
    )

    def add_arguments(self, parser):
        parser.add_argument("--password", help="Password for every demo account (default: a random one, printed).")

    def handle(self, *args, password=None, **options):
        if password is not None and not password:
            raise CommandError("--password cannot be empty.")
        password = password or secrets.token_urlsafe(12)
        try:
            with transaction.atomic():
                users = ensure_accounts(password=password)
                written = None if has_demo_mail(users) else seed_mail(users)
                marketing = [seed_marketing(users[p.key]) for p in EVERYONE if p.marketer]
        except (SeedError, UserError) as exc:
            raise CommandError(str(exc)) from exc
        self._report(password, written)
        if any(marketing):
            self.stdout.write(f"Marketing area: {settings.WEBMAIL_BASE_URL.rstrip('/')}/marketing/ (templates, a list)")

    def _report(self, password: str, written: int | None) -> None:
        self.stdout.write(f"Demo accounts on {DOMAIN}:")
        for person in EVERYONE:
            roles = [r for r, on in (("admin", person.admin), ("marketer", person.marketer)) if on]
            suffix = f" [{', '.join(roles)}]" if roles else ""
            self.stdout.write(f"  {person.address:<18} {person.name:<14} {person.role}{suffix}")
        self.stdout.write(f"Password for all of them: {password}")
        self.stdout.write(f"Django admin: {settings.WEBMAIL_BASE_URL.rstrip('/')}/admin/ (as admin@{DOMAIN})")
        if written is None:
            self.stdout.write("The demo mailboxes already have mail: nothing added, passwords reset.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Filled the demo mailboxes with {written} messages."))
