"""The vacation reply (RFC 3834): an automatic answer, at most once per sender per N days.

On arrival, ``auto_reply_target`` decides from the message alone whether it may
be answered at all (RFC 3834 §2: only mail addressed to the user, never mail
that is itself automatic, from a list or in bulk, never to a null or a robot's
return path). After the placement commits, a task calls ``send_vacation_reply``,
which checks what depends on the user and the time (switched on, between the
start and end days in the user's time zone, the sender a contact if asked, not
answered within the interval), records the reply and submits it, in one
transaction. The reply goes to the envelope sender (the Return-Path, RFC 3834
§4) with ``Auto-Submitted: auto-replied`` and ``In-Reply-To``/``References``.
"""

import logging
import re
from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.addresses import split_address
from accounts.preferences import time_zone_of
from mailboxes.models import MailboxItem, Recipient
from mailboxes.parsing import ParsedMessage
from rules.exceptions import InvalidVacationReply
from rules.models import VacationReply, VacationReplyLog
from webmail.errors import UserError

logger = logging.getLogger(__name__)

MIN_INTERVAL_DAYS, MAX_INTERVAL_DAYS, DEFAULT_INTERVAL_DAYS = 1, 30, 4
MAX_BODY = 10_000
# Local parts of robots and role mailboxes that never want an automatic answer (RFC 3834 §2, common practice).
_ROBOT = re.compile(
    r"^(mailer-daemon|postmaster|listserv|majordomo|mailman|bounces?|no[-_.]?reply|do[-_.]?not[-_.]?reply"
    r"|owner-.*|.*-(request|bounces?|owner)|.*[-_.+]no[-_.]?reply)$"
)
_BULK_PRECEDENCE = {"bulk", "list", "junk"}


def save_vacation_reply(
    *,
    user,
    enabled: bool,
    subject: str = "",
    body: str = "",
    starts_on: date | None = None,
    ends_on: date | None = None,
    contacts_only: bool = False,
    interval_days: int = DEFAULT_INTERVAL_DAYS,
) -> VacationReply:
    """Save the user's vacation reply; saving starts the once-per-sender count afresh (as Gmail)."""
    subject = " ".join((subject or "").split())
    body = (body or "").strip()
    if any(ch in (subject or "") for ch in "\r\n") or len(subject) > 200:
        raise InvalidVacationReply(_("The subject is one line of at most 200 characters."), field="subject")
    if enabled and not body:
        raise InvalidVacationReply(_("Write the message to send."), field="body")
    if len(body) > MAX_BODY:
        raise InvalidVacationReply(_("The message has at most %(max)d characters.") % {"max": MAX_BODY}, field="body")
    if starts_on and ends_on and ends_on < starts_on:
        raise InvalidVacationReply(_("The last day comes before the first."), field="ends_on")
    try:
        interval_days = int(interval_days)
    except (TypeError, ValueError):
        interval_days = 0
    if not MIN_INTERVAL_DAYS <= interval_days <= MAX_INTERVAL_DAYS:
        raise InvalidVacationReply(
            _("Reply to the same sender at most once every %(min)d to %(max)d days.")
            % {"min": MIN_INTERVAL_DAYS, "max": MAX_INTERVAL_DAYS},
            field="interval_days",
        )
    with transaction.atomic():
        reply, _created = VacationReply.objects.select_for_update().get_or_create(user=user)
        reply.enabled, reply.subject, reply.body = bool(enabled), subject, body
        reply.starts_on, reply.ends_on, reply.contacts_only = starts_on, ends_on, bool(contacts_only)
        reply.interval_days = interval_days
        reply.save()
        VacationReplyLog.objects.filter(user=user).delete()
    return reply


def is_active(reply: VacationReply, *, now: datetime) -> bool:
    """Switched on, and ``now`` falls between the first and last day (inclusive) in the user's time zone."""
    if not reply.enabled:
        return False
    today = now.astimezone(time_zone_of(reply.user)).date()
    return (reply.starts_on is None or reply.starts_on <= today) and (reply.ends_on is None or today <= reply.ends_on)


def _is_robot(address: str) -> bool:
    return bool(_ROBOT.match(split_address(address.lower())[0]))


