"""System checks for deployment settings, with stable ids (``manage.py check --deploy``)."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.compatibility)
def check_base_url(app_configs, **kwargs):
    parts = urlsplit(settings.WEBMAIL_BASE_URL)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return [
            Error(
                f"WEBMAIL_BASE_URL must be an absolute http(s) URL, got {settings.WEBMAIL_BASE_URL!r}.",
                hint="Links in mail (unsubscribe, tracking, downloads) are built from it.",
                id="webmail.E001",
            )
        ]
    return []


@register(Tags.database, deploy=True)
def check_production_services(app_configs, **kwargs):
    problems = []
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        problems.append(
            Warning(
                "The database is SQLite, the embedded development default.",
                hint="Set DATABASE_URL to a PostgreSQL database for production.",
                id="webmail.W001",
            )
        )
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        problems.append(
            Warning(
                "Celery uses the embedded file broker, which only works on one machine.",
                hint="Set CELERY_BROKER_URL to RabbitMQ (amqp://) or Redis (redis://).",
                id="webmail.W002",
            )
        )
    if settings.CACHES["default"]["BACKEND"].endswith("LocMemCache"):
        problems.append(
            Warning(
                "The cache is the memory of each process: every web process counts sign-in and API limits alone.",
                hint="Unset CACHE_URL (a table in the database) or set it to Redis (redis://).",
                id="webmail.W003",
            )
        )
    return problems
