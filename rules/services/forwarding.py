"""Forwarding: addresses verified by their owner, then used to forward all mail or what a filter picks.

A forwarded message is a new message from the user (through the submission
service: DKIM-signed with the user's domain, SPF-aligned, counted, held to the
user's quotas) with the received message attached unchanged as
``message/rfc822`` (``message/global`` when it has 8-bit bytes). Re-sending the
original as it came (From kept, envelope ours) would fail SPF and, for most
senders, DMARC at the target; the attachment keeps the original's bytes, and
so its DKIM signature, intact.

Loops: every forward carries ``X-Forwarded-For-Loop`` listing the mailboxes it
was forwarded from (the incoming value plus this user's address). Mail that
already passed through this user, or through ``MAX_FORWARD_HOPS`` mailboxes, is
not forwarded again.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.addresses import InvalidAddress, normalize_address
from accounts.selectors import addresses_of
from mailboxes.blobstore import read_blob
from mailboxes.compose import OutgoingAttachment
from mailboxes.models import Attachment, Folder, MailboxItem
from rules.exceptions import ForwardingNotVerified, InvalidForwardingAddress, InvalidVerificationLink
from rules.models import AutoForward, ForwardingAddress
from rules.selectors import get_forwarding_address_for_user
from webmail.errors import UserError

logger = logging.getLogger(__name__)

LOOP_HEADER = "X-Forwarded-For-Loop"
MAX_FORWARD_HOPS = 5
MAX_FORWARDING_ADDRESSES = 10
VERIFICATION_MAX_AGE = timedelta(days=7)
RESEND_AFTER = timedelta(minutes=5)
_SALT = "rules.forwarding.verify"
_FLAGGED = [Attachment.ScanStatus.WARNING, Attachment.ScanStatus.BLOCKED, Attachment.ScanStatus.INFECTED]


def verification_token(address: ForwardingAddress) -> str:
    return signing.dumps({"id": address.pk, "a": address.address}, salt=_SALT, compress=True)


def verification_url(address: ForwardingAddress) -> str:
    path = reverse("rules:forwarding_verify", args=[verification_token(address)])
    return settings.WEBMAIL_BASE_URL.rstrip("/") + path


def _send_verification(address: ForwardingAddress, *, now: datetime) -> None:
    """The verification mail, sent as the user (so it is signed, counted and held to their quotas)."""
    from delivery.services.submission import send_message  # delivery imports mailboxes, which imports accounts

    user = address.user
    own = addresses_of(user)[0] if addresses_of(user) else ""
    text = (
        f"{user.display_name or own} <{own}> asks to forward mail to this address ({address.address}).\n\n"
        f"To allow it, open this link within {VERIFICATION_MAX_AGE.days} days and confirm:\n\n"
        f"{verification_url(address)}\n\n"
        "If you do not know why you received this, ignore it: nothing is forwarded until you confirm.\n"
    )
    send_message(
        user=user,
        to=[address.address],
        subject=f"Confirm forwarding from {own}",
        text=text,
        sent_copy=False,
        headers=[("Auto-Submitted", "auto-generated")],
    )
    address.verification_sent_at = now
    address.save(update_fields=["verification_sent_at"])


def add_forwarding_address(*, user, address: str, now: datetime | None = None) -> ForwardingAddress:
    """Record a forwarding address and send it the verification mail; not usable until verified."""
    now = now or timezone.now()
    try:
        value = normalize_address(address, field="address").lower()
    except InvalidAddress as exc:
        raise InvalidForwardingAddress(exc.message, field="address") from exc
    if value in {own.lower() for own in addresses_of(user)}:
        raise InvalidForwardingAddress(_("That is one of your own addresses."), field="address")
    with transaction.atomic():
        if ForwardingAddress.objects.filter(user=user).count() >= MAX_FORWARDING_ADDRESSES:
            raise InvalidForwardingAddress(
                _("You can have at most %(max)d forwarding addresses.") % {"max": MAX_FORWARDING_ADDRESSES},
                field="address",
            )
        try:
            with transaction.atomic():
                record = ForwardingAddress.objects.create(user=user, address=value, created_at=now)
        except IntegrityError as exc:
            raise InvalidForwardingAddress(
                _("This forwarding address is already on your list."), field="address"
            ) from exc
        _send_verification(record, now=now)
    return record


def resend_verification(*, user, address_id, now: datetime | None = None) -> ForwardingAddress:
    now = now or timezone.now()
    with transaction.atomic():
        record = get_forwarding_address_for_user(user=user, address_id=address_id)
        record = ForwardingAddress.objects.select_for_update().get(pk=record.pk)
        if record.is_verified:
            raise InvalidForwardingAddress(_("This address is verified already."), field="address")
        if record.verification_sent_at and now - record.verification_sent_at < RESEND_AFTER:
            raise InvalidForwardingAddress(
                _("A verification mail was sent a moment ago; wait a few minutes before sending another."),
                field="address",
            )
        _send_verification(record, now=now)
    return record


def forwarding_address_for_token(token: str) -> ForwardingAddress:
    """The address a verification link is for; ``InvalidVerificationLink`` if forged, expired or deleted."""
    try:
        data = signing.loads(token, salt=_SALT, max_age=VERIFICATION_MAX_AGE)
    except signing.BadSignature as exc:  # (SignatureExpired included)
        raise InvalidVerificationLink(_("This verification link is not valid or has expired.")) from exc
    record = ForwardingAddress.objects.select_related("user").filter(pk=data.get("id"), address=data.get("a")).first()
    if record is None:
        raise InvalidVerificationLink(_("This verification link is not valid or has expired."))
    return record


def verify_forwarding_address(*, token: str, now: datetime | None = None) -> ForwardingAddress:
    """Mark the address verified (idempotent): its owner followed the link and confirmed."""
    now = now or timezone.now()
    record = forwarding_address_for_token(token)
    ForwardingAddress.objects.filter(pk=record.pk, verified_at__isnull=True).update(verified_at=now)
    record.refresh_from_db()
    return record


def delete_forwarding_address(*, user, address_id) -> None:
    """Forget the address; filters forwarding to it and the forward-all setting stop forwarding."""
    with transaction.atomic():
        get_forwarding_address_for_user(user=user, address_id=address_id).delete()


def set_auto_forward(*, user, address_id, keep: str) -> AutoForward:
    """Forward all incoming mail to a verified address (``address_id`` empty: stop), keeping the copy as ``keep``."""
    if keep not in AutoForward.Keep.values:
        raise InvalidForwardingAddress(_("Choose what happens to the copy in your mailbox."), field="keep")
    address = None
    if address_id not in (None, ""):
        address = get_forwarding_address_for_user(user=user, address_id=address_id)
        if not address.is_verified:
            raise ForwardingNotVerified(
                _("Mail can only be forwarded to an address that was verified."), field="address"
            )
    with transaction.atomic():
        setting, _created = AutoForward.objects.select_for_update().get_or_create(user=user)
        setting.address, setting.keep = address, keep
        setting.save()
    return setting


# --- Forwarding one message ------------------------------------------------------------------------


def loop_chain(value: str) -> list[str]:
    """The addresses an ``X-Forwarded-For-Loop`` value lists, lower-case."""
    return [part.strip().lower() for part in (value or "").split(",") if part.strip()]


def forwarding_stops_loop(chain: list[str], own_addresses: set[str]) -> bool:
    """Whether mail with this loop chain must not be forwarded again by a user with these addresses."""
    return len(chain) >= MAX_FORWARD_HOPS or bool(set(chain) & own_addresses)


def _attachment_of(raw: bytes) -> OutgoingAttachment:
    # message/rfc822 may only be 7bit/8bit/binary (RFC 2046 §5.2.1); 8-bit mail goes as message/global,
    # which may be base64-encoded (RFC 6532 §3.7).
    plain = raw.isascii() and all(len(line) <= 998 for line in raw.split(b"\n"))
    return OutgoingAttachment(
        filename="original.eml", content_type="message/rfc822" if plain else "message/global", content=raw
    )


def forward_message(*, user_id: int, item_id: int, address: str, chain: list[str]):
    """Forward one of the user's received messages to one of their verified addresses; the new Message or None.

    Everything is checked again here, after the placement committed: the address is still the user's and
    verified, the message is not in Spam and none of its attachments was flagged by the virus scanner.
    """
    from delivery.services.submission import send_message

    item = (
        MailboxItem.objects.select_related("user", "message", "message__blob")
        .filter(pk=item_id, user_id=user_id, origin=MailboxItem.Origin.RECEIVED)
        .first()
    )
    if item is None:
        return None
    target = ForwardingAddress.objects.filter(user_id=user_id, address=address, verified_at__isnull=False).first()
    if target is None:
        logger.warning("not forwarding item %s: %s is not a verified forwarding address of user %s",
                       item_id, address, user_id)  # fmt: skip
        return None
    if item.folder == Folder.SPAM or Attachment.objects.filter(message=item.message, scan_status__in=_FLAGGED).exists():
        logger.info("not forwarding item %s: spam or flagged by the virus scan", item_id)
        return None
    user = item.user
    own = addresses_of(user)
    message = item.message
    subject = f"Fwd: {message.subject}" if message.subject else "Fwd: (no subject)"
    sender = f"{message.from_name} <{message.from_address}>".strip() if message.from_address else "(unknown)"
    text = f"Forwarded automatically from {own[0] if own else ''}.\nFrom: {sender}\nSubject: {message.subject}\n"
    try:
        return send_message(
            user=user,
            to=[target.address],
            subject=" ".join(subject.split())[:900],
            text=text,
            attachments=[_attachment_of(read_blob(message.blob))],
            sent_copy=False,
            headers=[("Auto-Submitted", "auto-generated"), (LOOP_HEADER, ", ".join([*chain, own[0].lower()]))],
        )
    except UserError as exc:  # too large, a hold on the account, a quota: the copy stays in the mailbox
        logger.warning("could not forward item %s of user %s: %s", item_id, user_id, exc.message)
        return None
