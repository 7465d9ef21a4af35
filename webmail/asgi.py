"""ASGI entry point for production servers."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webmail.settings")
# Django runs each request's sync code in a thread of its own under ASGI, so a persistent connection
# is never reused, only left open until PostgreSQL refuses new clients (seen in bench/outbound.py
# --end-to-end: "too many clients already"). Django's documentation: disable them under ASGI. On
# PostgreSQL a pool per process takes their place (webmail/settings.py, DATABASE_POOL): without it
# each request started a PostgreSQL backend of its own. DATABASE_POOL=false turns it off.
os.environ["DATABASE_CONN_MAX_AGE"] = "0"
os.environ.setdefault("DATABASE_POOL", "true")

application = get_asgi_application()
