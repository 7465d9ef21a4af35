"""Sign-in and security: the user's sessions, password changes, the recovery address and password resets.

Sessions are whatever SESSION_ENGINE stores (db, cache, cached_db, file); ``UserSession`` rows
name them per user so they can be listed and ended. Ending one deletes it from the store, so the
browser holding its cookie is signed out at its next request. (The signed_cookies engine keeps
nothing on the server and cannot be ended this way: don't use it.)

Account mail (the recovery address's check, reset links) is system mail: stored and queued for
delivery like DMARC reports are, from ACCOUNT_MAIL_FROM, never from a user's mailbox.
"""

import ipaddress
from datetime import datetime, timedelta
from importlib import import_module

from django.conf import settings
from django.contrib.auth import password_validation, update_session_auth_hash
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.translation import gettext as _

from accounts.models import Address, RecoveryAddress, User, UserSession
from core import ratelimit
from webmail.clients import client_address
from webmail.errors import NotFound, UserError

_RECOVERY_SALT = "accounts.recovery-address"


class InvalidPassword(UserError):
    code = "invalid_password"


class InvalidRecoveryAddress(UserError):
    code = "invalid_recovery_address"


class InvalidLink(UserError):
    code = "invalid_link"


class TooManyRequests(UserError):
    code = "throttled"
    status = 429

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


# --- sessions ------------------------------------------------------------------------------------


def _store(session_key: str | None = None):
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key)


def network_of(ip: str) -> str:
    """The /24 or /48 an address belongs to: enough to recognise a place, not a person's address."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def record_session(request, *, user=None, now: datetime | None = None) -> None:
    """After a sign-in (the session key is the new one): this session is the user's."""
    user = user or request.user
    key = request.session.session_key
    if not key or not user.is_authenticated:
        return
    now = now or timezone.now()
    UserSession.objects.update_or_create(
        session_key=key,
        defaults={
            "user": user,
            "created_at": now,
            "last_seen_at": now,
            "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
            "network": network_of(client_address(request)),
        },
    )
    request.session["_session_seen"] = int(now.timestamp())
    # Sessions that expired unseen leave their rows behind: a sign-in clears the user's old ones.
    stale = now - timedelta(seconds=settings.SESSION_COOKIE_AGE)
    UserSession.objects.filter(user=user, last_seen_at__lt=stale).delete()


def record_session_on_login(sender, request, user, **kwargs) -> None:
    """``user_logged_in`` receiver: the new session joins the user's list."""
    if request is not None and hasattr(request, "session"):
        record_session(request, user=user)


def touch_session(request, *, now: datetime | None = None) -> None:
    """A signed-in request: refresh the session's "last seen" if it is older than SESSION_TOUCH_SECONDS."""
    now = now or timezone.now()
    seen = request.session.get("_session_seen") or 0
    if int(now.timestamp()) - seen < settings.SESSION_TOUCH_SECONDS and seen:
        return
    key = request.session.session_key
    updated = UserSession.objects.filter(session_key=key, user=request.user).update(last_seen_at=now) if key else 0
    if updated:
        request.session["_session_seen"] = int(now.timestamp())
    else:  # signed in before this was deployed, or its row was lost
        record_session(request, now=now)


def sessions_of(user, *, now: datetime | None = None):
    """The user's sessions still alive (seen within SESSION_COOKIE_AGE), the most recent first."""
    since = (now or timezone.now()) - timedelta(seconds=settings.SESSION_COOKIE_AGE)
    return UserSession.objects.filter(user=user, last_seen_at__gte=since)


def _end(sessions) -> int:
    keys = list(sessions.values_list("session_key", flat=True))
    for key in keys:
        _store(key).delete()
    UserSession.objects.filter(session_key__in=keys).delete()
    return len(keys)


def end_session(*, user, session_id: int) -> UserSession:
    """Signs one of the user's sessions out (another user's id: NotFound)."""
    session = UserSession.objects.filter(user=user, pk=session_id).first()
    if session is None:
        raise NotFound(_("That session is not there any more."))
    _end(UserSession.objects.filter(pk=session.pk))
    return session


def end_other_sessions(*, user, keep_session_key: str | None) -> int:
    """Signs out every session of the user but ``keep_session_key`` (None: all of them)."""
    return _end(UserSession.objects.filter(user=user).exclude(session_key=keep_session_key or ""))


def forget_session(session_key: str | None) -> None:
    """The user signed out of this session themselves."""
    if session_key:
        UserSession.objects.filter(session_key=session_key).delete()


# --- password -------------------------------------------------------------------------------------


