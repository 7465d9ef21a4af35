"""Helpers of the sign-in and security tests: reading account mail from the store, TOTP codes."""

import re
from datetime import datetime

import pyotp

from mailboxes.blobstore import read_blob
from mailboxes.models import Recipient

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a much longer new passphrase 42"


def mail_to(address: str) -> list[str]:
    """The raw messages queued for ``address``, oldest first, decoded."""
    recipients = Recipient.objects.filter(address__iexact=address).select_related("message__blob").order_by("pk")
    return [read_blob(r.message.blob).decode("utf-8", "replace") for r in recipients]


def link_in(raw: str, path_start: str) -> str:
    """The path of the first link in a message that starts with ``path_start`` (quoted-printable undone)."""
    text = re.sub(r"=\r?\n", "", raw).replace("=3D", "=")
    match = re.search(r"https?://[^/\s]+(" + re.escape(path_start) + r"[^\s]*)", text)
    assert match, f"no {path_start} link in:\n{raw}"
    return match.group(1)


def code_at(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).at(when)
