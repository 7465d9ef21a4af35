"""Signed, expiring links to attachments, for the webmail and the REST API.

Two kinds, kept apart by their signing salt so that one is never accepted as
the other:

- ``WEBMAIL``: opened with the session of the user it names (a download, or an
  inline image in a message frame); anyone else gets a 404.
- ``API``: the link alone is the credential (a program hands it to whatever
  fetches the file), so it names the user *and* the mailbox item, is checked
  against both when used, and works once: its random nonce is marked used in
  the shared cache (``use_once``) for as long as the link could still be valid.
  The API's ordinary ``download_url`` needs no such link: it asks for the
  caller's own credentials.
"""

import secrets
from dataclasses import dataclass
from enum import StrEnum

from django.core import signing
from django.core.cache import cache
from django.utils.translation import gettext as _

from webmail.errors import NotFound, UserError


class LinkKind(StrEnum):
    WEBMAIL = "mailboxes.attachment"
    API = "webmail.api.download"


class LinkExpired(UserError):
    code = "link_expired"
    status = 410


class LinkUsed(UserError):
    code = "link_used"
    status = 410


@dataclass(frozen=True)
class AttachmentLink:
    user_id: int
    attachment_id: int
    item_id: int | None = None
    inline: bool = False
    nonce: str = ""


def sign_attachment_link(
    *, kind: LinkKind, user_id: int, attachment_id: int, item_id: int | None = None, inline: bool = False
) -> str:
    data = {"u": user_id, "a": attachment_id}
    if item_id is not None:
        data["m"] = item_id
    if inline:
        data["v"] = 1
    if kind == LinkKind.API:
        data["n"] = secrets.token_urlsafe(12)
    return signing.dumps(data, salt=kind.value, compress=True)


def read_attachment_link(token: str, *, kind: LinkKind, max_age: int) -> AttachmentLink:
    """What a link names; ``LinkExpired`` once it is too old, ``NotFound`` when forged or of the other kind."""
    try:
        data = signing.loads(token, salt=kind.value, max_age=max_age)
        item_id = data.get("m")
        return AttachmentLink(
            user_id=int(data["u"]),
            attachment_id=int(data["a"]),
            item_id=int(item_id) if item_id is not None else None,
            inline=bool(data.get("v")),
            nonce=str(data.get("n", "")),
        )
    except signing.SignatureExpired as exc:
        raise LinkExpired(_("This link has expired; open the message again for a new one.")) from exc
    except (signing.BadSignature, AttributeError, KeyError, TypeError, ValueError) as exc:
        raise NotFound(_("No such attachment.")) from exc


def use_once(link: AttachmentLink, *, max_age: int) -> None:
    """Marks a single-use link used; ``LinkUsed`` if it already was (or carries no nonce to mark)."""
    if not link.nonce or not cache.add(f"attachment-link-used:{link.nonce}", True, timeout=max_age + 1):
        raise LinkUsed(_("This link has already been used; read the message again for a new one."))
