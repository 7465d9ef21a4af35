"""Content-addressed storage of raw messages and attachment payloads.

Bytes are named by their SHA-256 in the ``mailstore`` storage (local files by
default, S3 through django-storages), with a ``Blob`` row per content. Equal
content is written once. Writers and the garbage collector both lock the Blob
row, and a writer always checks that the file is really there, so a blob being
collected while someone stores the same bytes again is never lost.
"""

import contextlib
import ctypes
import hashlib
import logging
import os
import sys
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, storages
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from core.bulk import columns_of, recordset
from mailboxes.models import Blob

logger = logging.getLogger(__name__)


def mailstore():
    return storages["mailstore"]


def store_blob(data: bytes) -> Blob:
    """The Blob for ``data``, its file written and flushed to disk before this returns.

    New content costs one INSERT; only content that already exists takes the
    row lock (against the garbage collector) and checks its file.
    """
    sha256 = hashlib.sha256(data).hexdigest()
    with transaction.atomic(savepoint=False):  # a transaction for the row lock; no savepoint of its own
        blob = _create_blob_row(sha256, len(data))
        if blob is not None:
            _ensure_file(blob, data)  # written ahead by write_blob_files, or now
            return blob
        # Known content, or a concurrent writer created it first.
        blob = Blob.objects.select_for_update().filter(pk=sha256).first()
        if blob is None:  # the garbage collector deleted it meanwhile
            blob = Blob.objects.create(sha256=sha256, size=len(data))
        _ensure_file(blob, data)
    return blob


def _create_blob_row(sha256: str, size: int) -> Blob | None:
    try:
        with transaction.atomic():
            return Blob.objects.create(sha256=sha256, size=size)
    except IntegrityError:
        return None


def write_blob_files(datas: list[bytes]) -> None:
    """Write and fsync the files of these contents ahead of ``store_blob``/``store_blobs``.

    Those then find the files in place and only add the rows. Content
    addressing makes this safe outside the transaction: a file without a row
    is harmless, and is what the next writer of that content would write. It
    keeps the disk flushes out of the database transaction (on SQLite, out of
    the one write lock).
    """
    pairs = [(Blob(sha256=hashlib.sha256(data).hexdigest(), size=len(data)), data) for data in dict.fromkeys(datas)]
    _flush_to_disk(mailstore(), _save_missing(pairs))


def store_blobs(datas: list[bytes]) -> list[Blob]:
    """``store_blob`` for many contents at once (the MX's group commit): a few queries for all.

    Call it inside the transaction that stores the rows referring to the blobs.
    New content costs one ``INSERT … ON CONFLICT DO NOTHING`` for the batch;
    only content already known takes the row lock (against the garbage
    collector), as in ``store_blob``.
    """
    by_sha = {}
    for data in datas:
        by_sha.setdefault(hashlib.sha256(data).hexdigest(), data)
    now = timezone.now()
    blobs = {sha256: Blob(sha256=sha256, size=len(data), created_at=now) for sha256, data in by_sha.items()}
    fresh = _insert_blob_rows(list(blobs.values()))
    known = [sha256 for sha256 in blobs if sha256 not in fresh]
    if known:
        locked = {blob.pk: blob for blob in Blob.objects.select_for_update().filter(pk__in=known)}
        if len(locked) < len(known):  # collected between the INSERT and the lock: one by one
            return [store_blob(data) for data in datas]
        blobs |= locked
    _flush_to_disk(mailstore(), _save_missing([(blob, by_sha[sha256]) for sha256, blob in blobs.items()]))
    return [blobs[hashlib.sha256(data).hexdigest()] for data in datas]


