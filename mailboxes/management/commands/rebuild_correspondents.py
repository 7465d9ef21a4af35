"""``manage.py rebuild_correspondents [ADDRESS …]``: count compose's address suggestions again from the mailboxes.

Needed once for mail stored before the suggestions were kept (docs/COMPOSE.md); afterwards sending and
delivery keep them. Without addresses, every user; each user in their own transaction.
"""

from django.core.management.base import BaseCommand
from django.db import transaction

from mailboxes.management.users import users_named
from mailboxes.services.correspondents import rebuild_correspondents


class Command(BaseCommand):
    help = "Rebuild the address suggestions (people written to or heard from) of some or all users."

    def add_arguments(self, parser):
        parser.add_argument("addresses", nargs="*", help="Users' addresses (default: every user).")

    def handle(self, *args, addresses=(), **options):
        for user in users_named(addresses):
            with transaction.atomic():
                kept = rebuild_correspondents(user=user)
            self.stdout.write(f"{user.username}: {kept} correspondents")
