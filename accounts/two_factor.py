"""Two-step sign-in with a TOTP authenticator app (RFC 6238) and single-use recovery codes.

The TOTP secret is kept encrypted (Fernet, AES-128-CBC + HMAC) under a key derived from
SECRET_KEY; keys derived from SECRET_KEY_FALLBACKS still decrypt, so rotating SECRET_KEY
the Django way keeps authenticators working. The secret is shown only while setting up, before
the first code confirms it; after that no page shows it again.

A code is accepted in the 30-second step it belongs to and one step either side (clock drift),
and never twice: the device keeps the last step it accepted, and a conditional UPDATE lets only
a later step through, so two requests racing with one code cannot both win.
"""

import base64
import hashlib
import io
import re
import secrets
from datetime import datetime

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import RecoveryCode, TwoFactorDevice
from webmail.errors import UserError

RECOVERY_CODE_COUNT = 10
_STEP = 30
_RECOVERY_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # 32 symbols without 0/o, 1/l: 5 bits each


class WrongCode(UserError):
    code = "wrong_code"


class WrongPassword(UserError):
    code = "wrong_password"


class TwoFactorState(UserError):
    code = "two_factor_state"
    status = 409


def _fernet() -> MultiFernet:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet(
        [
            Fernet(base64.urlsafe_b64encode(hashlib.sha256(f"accounts.two-factor:{key}".encode()).digest()))
            for key in keys
        ]
    )


def _encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def _decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:  # SECRET_KEY changed without a fallback: the authenticator is lost
        return ""


def device_of(user) -> TwoFactorDevice | None:
    """The user's confirmed authenticator, or None when two-step sign-in is off."""
    return TwoFactorDevice.objects.filter(user=user, confirmed_at__isnull=False).first()


def is_enabled(user) -> bool:
    return TwoFactorDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()


def issuer() -> str:
    return settings.TWO_FACTOR_ISSUER or settings.MAIL_HOSTNAME


def provisioning_uri(user, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=issuer())


def qr_svg(uri: str) -> str:
    """The otpauth: URI as an inline SVG (no script, no remote image: the CSP allows it)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", xmldecl=False, svgns=True, scale=5, border=2, nl=False)
    return out.getvalue().decode()


def start_setup(*, user, now: datetime | None = None) -> str:
    """A new secret for the user to add to their app; returns it (to show now, and only now)."""
    if is_enabled(user):
        raise TwoFactorState(_("Two-step sign-in is already on."))
    secret = pyotp.random_base32()
    TwoFactorDevice.objects.update_or_create(
        user=user, defaults={"secret": _encrypt(secret), "created_at": now or timezone.now(), "last_used_step": None}
    )
    return secret


def pending_secret(user) -> str:
    """The secret of a setup not yet confirmed (empty if none): the setup page shows it again on a wrong code."""
    device = TwoFactorDevice.objects.filter(user=user, confirmed_at__isnull=True).first()
    return _decrypt(device.secret) if device else ""


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    code = re.sub(r"\s", "", code or "")
    if not secret or not re.fullmatch(r"\d{6}", code):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // _STEP
    for step in (current, current - 1, current + 1):
        if secrets.compare_digest(totp.at(step * _STEP), code):
            return step
    return None


def _use_code(device: TwoFactorDevice, code: str, now: datetime) -> bool:
    """Whether ``code`` is good now and was not used before (recording its use)."""
    step = _matching_step(_decrypt(device.secret), code, now)
    if step is None:
        return False
    fresh = Q(last_used_step__isnull=True) | Q(last_used_step__lt=step)
    return TwoFactorDevice.objects.filter(Q(pk=device.pk) & fresh).update(last_used_step=step) == 1


def confirm_setup(*, user, code: str, now: datetime | None = None) -> list[str]:
    """Turns two-step sign-in on with the first good code; returns the recovery codes (shown once)."""
    now = now or timezone.now()
    with transaction.atomic():
        device = TwoFactorDevice.objects.select_for_update().filter(user=user, confirmed_at__isnull=True).first()
        if device is None:
            raise TwoFactorState(_("Start again: the setup was not found or is already done."))
        if not _use_code(device, code, now):
            message = _("That code is not right. Check the time on your phone and try the newest code.")
            raise WrongCode(message, field="code")
        TwoFactorDevice.objects.filter(pk=device.pk).update(confirmed_at=now)
        return _replace_recovery_codes(user, now)


def _hash(code: str) -> str:
    return hashlib.sha256(re.sub(r"[\s-]", "", code.lower()).encode()).hexdigest()


def _replace_recovery_codes(user, now: datetime) -> list[str]:
    codes = ["".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16)) for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.filter(user=user).delete()
    RecoveryCode.objects.bulk_create(RecoveryCode(user=user, code_hash=_hash(c), created_at=now) for c in codes)
    return ["-".join(c[i : i + 4] for i in range(0, 16, 4)) for c in codes]


def _check_password(user, password: str) -> None:
    if not check_password(password or "", user.password):
        raise WrongPassword(_("That is not your current password."), field="password")


def regenerate_recovery_codes(*, user, password: str, now: datetime | None = None) -> list[str]:
    """New recovery codes; the old ones stop working."""
    _check_password(user, password)
    if not is_enabled(user):
        raise TwoFactorState(_("Two-step sign-in is off."))
    with transaction.atomic():
        return _replace_recovery_codes(user, now or timezone.now())


def remaining_recovery_codes(user) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def verify_second_step(*, user, code: str, now: datetime | None = None) -> bool:
    """An authenticator code or an unused recovery code (then used up); False for anything else."""
    now = now or timezone.now()
    device = device_of(user)
    if device is None:
        return False
    if _use_code(device, code, now):
        return True
    unused = RecoveryCode.objects.filter(user=user, code_hash=_hash(code or ""), used_at__isnull=True)
    return unused.update(used_at=now) == 1


def disable(*, user, password: str, code: str, now: datetime | None = None) -> None:
    """Turns two-step sign-in off: needs the password and a code (or a recovery code)."""
    _check_password(user, password)
    if not verify_second_step(user=user, code=code, now=now):
        raise WrongCode(_("That code is not right."), field="code")
    _remove(user)


def _remove(user) -> None:
    with transaction.atomic():
        TwoFactorDevice.objects.filter(user=user).delete()
        RecoveryCode.objects.filter(user=user).delete()


def reset_two_factor_by_admin(*, user) -> None:
    """An operator turns two-step sign-in off for a user who lost both their phone and their recovery codes."""
    _remove(user)
