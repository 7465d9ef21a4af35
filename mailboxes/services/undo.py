"""Sending with an "Undo" window.

Sending from the webmail first keeps the message as a draft with a send time
a few seconds ahead (``MailboxItem.send_at``). Until then "Undo" takes it back
to an editable draft; after it, ``send_due_draft`` hands it to the submission
service. Three things send it, whichever comes first and exactly once (the
draft row is locked and ``send_at`` cleared in the same transaction): the
page that sent it when its countdown ends, a delayed Celery task, and the
periodic ``send_due_messages`` sweep that catches anything a lost task left.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mailboxes.compose import require_recipients
from mailboxes.exceptions import DraftNotFound
from mailboxes.models import Folder, MailboxItem, Message
from mailboxes.selectors import parse_pk
from mailboxes.services.drafts import draft_composition, get_draft_for_update
from webmail.celery import BROKER_ERRORS
from webmail.errors import UserError

logger = logging.getLogger(__name__)

_CLOCK_SLACK = timedelta(seconds=1)


class AlreadySent(UserError):
    code = "already_sent"
    status = 409


def schedule_send(*, user, draft_id, delay_seconds: int | None = None) -> MailboxItem:
    """Mark a draft to be sent after the undo window; refuses a draft that could not be sent.

    A refusal here is the webmail submission's (counted); its acceptance is counted when the draft is sent.
    """
    from delivery.services.metrics import Channel, counting_submission  # delivery imports the mailbox services

    with counting_submission(Channel.WEBMAIL, count_accepted=False):
        return _schedule_send(user=user, draft_id=draft_id, delay_seconds=delay_seconds)


def _schedule_send(*, user, draft_id, delay_seconds: int | None) -> MailboxItem:
    delay = settings.WEBMAIL_UNDO_SECONDS if delay_seconds is None else delay_seconds
    with transaction.atomic():
        item = get_draft_for_update(user=user, draft_id=draft_id)
        composition = draft_composition(user=user, item=item)
        require_recipients(composition)  # errors now, not after the window
        _check_admission(user=user, composition=composition, stream=item.message.stream)
        item.send_at = timezone.now() + timedelta(seconds=delay)
        item.send_scheduled = False  # "Send" on a scheduled draft sends it now, after the undo window
        item.save(update_fields=["send_at", "send_scheduled", "updated_at"])
        transaction.on_commit(lambda: _dispatch(item.pk, delay))
    return item


def _check_admission(*, user, composition, stream: str) -> None:
    """A quota (or a hold) that would refuse the send is told now, while the user still has the form."""
    from reputation.services.admission import check_admission  # reputation reads the mailbox models

    check_admission(
        user=user, from_address=composition.from_address, stream=stream,
        recipient_addresses=[address for _, _, address in composition.envelope_recipients()],
    )  # fmt: skip


def _dispatch(item_id: int, delay: int) -> None:
    from mailboxes.tasks import send_scheduled_draft  # tasks import services

    try:
        send_scheduled_draft.apply_async(args=[item_id], countdown=delay)
    except BROKER_ERRORS:  # the page's countdown or the periodic sweep sends it
        logger.warning("broker unreachable: draft %s is sent by the page or the sweep", item_id, exc_info=True)


def cancel_send(*, user, draft_id) -> MailboxItem:
    """Undo: the draft stays a draft. Too late once it has been handed to delivery."""
    with transaction.atomic():
        try:
            item = get_draft_for_update(user=user, draft_id=draft_id)
        except DraftNotFound:
            if MailboxItem.objects.filter(user=user, pk=parse_pk(draft_id), folder=Folder.SENT).exists():
                raise AlreadySent(_("Too late: the message has already been sent.")) from None
            raise
        if item.send_at is None:
            raise AlreadySent(_("This message is not waiting to be sent."))
        item.send_at = None
        item.send_scheduled = False
        item.save(update_fields=["send_at", "send_scheduled", "updated_at"])
    return item


def send_due_draft(*, item_id, user=None, now=None) -> Message | None:
    """Send a scheduled draft whose time has come; None when it is not due, undone or already sent.

    With ``user`` only that user's draft is considered (the page's own request).
    """
    from delivery.services.metrics import Channel
    from delivery.services.submission import send_draft  # delivery imports the mailbox services

    # The page's countdown may end a moment before the server's clock does.
    deadline = (now or timezone.now()) + (_CLOCK_SLACK if user is not None else timedelta(0))
    with transaction.atomic():
        items = MailboxItem.objects.select_for_update().filter(
            pk=parse_pk(item_id), send_at__lte=deadline, message__status=Message.Status.DRAFT
        )
        if user is not None:
            items = items.filter(user=user)
        item = items.select_related("user").first()
        if item is None:
            return None
        item.send_at = None
        item.send_scheduled = False
        item.save(update_fields=["send_at", "send_scheduled", "updated_at"])
        try:
            with transaction.atomic():
                return send_draft(user=item.user, draft_id=item.pk, channel=Channel.WEBMAIL)
        except UserError as exc:
            # Changed since it was scheduled into something that cannot be sent: it stays a draft.
            logger.warning("Scheduled draft %s was not sent: %s", item.pk, exc.message)
            return None


def send_due_messages(*, now=None) -> int:
    """Send every scheduled draft that is due (the periodic sweep; the durable path for "Schedule send")."""
    now = now or timezone.now()
    due = MailboxItem.objects.filter(send_at__lte=now).order_by("send_at").values_list("pk", flat=True)[:500]
    return sum(1 for pk in list(due) if send_due_draft(item_id=pk, now=now) is not None)
