"""Files users upload before attaching them to a message."""

import mimetypes

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from mailboxes.blobstore import read_blob, store_blob
from mailboxes.compose import OutgoingAttachment
from mailboxes.exceptions import MessageTooLarge, UploadNotFound
from mailboxes.models import Upload
from mailboxes.selectors import parse_pk


def create_upload(*, user, filename: str, content: bytes, content_type: str = "") -> Upload:
    if len(content) > settings.MAIL_MAX_MESSAGE_BYTES:
        limit_mb = settings.MAIL_MAX_MESSAGE_BYTES / (1024 * 1024)
        raise MessageTooLarge(_("A file can be at most %(limit).0f MB.") % {"limit": limit_mb}, field="file")
    name = "".join(ch for ch in (filename or "") if ch.isprintable()).replace("/", "_").replace("\\", "_").strip()
    name = name[-255:] or "attachment"
    content_type = (content_type or mimetypes.guess_type(name)[0] or "application/octet-stream").lower()
    with transaction.atomic():
        return Upload.objects.create(
            user=user, blob=store_blob(content), filename=name, content_type=content_type[:255], size=len(content)
        )


def attachments_from_uploads(*, user, upload_ids) -> list[OutgoingAttachment]:
    """The user's uploads as attachments, in the order given; someone else's id is not found."""
    ids = [parse_pk(value) for value in upload_ids]
    uploads = {u.pk: u for u in Upload.objects.select_related("blob").filter(user=user, pk__in=[i for i in ids if i])}
    missing = [str(value) for value, pk in zip(upload_ids, ids, strict=True) if pk not in uploads]
    if missing:
        raise UploadNotFound(_("No such attachment: %(names)s.") % {"names": ", ".join(missing)}, field="attachments")
    return [
        OutgoingAttachment(filename=u.filename, content_type=u.content_type, content=read_blob(u.blob))
        for u in (uploads[pk] for pk in ids)
    ]
