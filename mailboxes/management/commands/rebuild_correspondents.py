"""``manage.py rebuild_correspondents [ADDRESS …]``: count compose's address suggestions again from the mailboxes.

Needed once for mail stored before the suggestions were kept (docs/COMPOSE.md); afterwards sending and
delivery keep them. Without addresses, every user; each user in their own transaction.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.selectors import resolve_hosted_address
from mailboxes.services.correspondents import rebuild_correspondents


class Command(BaseCommand):
    help = "Rebuild the address suggestions (people written to or heard from) of some or all users."

    def add_arguments(self, parser):
        parser.add_argument("addresses", nargs="*", help="Users' addresses (default: every user).")

    def handle(self, *args, addresses=(), **options):
        if addresses:
            users = [resolve_hosted_address(a) for a in addresses]
            unknown = [a for a, u in zip(addresses, users, strict=True) if u is None]
            if unknown:
                raise CommandError(f"No such user: {', '.join(unknown)}")
        else:
            users = get_user_model().objects.order_by("pk").iterator()
        for user in users:
            with transaction.atomic():
                kept = rebuild_correspondents(user=user)
            self.stdout.write(f"{user.username}: {kept} correspondents")
