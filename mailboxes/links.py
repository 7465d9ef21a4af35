"""Signed, expiring links to attachments, for the webmail and the REST API.

Two kinds, kept apart by their signing salt so that one is never accepted as
the other:

- ``WEBMAIL``: opened with the session of the user it names (a download, or an
  inline image in a message frame); anyone else gets a 404.
- ``API``: the link alone is the credential (a program hands it to whatever
  fetches the file), so it names the user *and* the mailbox item, and is
  checked against both when used.
"""

from dataclasses import dataclass
from enum import StrEnum

from django.core import signing

from webmail.errors import NotFound, UserError


class LinkKind(StrEnum):
    WEBMAIL = "mailboxes.attachment"
    API = "webmail.api.download"


class LinkExpired(UserError):
    code = "link_expired"
    status = 410


@dataclass(frozen=True)
class AttachmentLink:
    user_id: int
    attachment_id: int
    item_id: int | None = None
    inline: bool = False


def sign_attachment_link(
    *, kind: LinkKind, user_id: int, attachment_id: int, item_id: int | None = None, inline: bool = False
) -> str:
    data = {"u": user_id, "a": attachment_id}
    if item_id is not None:
        data["m"] = item_id
    if inline:
        data["v"] = 1
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
        )
    except signing.SignatureExpired as exc:
        raise LinkExpired("This link has expired; open the message again for a new one.") from exc
    except (signing.BadSignature, AttributeError, KeyError, TypeError, ValueError) as exc:
        raise NotFound("No such attachment.") from exc
