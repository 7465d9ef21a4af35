"""Unsubscribe tokens and the List-Unsubscribe headers every marketing message carries (RFC 2369, RFC 8058).

A token says who may leave what: the workspace (a hosted domain id), the
address, and the list (or none: all the workspace's marketing mail); a
campaign's mail adds the campaign recipient, so that leaving is recorded as
that campaign's "unsubscribed" event (tokens without it stay valid). It is
signed with its own salt and never expires: a newsletter read a year later
must still unsubscribe with one click. It is compact JSON in URL-safe base64
and an HMAC-SHA256, with no timestamp (``Signer``, not ``TimestampSigner``):
about a hundred characters, short enough for a mail subject.
"""

import functools
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import get_urlconf, reverse

from accounts.addresses import split_address

_SALT = "campaigns.unsubscribe"
# The local part of the mailto: unsubscribe address on every hosted domain (``unsubscribe@shop.example``).
MAILTO_LOCAL_PART = "unsubscribe"
# What the subject of a mailto: unsubscribe starts with, before the token.
MAILTO_SUBJECT = "unsubscribe"


@dataclass(frozen=True)
class TokenData:
    domain_id: int
    address: str
    contact_list_id: int | None = None
    recipient_id: int | None = None  # the CampaignRecipient whose mail carried the link


class BadToken(Exception):
    """The token was not made here, or was changed on the way."""


def _signer() -> signing.Signer:
    return signing.Signer(salt=_SALT)


def make_token(
    *, domain_id: int, address: str, contact_list_id: int | None = None, recipient_id: int | None = None
) -> str:
    """``recipient_id``: the ``CampaignRecipient`` of a campaign's mail, or None."""
    fields = [domain_id, address.strip().lower(), contact_list_id]
    return _signer().sign_object(fields if recipient_id is None else [*fields, recipient_id])


def read_token(token: str) -> TokenData:
    try:
        domain_id, address, contact_list_id, *rest = _signer().unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise BadToken(str(exc)) from exc
    recipient_id = rest[0] if len(rest) == 1 else None
    if (
        not isinstance(domain_id, int)
        or not isinstance(address, str)
        or not isinstance(contact_list_id, int | None)
        or len(rest) > 1
        or not isinstance(recipient_id, int | None)
    ):
        raise BadToken("malformed token")
    return TokenData(domain_id=domain_id, address=address, contact_list_id=contact_list_id, recipient_id=recipient_id)


def unsubscribe_url(token: str) -> str:
    before, after = _url_around_token(settings.WEBMAIL_BASE_URL, get_urlconf())
    return before + token + after


@functools.lru_cache(maxsize=8)
def _url_around_token(base_url: str, urlconf) -> tuple[str, str]:
    """The link's text before and after its token, reversed once: a campaign makes one link per message.

    A token is URL-safe base64 and ``:``, which ``reverse`` leaves as they are.
    """
    before, _, after = reverse("unsubscribe", args=["TOKEN"], urlconf=urlconf).partition("TOKEN")
    return base_url.rstrip("/") + before, after


def mailto_address(domain_name: str) -> str:
    return f"{MAILTO_LOCAL_PART}@{domain_name}"


def is_unsubscribe_address(address: str) -> bool:
    """``unsubscribe@<any domain>``: the inbound pipeline checks the domain is hosted (the MX accepts only those)."""
    local, domain = split_address(address.strip().strip("<>"))
    return bool(domain) and local.lower() == MAILTO_LOCAL_PART


def token_from_subject(subject: str) -> str | None:
    """The token of a mailto: unsubscribe's subject ("unsubscribe <token>"), or None."""
    words = (subject or "").split()
    if len(words) == 2 and words[0].lower() == MAILTO_SUBJECT:
        return words[1]
    return None


def list_unsubscribe_headers(
    *, domain, address: str, contact_list=None, recipient_id: int | None = None, token: str | None = None
) -> dict[str, str]:
    """The List-Unsubscribe (URL and mailto:) and List-Unsubscribe-Post headers for one recipient.

    ``domain`` is the sending workspace's hosted domain (the mailto: address is
    on it); ``contact_list`` the list the message is sent to, or None for mail
    that is not from a list (the token then stands for all its marketing mail);
    ``recipient_id`` the ``CampaignRecipient`` of a campaign's mail. ``token``: the one
    ``make_token`` gives for these, when the caller made it already.
    """
    token = token or make_token(
        domain_id=domain.pk, address=address, contact_list_id=contact_list.pk if contact_list is not None else None,
        recipient_id=recipient_id,
    )  # fmt: skip
    return {
        "List-Unsubscribe": (
            f"<{unsubscribe_url(token)}>, <mailto:{mailto_address(domain.name)}?subject={MAILTO_SUBJECT}%20{token}>"
        ),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