def _insert_blob_rows(blobs: list[Blob]) -> set[str]:
    """Insert the rows that do not exist yet, in one statement; the SHA-256s of those inserted."""
    quote = connection.ops.quote_name
    if connection.vendor == "postgresql":
        # The rows as one JSON parameter (core.bulk): psycopg quoting a parameter per value cost a
        # batch send's thousand blobs 60 ms.
        fields = [Blob._meta.get_field(name) for name in ("sha256", "size", "created_at")]
        source, rows = recordset(fields, [columns_of(fields, blob) for blob in blobs])
        sql = (
            f"INSERT INTO {quote(Blob._meta.db_table)} (sha256, size, created_at) "  # noqa: S608
            f"SELECT sha256, size, created_at FROM {source} ON CONFLICT (sha256) DO NOTHING RETURNING sha256"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [rows])
            return {row[0] for row in cursor.fetchall()}
    values = ", ".join(["(%s, %s, %s)"] * len(blobs))
    # The table name is ours and every value a parameter.
    sql = (
        f"INSERT INTO {quote(Blob._meta.db_table)} (sha256, size, created_at) VALUES {values} "  # noqa: S608
        "ON CONFLICT (sha256) DO NOTHING RETURNING sha256"
    )
    created_at = Blob._meta.get_field("created_at")
    params = []
    for blob in blobs:
        params += [blob.sha256, blob.size, created_at.get_db_prep_value(blob.created_at, connection)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def _ensure_file(blob: Blob, data: bytes) -> None:
    _flush_to_disk(mailstore(), _save_missing([(blob, data)]))


def _save_missing(pairs) -> list[tuple[str, bool]]:
    """Save the files that are missing or the wrong size.

    Returns ``(key, new_folder)`` for each file saved (not yet flushed);
    ``new_folder`` when its folder did not exist before.
    """
    storage = mailstore()
    if isinstance(storage, FileSystemStorage):
        return [saved for blob, data in pairs if (saved := _save_local(storage, blob, data))]
    saved = []
    for blob, data in pairs:
        key = blob.storage_key
        try:
            if storage.exists(key) and storage.size(key) == blob.size:
                continue
        except OSError:
            pass
        new_folder = not storage.exists(key.rpartition("/")[0])
        saved_as = storage.save(key, ContentFile(data))
        if saved_as != key:  # the storage must overwrite in place, or content addressing breaks
            raise RuntimeError(f"mailstore saved {key} as {saved_as}; enable overwriting on the storage")
        saved.append((key, new_folder))
    return saved


def _save_local(storage: FileSystemStorage, blob: Blob, data: bytes) -> tuple[str, bool] | None:
    """``_save_missing`` for one file of a local store, with plain file calls.

    ``Storage.save`` costs about 0.3 ms of CPU a file (name checks, chunked
    copies), as much as the MX's whole database work for a message. The
    bytes go to a temporary name and are renamed into place, so a reader
    never sees a half-written file, and two writers of the same content
    (equal bytes) cannot interleave.
    """
    key = blob.storage_key
    path = os.path.join(storage.location, key)
    try:
        if os.stat(path).st_size == blob.size:
            return None
    except FileNotFoundError:
        pass
    folder = os.path.dirname(path)
    new_folder = not os.path.isdir(folder)
    if new_folder:
        os.makedirs(folder, exist_ok=True)
        if storage.directory_permissions_mode is not None:
            os.chmod(folder, storage.directory_permissions_mode)
    temporary = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
        if storage.file_permissions_mode is not None:
            os.chmod(temporary, storage.file_permissions_mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return key, new_folder


def _flush_to_disk(storage, saved: list[tuple[str, bool]]) -> None:
    """fsync local files and the folder entries naming them, so they survive a power failure.

    The MX answers 250 after this; without it the bytes could still sit in the
    page cache. All files are written before the first fsync, and the
    fsyncs run at once in threads: the file system's journal commits them
    together (on ext4 a batch of 20 new files took 6 ms so, against about
    100 ms one after the other). A folder that was created for a file (blobs/ab/cd/)
    has its own entry flushed too, up to the store's root. Remote storages
    (S3) are durable once the upload returned.
    """
    if not saved:
        return
    try:
        root = Path(storage.path(""))
    except NotImplementedError:
        return
    if len(saved) >= SYNCFS_FROM and _syncfs(root):
        return
    files = [(Path(storage.path(key)), new_folder) for key, new_folder in saved]
    folders = {}
    for path, new_folder in files:
        folder = path.parent
        folders[folder] = None
        while new_folder and folder != root and root in folder.parents:
            folder = folder.parent
            folders[folder] = None
    paths = [*(path for path, _ in files), *folders]
    if len(paths) == 1:
        _fsync(paths[0])
    else:  # at once: the journal commits them together, where one after the other waits for each commit
        list(_fsync_pool().map(_fsync, paths))


# From this many files to flush, one syncfs(2) of the store's file system costs less than an fsync of
# each file and folder: a batch send's thousand new files took 0.45 s of CPU with fsyncs, 0.14 s so.
SYNCFS_FROM = 64
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def _syncfs(root: Path) -> bool:
    """Flush the whole file system holding ``root`` (files and folder entries); False where there is no syncfs.

    As durable as an fsync of each path: syncfs(2) returns once everything
    written on that file system is on disk, and since Linux 5.8 it reports a
    write-back error (EIO) as fsync does, raised here as ``OSError``.
    """
    if _LIBC is None or not hasattr(_LIBC, "syncfs"):
        return False
    fd = os.open(root, os.O_RDONLY)
    try:
        if _LIBC.syncfs(fd) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"syncfs of {root}: {os.strerror(errno)}")
    finally:
        os.close(fd)
    return True


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_pools: dict[int, ThreadPoolExecutor] = {}


def _fsync_pool() -> ThreadPoolExecutor:
    """This process's threads for fsyncs (made on first use: a pool does not survive a fork)."""
    pid = os.getpid()
    if pid not in _pools:
        _pools.clear()
        _pools[pid] = ThreadPoolExecutor(max_workers=16, thread_name_prefix="fsync")
    return _pools[pid]


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
