"""Double opt-in: a new member of such a list gets a mail with a signed link, and joins when they confirm.

The link leads to a public page (``campaigns.views.confirm``) whose GET only
shows a button: mail scanners and link previews follow links, and must not
subscribe anybody. The POST records the consent (IP, browser, time) and makes
the membership subscribed.

The confirmation is sent from the workspace's ``noreply@`` (or ``no-reply@``)
address when a user owns one, else from the marketer who added the person:
people recognise their own sender, and a reply reaches someone.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Address, User
from campaigns.models import ListMembership
from campaigns.services.consent import record_opt_in
from campaigns.workspace import workspace_of
from delivery.services import send_message
from mailboxes.models import Message
from webmail.errors import Conflict, UserError

logger = logging.getLogger(__name__)

TOKEN_SALT = "campaigns.double-opt-in"  # noqa: S105 - a salt, not a secret
CONSENT_SOURCE = "double opt-in"


class InvalidConfirmationLink(UserError):
    code = "invalid_confirmation_link"


class ExpiredConfirmationLink(UserError):
    code = "expired_confirmation_link"


def confirmation_token(*, membership: ListMembership, now: datetime) -> str:
    """Signed (salted) membership id and address, with the time it was issued (checked against the max age)."""
    payload = {"m": membership.pk, "e": membership.contact.address, "t": int(now.timestamp())}
    return signing.dumps(payload, salt=TOKEN_SALT, compress=True)


def read_confirmation_token(token: str, *, now: datetime | None = None) -> tuple[int, str]:
    """``(membership id, address)`` of a genuine, unexpired link; ``DOUBLE_OPT_IN_MAX_AGE_DAYS`` is the limit."""
    try:
        payload = signing.loads(token, salt=TOKEN_SALT)
        membership_id, address, issued = int(payload["m"]), str(payload["e"]), int(payload["t"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        message = _("This confirmation link is not valid: it may have been cut or changed.")
        raise InvalidConfirmationLink(message) from None
    age = (now or timezone.now()).timestamp() - issued
    if age > settings.DOUBLE_OPT_IN_MAX_AGE_DAYS * 86400:
        raise ExpiredConfirmationLink(_("This confirmation link has expired. Ask to be added again to get a new one."))
    return membership_id, address


def confirmation_url(token: str) -> str:
    return settings.WEBMAIL_BASE_URL.rstrip("/") + reverse("confirm_subscription", args=[token])


def confirmation_sender(*, workspace, added_by_id) -> tuple[User, str] | None:
    noreply = (
        Address.objects.filter(domain=workspace, local_part__in=["noreply", "no-reply"], user__is_active=True)
        .select_related("user", "domain")
        .order_by("local_part")
        .first()
    )
    if noreply is not None:
        return noreply.user, noreply.email
    user = User.objects.filter(pk=added_by_id, is_active=True).first() if added_by_id else None
    if user is not None and workspace_of(user) == workspace:
        return user, user.primary_address
    return None


def send_confirmations(*, membership_ids, added_by_id, now: datetime | None = None) -> int:
    """Mail each pending member their link, once (a conditional UPDATE claims each); how many were sent.

    Call after the memberships are committed. A mail that cannot be queued
    leaves the membership unclaimed, so a later call sends it.
    """
    now = now or timezone.now()
    memberships = list(
        ListMembership.objects.filter(
            pk__in=list(membership_ids), status=ListMembership.Status.PENDING, confirmation_sent_at__isnull=True
        ).select_related("contact", "contact_list__domain")
    )
    if not memberships:
        return 0
    sender = confirmation_sender(workspace=memberships[0].contact_list.domain, added_by_id=added_by_id)
    if sender is None:
        logger.warning("No sender for double opt-in mails of workspace %s", memberships[0].contact_list.domain)
        return 0
    sent = 0
    for membership in memberships:
        claimed = ListMembership.objects.filter(pk=membership.pk, confirmation_sent_at__isnull=True).update(
            confirmation_sent_at=now
        )
        if not claimed:
            continue
        try:
            _send_confirmation(membership=membership, sender=sender, now=now)
        except UserError:
            logger.warning("Could not queue the double opt-in mail of membership %s", membership.pk, exc_info=True)
            ListMembership.objects.filter(pk=membership.pk).update(confirmation_sent_at=None)
            continue
        sent += 1
    return sent


def _send_confirmation(*, membership: ListMembership, sender: tuple[User, str], now: datetime) -> Message:
    user, from_address = sender
    contact, contact_list = membership.contact, membership.contact_list
    url = confirmation_url(confirmation_token(membership=membership, now=now))
    with translation.override(contact.locale or settings.LANGUAGE_CODE):
        subject = _("Please confirm your subscription to %(list)s") % {"list": contact_list.name}
        text = _(
            "Hello,\n\n"
            "Someone, hopefully you, asked for %(address)s to receive “%(list)s” from %(domain)s.\n"
            "To confirm, open this link and press the button on the page:\n\n"
            "%(url)s\n\n"
            "If it was not you, ignore this message: you will not be subscribed.\n"
            "The link works for %(days)d days.\n"
        ) % {
            "address": contact.address,
            "list": contact_list.name,
            "domain": contact_list.domain.name,
            "url": url,
            "days": settings.DOUBLE_OPT_IN_MAX_AGE_DAYS,
        }
    return send_message(
        user=user, from_address=from_address, to=[contact.address], subject=subject, text=text,
        stream=Message.Stream.TRANSACTIONAL,
    )  # fmt: skip


@dataclass(frozen=True)
class Confirmation:
    membership: ListMembership
    newly_confirmed: bool


def pending_confirmation(*, token: str, now: datetime | None = None) -> ListMembership:
    """The membership a link is for (what the GET page shows); the link's errors as ``confirm_subscription``'s."""
    membership_id, address = read_confirmation_token(token, now=now)
    membership = (
        ListMembership.objects.select_related("contact", "contact_list__domain")
        .filter(pk=membership_id, contact__address=address)
        .first()
    )
    if membership is None:
        raise InvalidConfirmationLink(_("This subscription no longer exists."))
    return membership


def confirm_subscription(*, token: str, ip: str | None, user_agent: str, now: datetime | None = None) -> Confirmation:
    """The person confirmed: consent recorded (double opt-in, IP, browser, time), membership subscribed.

    Idempotent: a second confirmation changes nothing. Someone who left the
    list since the mail was sent stays out: an old link must not undo an
    unsubscribe.
    """
    now = now or timezone.now()
    membership_id, address = read_confirmation_token(token, now=now)
    with transaction.atomic():
        membership = (
            ListMembership.objects.select_for_update()
            .filter(pk=membership_id, contact__address=address)
            .select_related("contact", "contact_list__domain")
            .first()
        )
        if membership is None:
            raise InvalidConfirmationLink(_("This subscription no longer exists."))
        if membership.status == ListMembership.Status.SUBSCRIBED:
            return Confirmation(membership=membership, newly_confirmed=False)
        if membership.status == ListMembership.Status.UNSUBSCRIBED:
            raise Conflict(_("You left this list after this link was sent; nothing was changed."))
        record_opt_in(contact=membership.contact, source=CONSENT_SOURCE, ip=ip, user_agent=user_agent, now=now)
        membership.status, membership.subscribed_at, membership.updated_at = (
            ListMembership.Status.SUBSCRIBED, now, now,
        )  # fmt: skip
        membership.save(update_fields=["status", "subscribed_at", "updated_at"])
    return Confirmation(membership=membership, newly_confirmed=True)
