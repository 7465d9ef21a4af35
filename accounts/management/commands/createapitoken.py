"""``manage.py createapitoken ADDRESS [--name NAME]``: prints a new API token for that user."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.services import create_api_token
from webmail.errors import UserError


class Command(BaseCommand):
    help = "Make an API token for the user whose login is ADDRESS and print it (it is shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("address", help="The user's primary address.")
        parser.add_argument("--name", default="", help='What the token is for, e.g. "billing service".')

    def handle(self, *args, address, name, **options):
        user = User.objects.filter(username__iexact=address.strip()).first()
        if user is None:
            raise CommandError(f"No user {address}.")
        if not user.is_active:
            raise CommandError(f"{user.username} is not active.")
        try:
            record, token = create_api_token(user=user, name=name)
        except UserError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(f"Token {record.prefix}… for {user.username}; it is not shown again:")
        self.stdout.write(token)
