"""The Celery application: ``celery -A webmail worker`` and ``celery -A webmail beat``."""

import os

from celery import Celery
from kombu.exceptions import OperationalError

# What publishing a task raises when the broker cannot be reached (kombu wraps the transports'
# connection errors in OperationalError; a bare socket error may still come through). Code that
# publishes after a commit catches these: the outbox row is stored, and a reconciler sends it.
BROKER_ERRORS = (OperationalError, OSError)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webmail.settings")

app = Celery("webmail")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