def _validated_new_password(user, new_password: str, confirmation: str) -> None:
    if new_password != confirmation:
        raise InvalidPassword(_("The two new passwords are not the same."), field="new_password2")
    try:
        password_validation.validate_password(new_password, user)
    except ValidationError as exc:
        raise InvalidPassword(" ".join(exc.messages), field="new_password1") from None


def change_password(*, request, current_password: str, new_password: str, confirmation: str) -> int:
    """The signed-in user's new password; this session stays signed in, the others end. Returns how many ended."""
    user = request.user
    if not user.check_password(current_password or ""):
        raise InvalidPassword(_("That is not your current password."), field="old_password")
    _validated_new_password(user, new_password, confirmation)
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
    old_key = request.session.session_key
    update_session_auth_hash(request, user)  # keeps this session (its key is cycled)
    UserSession.objects.filter(session_key=old_key, user=user).update(session_key=request.session.session_key)
    return end_other_sessions(user=user, keep_session_key=request.session.session_key)


# --- account mail ---------------------------------------------------------------------------------


def _mail_from() -> str:
    return settings.ACCOUNT_MAIL_FROM or f"no-reply@{settings.MAIL_HOSTNAME}"


def send_account_mail(*, to: str, subject: str, text: str):
    """A system message to one address, through the outbox like every other mail."""
    from delivery.services.submission import enqueue_recipients  # delivery imports accounts
    from mailboxes.compose import Composition, new_message_id, render
    from mailboxes.models import Message
    from mailboxes.services.store import store_message

    composition = Composition(
        from_name=settings.MAIL_HOSTNAME, from_address=_mail_from(), to=[("", to)], subject=subject, text=text,
        message_id=new_message_id(_mail_from()),
    )  # fmt: skip
    with transaction.atomic():
        raw = render(composition, date=timezone.now(), include_bcc=False)
        message, _created = store_message(raw=raw, status=Message.Status.QUEUED, stream=Message.Stream.TRANSACTIONAL)
        enqueue_recipients(message=message, composition=composition)
    return message


def _absolute(path: str) -> str:
    return settings.WEBMAIL_BASE_URL.rstrip("/") + path


# --- recovery address -----------------------------------------------------------------------------


def recovery_address_of(user) -> RecoveryAddress | None:
    return RecoveryAddress.objects.filter(user=user).first()


def recovery_token(*, user, address: str, now: datetime) -> str:
    return signing.dumps({"u": user.pk, "a": address, "t": int(now.timestamp())}, salt=_RECOVERY_SALT)


def set_recovery_address(*, user, address: str, now: datetime | None = None) -> RecoveryAddress:
    """Stores the address, unverified, and mails it a link that verifies it."""
    now = now or timezone.now()
    address = (address or "").strip()
    try:
        validate_email(address)
    except ValidationError:
        raise InvalidRecoveryAddress(_("Enter a whole address, like name@example.org."), field="address") from None
    local, _at, domain = address.rpartition("@")
    own = (
        address.lower() == user.username.lower()
        or Address.objects.filter(user=user, local_part=local.lower(), domain__name=domain.lower()).exists()
    )
    if own:
        raise InvalidRecoveryAddress(
            _("Use an address elsewhere: a reset link sent here could not be read while you are locked out."),
            field="address",
        )
    with transaction.atomic():
        record, _created = RecoveryAddress.objects.update_or_create(
            user=user, defaults={"address": address, "created_at": now, "verified_at": None}
        )
        token = recovery_token(user=user, address=address, now=now)
        url = _absolute(reverse("accounts:verify_recovery_address", args=[token]))
        hours = settings.RECOVERY_ADDRESS_LINK_SECONDS // 3600
        with translation.override(translation.get_language() or settings.LANGUAGE_CODE):
            subject = _("Confirm your recovery address")
            text = _(
                "Hello,\n\n%(user)s asked to use this address to recover their account if they forget "
                "their password. To confirm, open this link and press the button on the page:\n\n%(url)s\n\n"
                "The link works for %(hours)d hours. If you did not ask for this, ignore this message.\n"
            ) % {"user": user.username, "url": url, "hours": hours}
        send_account_mail(to=address, subject=subject, text=text)
    return record


