"""Telling a sender's owner and the admins what the reputation and abuse checks did, and why.

A notice is a plain message placed straight into each person's inbox (never
sent over SMTP: it must reach them while their sending is stopped), and a
WARNING log line for the operators' log search.
"""

import logging
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from mailboxes.models import Message
from mailboxes.services.placement import place_message
from mailboxes.services.store import store_message

logger = logging.getLogger(__name__)


def admins():
    """The people told about every hold: active superusers."""
    return list(get_user_model().objects.filter(is_superuser=True, is_active=True).order_by("pk"))


def notify(*, users, subject: str, body: str, now=None) -> list[Message]:
    """Place one notice per distinct user (owner and admins alike); returns the stored notices."""
    now = now or timezone.now()
    seen, notices = set(), []
    logger.warning("reputation notice: %s", subject)
    for user in users:
        if user is None or user.pk in seen:
            continue
        seen.add(user.pk)
        raw = _notice(to=user.username, subject=subject, body=body, now=now)
        with transaction.atomic():
            notice, _ = store_message(raw=raw, status=Message.Status.RECEIVED)
            place_message(user=user, message=notice, received_at=now)
        notices.append(notice)
    return notices


def _notice(*, to: str, subject: str, body: str, now) -> bytes:
    host = settings.MAIL_HOSTNAME
    notice = EmailMessage(policy=policy.SMTP)
    notice["From"] = f"Postmaster <postmaster@{host}>"
    notice["To"] = to
    notice["Subject"] = " ".join(subject.split())[:250]
    notice["Date"] = format_datetime(now)
    notice["Message-ID"] = make_msgid(domain=host)
    notice["Auto-Submitted"] = "auto-generated"
    notice.set_content(body)
    return notice.as_bytes()
