"""Holds: stopping a sender's outbound mail, keeping its queue intact, and resuming it.

A ``SendingHold`` stops a sending user, a sending domain (the From address's
domain) or a campaign until an admin releases it:

- ``place_hold`` opens the hold (or returns the one already open: placing
  twice is harmless). A user's or domain's waiting outbox rows are parked at
  once (due at no time: nothing is lost, nothing is sent), and the engine
  parks whatever it claims for them later (``delivery.services.engine``). A
  campaign is paused through its own life cycle (``campaigns.services.campaigns``),
  with the hold's reason recorded on it for its marketer to read.
- ``release_hold`` (an admin's "Resume sending") closes it: the parked rows
  are due again and a worker is asked to deliver them; a campaign resumes.
- ``refuse_if_held`` is the submission check: a held user, or a From address
  on a held domain, gets ``SendingSuspended`` (403, ``sending_suspended``).
"""

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.addresses import split_address
from core.lookups import any_of
from mailboxes.models import Recipient
from reputation.models import SendingHold
from webmail.errors import UserError

logger = logging.getLogger(__name__)

WAITING = (Recipient.Status.QUEUED, Recipient.Status.DEFERRED)


class SendingSuspended(UserError):
    """The sender's outbound mail is held (paused by a guardrail, suspended, or held by an admin)."""

    code = "sending_suspended"
    status = 403


def subject_key(kind: str, key) -> str:
    """A hold's key as stored: a user or campaign id as a string, a domain name in lower case."""
    key = str(key).strip()
    return key.lower() if kind == SendingHold.Kind.DOMAIN else key


def place_hold(*, kind: str, key, cause: str, reason: str, evidence: dict, now: datetime | None = None) -> SendingHold:
    """Hold the subject's sending; the hold already open for it is returned as it is (never a second one)."""
    hold, _created = place_hold_once(kind=kind, key=key, cause=cause, reason=reason, evidence=evidence, now=now)
    return hold


def place_hold_once(
    *, kind: str, key, cause: str, reason: str, evidence: dict, now: datetime | None = None
) -> tuple[SendingHold, bool]:
    """``place_hold``, also telling whether this call opened it (the guardrails alert only then)."""
    now = now or timezone.now()
    key = subject_key(kind, key)
    with transaction.atomic():
        existing = _open_hold(kind, key, lock=True)
        if existing is not None:
            return existing, False
        try:
            with transaction.atomic():  # a savepoint: another placer may open it between our read and write
                hold = SendingHold.objects.create(
                    kind=kind, key=key, cause=cause, reason=reason, evidence=evidence or {}, created_at=now
                )
        except IntegrityError:
            return _open_hold(kind, key, lock=False), False
        _stop(hold, now)
    logger.warning("sending held: %s %s (%s): %s", kind, key, cause, reason)
    return hold, True


def release_hold(*, hold: SendingHold, by, note: str = "", now: datetime | None = None) -> SendingHold:
    """Close the hold (an admin resumes sending): its parked mail is due again; a campaign resumes."""
    now = now or timezone.now()
    with transaction.atomic():
        hold = SendingHold.objects.select_for_update().get(pk=hold.pk)
        if not hold.is_open:  # released already (two admins at once): nothing more to do
            return hold
        hold.resolved_at, hold.resolved_by, hold.resolution_note = now, by, note.strip()
        hold.save(update_fields=["resolved_at", "resolved_by", "resolution_note"])
        _restart(hold, now)
    logger.warning("sending resumed: %s %s by %s", hold.kind, hold.key, by)
    _tell_resumed(hold, now)
    return hold


def open_holds():
    """Every hold still open, newest first."""
    return SendingHold.objects.filter(resolved_at=None).order_by("-created_at")


def open_hold_for(kind: str, key) -> SendingHold | None:
    return _open_hold(kind, subject_key(kind, key), lock=False)


