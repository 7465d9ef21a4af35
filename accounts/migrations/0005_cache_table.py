"""The database cache's table (webmail/cache.py), made by migrate so that no deployment forgets it.

It creates the table of every database cache configured when it runs; after switching
CACHE_URL to another db:// table later, run ``manage.py createcachetable``.
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_tables(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_api_token")]

    operations = [migrations.RunPython(create_cache_tables, migrations.RunPython.noop, elidable=False)]
