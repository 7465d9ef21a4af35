"""A throwaway database for one benchmark run: a SQLite file in its temporary folder, or a new
PostgreSQL database named ``PREFIX_<random>`` on ``--postgres-url``, dropped afterwards; and
``setup_django``, which points Django at it and migrates it."""

import os
import secrets
from pathlib import Path


class ThrowawayDatabase:
    def __init__(self, args, tmp: Path, *, prefix: str):
        self.admin_url = args.postgres_url.rstrip("/")
        self.name = ""
        if args.db == "sqlite":
            self.url = f"sqlite:///{tmp / 'bench.sqlite3'}"
            return
        import psycopg

        self.name = f"{prefix}_{secrets.token_hex(4)}"
        with psycopg.connect(self.admin_url + "/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.url = f"{self.admin_url}/{self.name}"

    def drop(self) -> None:
        if not self.name:
            return
        import psycopg

        with psycopg.connect(self.admin_url + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def setup_django(db_url: str, tmp: Path, *, unset: tuple[str, ...] = (), **env: str) -> None:
    """Configure Django for a benchmark run on ``db_url`` (external services unset, plus ``unset``;
    ``env`` added), set it up and migrate the database."""
    for name in ("ELASTICSEARCH_URL", "CELERY_BROKER_URL", "S3_BUCKET", *unset):
        os.environ.pop(name, None)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="webmail.settings",
        DATABASE_URL=db_url,
        VAR_DIR=str(tmp / "var"),
        MAILSTORE_DIR=str(tmp / "mailstore"),
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        LOG_LEVEL="WARNING",
        **env,
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
