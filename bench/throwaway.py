"""A throwaway database for one benchmark run: a SQLite file in its temporary folder, or a new
PostgreSQL database named ``PREFIX_<random>`` on ``--postgres-url``, dropped afterwards."""

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
