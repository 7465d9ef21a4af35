"""A database that does not answer: a second alias whose server refuses the connection."""

from contextlib import contextmanager

from django.db import connection, connections

from tests.support.smtp_server import free_port


@contextmanager
def unreachable_database(alias: str = "replica"):
    """Adds ``alias`` to the configured databases, pointing where nothing answers: a closed loopback port
    (PostgreSQL), a file in a folder that does not exist (SQLite). A connection is really attempted and
    really refused; the alias is removed afterwards."""
    settings_dict = dict(connections.settings["default"])
    if connection.vendor == "postgresql":
        settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    else:
        settings_dict.update(NAME="/nonexistent-folder/webmail.sqlite3")
    connections.settings[alias] = settings_dict
    try:
        yield alias
    finally:
        connections[alias].close()
        del connections[alias]
        del connections.settings[alias]