def refuse_if_held(*, user, from_address: str | None) -> None:
    """Raise ``SendingSuspended`` if the user's sending, or the From address's domain, is held (one query)."""
    subjects = Q(kind=SendingHold.Kind.USER, key=str(user.pk)) if user is not None and user.pk else Q(pk=None)
    domain = split_address(from_address)[1].lower() if from_address and "@" in from_address else ""
    if domain:
        subjects |= Q(kind=SendingHold.Kind.DOMAIN, key=domain)
    hold = SendingHold.objects.filter(subjects, resolved_at=None).order_by("kind").first()
    if hold is None:
        return
    if hold.kind == SendingHold.Kind.USER:
        message = _("Sending from your account is suspended: %(why)s An administrator must resume it.")
    else:
        message = _("Sending from %(domain)s is suspended: %(why)s An administrator must resume it.")
    raise SendingSuspended(message % {"why": _sentence(hold.reason), "domain": hold.key}, field="from")


def held_message_filter(holds) -> Q:
    """Recipients whose message's sender or From domain is held by one of ``holds`` (user and domain holds)."""
    condition = Q(pk__in=[])
    users = [int(h.key) for h in holds if h.kind == SendingHold.Kind.USER and h.key.isdigit()]
    if users:
        condition |= Q(message__sender_id__in=users)
    for hold in holds:
        if hold.kind == SendingHold.Kind.DOMAIN:
            condition |= Q(message__from_address__iendswith="@" + hold.key)
    return condition


# --- the parts ----------------------------------------------------------------------------------


def _open_hold(kind: str, key: str, *, lock: bool) -> SendingHold | None:
    holds = SendingHold.objects.filter(kind=kind, key=key, resolved_at=None)
    return (holds.select_for_update() if lock else holds).first()


def _sentence(text: str) -> str:
    text = " ".join((text or "").split())
    return text if text.endswith((".", "!", "?")) else text + "."


def _stop(hold: SendingHold, now) -> int:
    if hold.kind == SendingHold.Kind.CAMPAIGN:
        from campaigns.services.campaigns import pause_for_hold  # campaigns know nothing of reputation

        pause_for_hold(campaign_id=int(hold.key), reason=hold.reason, now=now)
        return 0
    return _park(hold, now)


def _restart(hold: SendingHold, now) -> int:
    if hold.kind == SendingHold.Kind.CAMPAIGN:
        from campaigns.services.campaigns import resume_after_hold

        resume_after_hold(campaign_id=int(hold.key), now=now)
        return 0
    return _unpark(hold, now)


def _tell_resumed(hold: SendingHold, now) -> None:
    """The owner hears that sending goes on, and the admin's note (the admins resumed it: they know)."""
    from reputation.services.notify import notify  # notices are stored as mailbox messages
    from reputation.services.owners import describe_subject, owners

    subject = describe_subject(hold.kind, hold.key)
    note = f"\n\nThe administrator's note: {hold.resolution_note}" if hold.resolution_note else ""
    body = (
        f"Sending of {subject} has been resumed by an administrator; the mail that waited is being delivered."
        f"{note}\n\nIt had been stopped because: {hold.reason}"
    )
    notify(users=owners(hold.kind, hold.key), subject=f"Sending resumed: {subject}", body=body, now=now)


def _park(hold: SendingHold, now) -> int:
    """The subject's waiting outbox rows are due at no time (rows a worker holds now are in flight: skipped)."""
    waiting = Recipient.objects.filter(held_message_filter([hold]), status__in=WAITING, next_attempt_at__isnull=False)
    ids = list(waiting.select_for_update(skip_locked=True, of=("self",)).values_list("pk", flat=True))
    if not ids:
        return 0
    return Recipient.objects.filter(any_of("pk", ids)).update(next_attempt_at=None, updated_at=now)


def _unpark(hold: SendingHold, now) -> int:
    """The subject's parked rows are due now; a worker is asked once the release commits.

    Rows still stopped by something else (another hold, a paused campaign) are
    parked again by the engine when it claims them.
    """
    from delivery.services.submission import dispatch_due  # delivery reads this module at claim time

    parked = Recipient.objects.filter(held_message_filter([hold]), status__in=WAITING, next_attempt_at__isnull=True)
    queues = set(parked.order_by().values_list("queue", flat=True).distinct())
    ids = list(parked.values_list("pk", flat=True))
    if not ids:
        return 0
    count = Recipient.objects.filter(any_of("pk", ids)).update(next_attempt_at=now, updated_at=now)
    for queue in sorted(queues):
        transaction.on_commit(lambda queue=queue: dispatch_due(queue=queue))
    return count