def _without_tag(address: str) -> str:
    local, domain = split_address(address.lower())
    return f"{local.split('+', 1)[0]}@{domain}"


def auto_reply_target(*, parsed: ParsedMessage, mail_from: str, own_addresses: set[str]) -> tuple[str, str]:
    """``(reply to, from which own address)`` if the message may get an automatic reply, else ``("", "")``.

    ``own_addresses`` are the user's addresses, lower-case. Never: a null Return-Path (bounces), mail that is
    automatic itself (Auto-Submitted other than "no"), from a list or bulk (List-Id, List-Unsubscribe,
    Precedence bulk/list/junk), from a robot (MAILER-DAEMON, postmaster, no-reply…), from the user, or
    where the user is not in To or Cc (Bcc, lists and aliases: RFC 3834 §2).
    """
    target = (mail_from or "").strip().strip("<>").lower()
    headers = {name.lower(): str(value).strip().lower() for name, value in (parsed.headers or {}).items()}
    if not target or "@" not in target:
        return "", ""
    if headers.get("auto-submitted", "no").split(";")[0].strip() not in ("", "no"):
        return "", ""
    if "list-id" in headers or "list-unsubscribe" in headers:
        return "", ""
    if headers.get("precedence", "") in _BULK_PRECEDENCE:
        return "", ""
    sender = (parsed.from_address or "").lower()
    if _is_robot(target) or (sender and _is_robot(sender)):
        return "", ""
    own = {_without_tag(a) for a in own_addresses}
    if _without_tag(target) in own or (sender and _without_tag(sender) in own):
        return "", ""
    for entry in [*parsed.to, *parsed.cc]:
        address = (entry.get("address") or "").lower()
        if address and _without_tag(address) in own:
            return target, _without_tag(address)
    return "", ""


def _is_contact(user, address: str) -> bool:
    """Someone the user has written to (the webmail has no address book of its own)."""
    return Recipient.objects.filter(message__sender=user, address__iexact=address).exists()


def _claim(user, sender: str, *, now: datetime, interval: timedelta) -> bool:
    """Record a reply to ``sender`` now, unless one went within ``interval``; whether this call may reply."""
    log = VacationReplyLog.objects.select_for_update().filter(user=user, sender=sender).first()
    if log is None:
        try:
            with transaction.atomic():
                VacationReplyLog.objects.create(user=user, sender=sender, last_replied_at=now)
        except IntegrityError:  # another worker is replying to the same sender right now
            return False
        return True
    if now - log.last_replied_at < interval:
        return False
    log.last_replied_at = now
    log.save(update_fields=["last_replied_at"])
    return True


def send_vacation_reply(*, user_id: int, item_id: int, to: str, from_address: str, now: datetime | None = None):
    """Reply to one received message if the vacation reply is due; the reply's Message, or None."""
    from delivery.services.submission import send_message

    now = now or timezone.now()
    reply = VacationReply.objects.select_related("user").filter(user_id=user_id).first()
    if reply is None or not is_active(reply, now=now):
        return None
    item = MailboxItem.objects.select_related("message").filter(pk=item_id, user_id=user_id).first()
    if item is None:
        return None
    user = reply.user
    if reply.contacts_only and not _is_contact(user, to):
        return None
    original = item.message.subject
    subject = reply.subject or (original if original.lower().startswith("re:") else f"Re: {original}".strip())
    try:
        with transaction.atomic():
            if not _claim(user, to, now=now, interval=timedelta(days=reply.interval_days)):
                return None
            message = send_message(
                user=user,
                from_address=from_address,
                to=[to],
                subject=" ".join(subject.split())[:900],
                text=reply.body,
                in_reply_to_item_id=item.pk,
                sent_copy=False,
                headers=[("Auto-Submitted", "auto-replied")],
            )
    except UserError as exc:  # a hold, a quota, an address no longer the user's: no reply, nothing recorded
        logger.warning("vacation reply of user %s to %s not sent: %s", user_id, to, exc.message)
        return None
    logger.info("vacation reply of user %s sent to %s (message %s)", user_id, to, message.pk)
    return message
