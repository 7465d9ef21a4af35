"""``manage.py recount_mailboxes [ADDRESS …]``: count the mailbox counters again from the items.

The counters (unread per folder, starred, per label, and each conversation's Inbox items) are kept
by database triggers; this repairs them if they were ever wrong (a restore of part of the data, a
trigger dropped by hand). Without addresses, every user; each user in their own transaction. Says
which users' counters were wrong.
"""

from django.core.management.base import BaseCommand

from mailboxes.management.users import users_named
from mailboxes.services.counters import counters_are_right, recount_mailbox


class Command(BaseCommand):
    help = "Count the mailbox counters (unread per folder, starred, per label) again from the items."

    def add_arguments(self, parser):
        parser.add_argument("addresses", nargs="*", help="Users' addresses (default: every user).")

    def handle(self, *args, addresses=(), **options):
        for user in users_named(addresses):
            was_right = counters_are_right(user_id=user.pk)
            written = recount_mailbox(user_id=user.pk)
            state = "were right" if was_right else "WERE WRONG, repaired"
            self.stdout.write(f"{user.username}: {written} counters, {state}")
