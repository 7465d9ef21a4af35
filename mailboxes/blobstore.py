"""Content-addressed storage of raw messages and attachment payloads.

Bytes are named by their SHA-256 in the ``mailstore`` storage (local files by
default, S3 through django-storages), with a ``Blob`` row per content. Equal
content is written once. Writers and the garbage collector both lock the Blob
row, and a writer always checks that the file is really there, so a blob being
collected while someone stores the same bytes again is never lost.
"""

import hashlib
import logging
from collections.abc import Iterable

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef

from mailboxes.models import Blob

logger = logging.getLogger(__name__)


def mailstore():
    return storages["mailstore"]


def store_blob(data: bytes) -> Blob:
    sha256 = hashlib.sha256(data).hexdigest()
    with transaction.atomic():
        blob = Blob.objects.select_for_update().filter(pk=sha256).first()
        if blob is None:
            try:
                with transaction.atomic():
                    blob = Blob.objects.create(sha256=sha256, size=len(data))
            except IntegrityError:  # a concurrent writer created it first
                blob = Blob.objects.select_for_update().get(pk=sha256)
        _ensure_file(blob, data)
    return blob


def _ensure_file(blob: Blob, data: bytes) -> None:
    storage = mailstore()
    key = blob.storage_key
    try:
        if storage.exists(key) and storage.size(key) == blob.size:
            return
    except OSError:
        pass
    saved_as = storage.save(key, ContentFile(data))
    if saved_as != key:  # the storage must overwrite in place, or content addressing breaks
        raise RuntimeError(f"mailstore saved {key} as {saved_as}; enable overwriting on the storage")


def read_blob(blob: Blob) -> bytes:
    with mailstore().open(blob.storage_key, "rb") as handle:
        return handle.read()


def open_blob(blob: Blob):
    """A file object to stream large content without reading it all."""
    return mailstore().open(blob.storage_key, "rb")


def delete_unreferenced_blobs(sha256s: Iterable[str]) -> int:
    """Delete the given blobs that nothing (message, attachment, upload…) refers to any more.

    Call it after the transaction that dropped the references has committed.
    The file goes before the row: if the row delete then fails, the next
    ``store_blob`` of that content rewrites the missing file. A blob that
    cannot be deleted now (storage unavailable) keeps its row, so
    ``collect_orphan_blobs`` retries it; the others are still deleted.
    """
    deleted = 0
    for sha256 in set(sha256s):
        try:
            with transaction.atomic():
                blob = Blob.objects.select_for_update().filter(pk=sha256).first()
                if blob is None or _is_referenced(blob):
                    continue
                mailstore().delete(blob.storage_key)
                blob.delete()
        except Exception:  # garbage collection must not fail the caller; the sweep retries
            logger.warning("Could not delete blob %s; left for the orphan sweep", sha256, exc_info=True)
            continue
        deleted += 1
    return deleted


def collect_orphan_blobs() -> int:
    """Sweep every unreferenced blob (those a crash left behind, for example)."""
    orphans = Blob.objects.all()
    for relation in _references():
        orphans = orphans.exclude(Exists(_referring(relation).filter(**{relation.field.name: OuterRef("pk")})))
    return delete_unreferenced_blobs(list(orphans.values_list("pk", flat=True)))


def _references():
    """Every foreign key to Blob (messages, attachments, uploads, and whatever comes next)."""
    return Blob._meta.related_objects


def _referring(relation):
    return relation.related_model._base_manager.all()


def _is_referenced(blob: Blob) -> bool:
    return any(_referring(relation).filter(**{relation.field.name: blob}).exists() for relation in _references())
