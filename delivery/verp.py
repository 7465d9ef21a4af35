"""VERP return paths: ``bounces+TOKEN@domain`` names the recipient a bounce is about.

The token is the recipient id plus a truncated HMAC, so a forged or mangled
bounce address maps to nothing instead of to someone else's recipient.
"""

import functools
import hashlib
import hmac

from django.conf import settings
from django.utils.crypto import constant_time_compare

PREFIX = "bounces"
_SALT = "delivery.verp"


def _b36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def _signature(recipient_id: int) -> str:
    # Django's salted_hmac(_SALT, …, algorithm="sha256"), with its key derived once per secret, not per call.
    return hmac.new(_key(settings.SECRET_KEY), str(recipient_id).encode(), hashlib.sha256).hexdigest()[:12]


@functools.lru_cache(maxsize=4)
def _key(secret: str) -> bytes:
    return hashlib.sha256((_SALT + secret).encode()).digest()


def return_path(*, recipient_id: int, domain: str) -> str:
    return f"{PREFIX}+{_b36(recipient_id)}-{_signature(recipient_id)}@{domain}"


def recipient_id_from(address: str) -> int | None:
    """The recipient id a VERP address was made for, or None if it is not a valid one."""
    local = address.rpartition("@")[0].lower()
    prefix, plus, token = local.partition("+")
    if prefix != PREFIX or not plus:
        return None
    encoded, dash, signature = token.partition("-")
    try:
        recipient_id = int(encoded, 36)
    except ValueError:
        return None
    if not dash or encoded != _b36(recipient_id) or not constant_time_compare(signature, _signature(recipient_id)):
        return None
    return recipient_id


def looks_like_verp(address: str) -> bool:
    """``bounces+…@``: meant as a return path, even if the token was mangled on the way back."""
    return address.rpartition("@")[0].lower().startswith(f"{PREFIX}+")
