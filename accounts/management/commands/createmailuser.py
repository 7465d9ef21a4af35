"""``manage.py createmailuser ADDRESS --password PW [--admin] [--marketer] [--name NAME]``."""

import getpass
import sys

from django.core.management.base import BaseCommand, CommandError

from accounts.services import create_mail_user
from webmail.errors import UserError


class Command(BaseCommand):
    help = "Add a user whose login and primary address is ADDRESS, on a hosted domain."
    stealth_options = ("stdin",)  # tests pass their own stdin, as with createsuperuser

    def add_arguments(self, parser):
        parser.add_argument("address", help="The user's primary address, e.g. alice@example.org.")
        parser.add_argument("--password", help="Asked for on the terminal when omitted.")
        parser.add_argument("--name", default="", help='Display name, e.g. "Alice Martin".')
        parser.add_argument("--admin", action="store_true", help="Make the user an administrator (Django admin).")
        parser.add_argument("--marketer", action="store_true", help="Let the user manage campaigns and templates.")

    def handle(self, *args, address, password, name, admin, marketer, **options):
        if password is None:
            password = self._ask_password(options.get("stdin", sys.stdin))
        if not password:
            raise CommandError("The password cannot be empty.")
        try:
            user = create_mail_user(
                address=address, password=password, display_name=name, admin=admin, marketer=marketer
            )
        except UserError as exc:
            raise CommandError(exc.message) from exc
        roles = ", ".join(sorted(role.replace("_", " ") for role in user.roles))
        self.stdout.write(self.style.SUCCESS(f"Created {user.username} (roles: {roles})."))

    def _ask_password(self, stdin) -> str:
        if not (hasattr(stdin, "isatty") and stdin.isatty()):
            raise CommandError("--password is required when not running on a terminal.")
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise CommandError("The passwords did not match.")
        return password