def read_recovery_token(token: str, *, now: datetime | None = None) -> RecoveryAddress:
    """The recovery address a verification link is for, if it is genuine, unexpired and still current."""
    try:
        payload = signing.loads(token, salt=_RECOVERY_SALT)
        user_id, address, issued = int(payload["u"]), str(payload["a"]), int(payload["t"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise InvalidLink(_("This link is not valid: it may have been cut or changed.")) from None
    if (now or timezone.now()).timestamp() - issued > settings.RECOVERY_ADDRESS_LINK_SECONDS:
        raise InvalidLink(_("This link has expired. Set the recovery address again to get a new one."))
    record = RecoveryAddress.objects.filter(user_id=user_id, address=address, user__is_active=True).first()
    if record is None:
        raise InvalidLink(_("This link is for an address that is no longer the recovery address."))
    return record


def verify_recovery_address(*, token: str, now: datetime | None = None) -> RecoveryAddress:
    now = now or timezone.now()
    record = read_recovery_token(token, now=now)
    if record.verified_at is None:
        RecoveryAddress.objects.filter(pk=record.pk, verified_at__isnull=True).update(verified_at=now)
        record.verified_at = now
    return record


def remove_recovery_address(*, user) -> None:
    RecoveryAddress.objects.filter(user=user).delete()


# --- forgotten password ---------------------------------------------------------------------------


class ResetTokens(PasswordResetTokenGenerator):
    """Django's reset tokens (void once the password or last sign-in changes), with an injectable clock."""

    def __init__(self, now: datetime | None = None):
        super().__init__()
        self._fixed_now = now

    def _now(self):
        return (self._fixed_now or timezone.now()).replace(tzinfo=None)


def _reset_limits(address: str, client: str):
    window = settings.PASSWORD_RESET_THROTTLE_WINDOW
    return [
        (ratelimit.Limit("reset-address", settings.PASSWORD_RESET_MAX_PER_ADDRESS, window), address.strip().lower()),
        (ratelimit.Limit("reset-client", settings.PASSWORD_RESET_MAX_PER_CLIENT, window), client),
    ]


def request_password_reset(*, address: str, client: str, now: datetime | None = None) -> None:
    """Mails a reset link to the account's verified recovery address, if there is one.

    Says nothing about what it found: the caller answers the same either way. Every request counts
    against the address and the client, found or not, so the limit tells nothing either.
    """
    now = now or timezone.now()
    limits = _reset_limits(address or "", client)
    at = ratelimit.clock()
    hit = ratelimit.exceeded(limits, now=at)
    if hit is not None:
        raise TooManyRequests(_("Too many requests. Try again later."), retry_after=hit.retry_after(at))
    ratelimit.count_failure(limits, now=at)
    user = User.objects.filter(username__iexact=(address or "").strip(), is_active=True).first()
    record = RecoveryAddress.objects.filter(user=user, verified_at__isnull=False).first() if user else None
    if record is None:
        return
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    url = _absolute(reverse("accounts:reset_password", args=[uid, ResetTokens(now).make_token(user)]))
    minutes = settings.PASSWORD_RESET_TIMEOUT // 60
    subject = _("Reset your password")
    text = _(
        "Hello,\n\nSomeone, hopefully you, asked to reset the password of %(user)s. To choose a new one, "
        "open this link:\n\n%(url)s\n\nThe link works for %(minutes)d minutes and only once. If you did not ask "
        "for this, ignore this message: your password stays as it is.\n"
    ) % {"user": user.username, "url": url, "minutes": minutes}
    send_account_mail(to=record.address, subject=subject, text=text)


def user_for_reset(*, uidb64: str, token: str, now: datetime | None = None) -> User:
    """The user a reset link is for, if the link is genuine and unexpired."""
    try:
        user = User.objects.filter(pk=int(force_str(urlsafe_base64_decode(uidb64))), is_active=True).first()
    except (ValueError, TypeError, OverflowError):
        user = None
    if user is None or not ResetTokens(now).check_token(user, token):
        raise InvalidLink(_("This reset link is not valid or has expired. Ask for a new one."))
    return user


def reset_password(
    *, uidb64: str, token: str, new_password: str, confirmation: str, now: datetime | None = None
) -> User:
    """Sets the new password and signs every session of the user out."""
    user = user_for_reset(uidb64=uidb64, token=token, now=now)
    _validated_new_password(user, new_password, confirmation)
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        end_other_sessions(user=user, keep_session_key=None)
    return user


def describe_user_agent(user_agent: str) -> str:
    """ "Firefox on Linux"-style words for a User-Agent (enough to recognise one's own devices)."""
    ua = user_agent or ""
    browsers = [
        ("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"), ("Safari/", "Safari"),
    ]  # fmt: skip
    systems = [
        ("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"),
        ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"),
    ]  # fmt: skip
    browser = next((name for token, name in browsers if token in ua), "")
    system = next((name for token, name in systems if token in ua), "")
    if browser and system:
        return _("%(browser)s on %(system)s") % {"browser": browser, "system": system}
    return browser or system or _("Unknown browser")
