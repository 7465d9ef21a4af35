"""Importing a mailbox file (mbox, or Maildir trees in a .zip/.tar) in the background.

1. ``start_import`` streams the upload to default storage (``IMPORT_MAX_BYTES`` at most) and queues
   ``ImportJob`` (the task is dispatched after commit; ``redispatch_import_jobs`` catches a lost one).
2. ``run_import_job`` (the task) claims the job with a conditional UPDATE and a lease, counts the
   messages (``total``), then imports them in batches of ``IMPORT_BATCH_SIZE``: one transaction per
   batch that also moves ``done`` on, so a run whose worker died is taken over where it stopped.
3. Each message is stored as it was written (``mailboxes.imports``) and placed with
   ``place_message``: threaded, and indexed for search through the change feed. It does not go
   through the inbound pipeline: no spam or virus scan, no filters, vacation reply or forwarding.
   A message the user already holds (the same bytes, or the same Message-ID and content
   fingerprint) is skipped, so importing a file twice imports it once.
"""

import hashlib
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from itertools import islice

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from mailboxes.exceptions import InvalidLabel, LabelExists
from mailboxes.imports import Entry, count_source, read_source
from mailboxes.models import Folder, ImportJob, Label, MailboxChange, MailboxItem, Message
from mailboxes.parsing import parse_message
from mailboxes.selectors import parse_pk
from mailboxes.services.labels import create_label
from mailboxes.services.placement import place_message
from mailboxes.services.store import store_message
from webmail.celery import BROKER_ERRORS
from webmail.errors import NotFound, UserError

logger = logging.getLogger(__name__)

BATCH_SIZE = 25
LEASE = timedelta(minutes=5)
# A task stops after this and queues the rest: well inside CELERY_TASK_TIME_LIMIT, and fair to other tasks.
SLICE_SECONDS = 240
MAX_ERRORS = 20
IMPORT_FOLDERS = (Folder.INBOX, Folder.ARCHIVE, Folder.SENT, Folder.SPAM, Folder.TRASH)


class ImportFileTooLarge(UserError):
    code = "import_too_large"
    status = 413


class ImportNotFound(NotFound):
    code = "import_not_found"


def start_import(*, user, file, folder: str = Folder.INBOX) -> ImportJob:
    """Keep the uploaded file and queue its import. ``folder``: where the messages of a plain mbox go."""
    if file.size > settings.IMPORT_MAX_BYTES:
        limit = settings.IMPORT_MAX_BYTES // (1024 * 1024)
        raise ImportFileTooLarge(_("The file is larger than %(limit)d MB.") % {"limit": limit}, field="file")
    if not file.size:
        raise UserError(_("The file is empty."), field="file")
    if folder not in IMPORT_FOLDERS:
        raise UserError(_("Choose a folder for the messages."), field="folder")
    # Django hands large uploads over as temporary files: saving copies them in chunks, never whole.
    key = default_storage.save(f"mail-imports/{user.pk}/{uuid.uuid4().hex}", file)
    with transaction.atomic():
        job = ImportJob.objects.create(
            user=user, filename=(file.name or "mailbox")[:255], upload_key=key, size=file.size, folder=folder
        )
        transaction.on_commit(lambda: _dispatch(job.pk))
    return job


def get_import_job(*, user, job_id) -> ImportJob:
    job = ImportJob.objects.filter(user=user, pk=parse_pk(job_id)).first()
    if job is None:
        raise ImportNotFound(_("No such import."))
    return job


def recent_import_jobs(*, user, limit: int = 10) -> list[ImportJob]:
    return list(ImportJob.objects.filter(user=user).order_by("-created_at", "-pk")[:limit])


def _dispatch(job_id: int) -> None:
    from mailboxes.tasks import import_mailbox  # tasks import services

    try:
        import_mailbox.delay(job_id)
    except BROKER_ERRORS:
        logger.warning("broker unreachable: import %s waits for the redispatch", job_id, exc_info=True)


def _claimable(now) -> Q:
    return Q(status=ImportJob.Status.QUEUED) | Q(status=ImportJob.Status.RUNNING, lease_expires_at__lt=now)


def redispatch_import_jobs(*, now=None) -> int:
    """Queue again the jobs whose task was lost (broker down) or whose worker died (its lease ran out)."""
    ids = list(ImportJob.objects.filter(_claimable(now or timezone.now())).values_list("pk", flat=True)[:100])
    for job_id in ids:
        _dispatch(job_id)
    return len(ids)


class _LeaseLost(Exception):
    pass


def run_import_job(
    *, job_id: int, now=None, slice_seconds: float = SLICE_SECONDS, batch_size: int = BATCH_SIZE
) -> bool:
    """Import a queued job's file; False when another run has it. A run twice imports once.

    After ``slice_seconds`` the run hands the job back (queued) and dispatches a new task for the rest.
    """
    now = now or timezone.now()
    token = uuid.uuid4().hex
    claimed = (
        ImportJob.objects.filter(pk=job_id)
        .filter(_claimable(now))
        .update(status=ImportJob.Status.RUNNING, lease_token=token, lease_expires_at=now + LEASE)
    )
    if not claimed:
        return False
    job = ImportJob.objects.select_related("user").get(pk=job_id)
    try:
        with _local_copy(job.upload_key) as path:
            finished = _run(job, path, token, deadline=time.monotonic() + slice_seconds, batch_size=batch_size)
    except _LeaseLost:
        logger.warning("import %s: another run took it over", job_id)
        return False
    except Exception as exc:  # a broken archive, storage gone: the job says so
        logger.exception("import %s failed", job_id)
        ImportJob.objects.filter(pk=job_id, lease_token=token).update(
            status=ImportJob.Status.FAILED,
            errors=[*job.errors, _("The file could not be read: %(error)s") % {"error": str(exc)[:300]}][-MAX_ERRORS:],
            finished_at=timezone.now(),
        )
    else:
        if not finished:
            logger.info("import %s: %s of %s messages done, the rest in a new task", job_id, job.done, job.total)
            _dispatch(job_id)
            return True
    default_storage.delete(job.upload_key)
    return True


@contextmanager
def _local_copy(key: str) -> Iterator[str]:
    """A path to read the upload from: the storage's own file, or a temporary copy (remote storage)."""
    try:
        path = default_storage.path(key)
    except NotImplementedError:  # S3 and the like
        path = None
    if path is not None and os.path.isfile(path):
        yield path
        return
    with tempfile.NamedTemporaryFile(prefix="mail-import-") as copy:
        with default_storage.open(key, "rb") as source:
            shutil.copyfileobj(source, copy, 1024 * 1024)
        copy.flush()
        yield copy.name


def _run(job: ImportJob, path: str, token: str, *, deadline: float, batch_size: int) -> bool:
    """Import from where the job stands; False when the time ran out first (the job is queued again)."""
    if not job.total:
        job.total = count_source(path)
        _renew(job, token, fields={"total": job.total, "started_at": timezone.now()})
    entries = islice(read_source(path, max_message_bytes=settings.MAIL_MAX_MESSAGE_BYTES), job.done, None)
    while batch := list(islice(entries, batch_size)):
        with transaction.atomic():
            for entry in batch:
                _import_one(job, entry)
            job.done += len(batch)
            _renew(job, token, fields=_progress(job))
        if time.monotonic() >= deadline and job.done < job.total:
            _renew(job, token, fields={"status": ImportJob.Status.QUEUED, "lease_token": ""})
            return False
    ImportJob.objects.filter(pk=job.pk, lease_token=token).update(
        status=ImportJob.Status.DONE, finished_at=timezone.now(), lease_expires_at=None, total=max(job.total, job.done)
    )
    return True


def _progress(job: ImportJob) -> dict:
    return {
        "done": job.done,
        "imported": job.imported,
        "skipped": job.skipped,
        "failed": job.failed,
        "errors": job.errors,
    }


def _renew(job: ImportJob, token: str, *, fields: dict) -> None:
    """Save progress and extend the lease; stop if another run took the job over."""
    updated = ImportJob.objects.filter(pk=job.pk, lease_token=token).update(
        lease_expires_at=timezone.now() + LEASE, **fields
    )
    if not updated:
        raise _LeaseLost


def _import_one(job: ImportJob, entry: Entry) -> None:
    if entry.error or not entry.raw.strip():
        job.failed += 1
        _note(job, entry.error or _("an empty message"))
        return
    try:
        with transaction.atomic():
            imported = import_message(user=job.user, entry=entry, default_folder=job.folder)
    except Exception as exc:  # one bad message must not stop the others
        logger.warning("import %s: a message failed", job.pk, exc_info=True)
        job.failed += 1
        _note(job, f"{type(exc).__name__}: {exc}"[:300])
        return
    if imported:
        job.imported += 1
    else:
        job.skipped += 1


def _note(job: ImportJob, problem: str) -> None:
    if len(job.errors) < MAX_ERRORS:
        job.errors = [*job.errors, f"#{job.done + 1}: {problem}"]


def _already_held(user, raw: bytes, parsed) -> bool:
    sha256 = hashlib.sha256(raw).hexdigest()
    items = MailboxItem.objects.filter(user=user)
    if items.filter(message__blob_id=sha256).exists():
        return True
    if parsed.message_id and parsed.fingerprint:
        return items.filter(
            message__message_id=parsed.message_id, message__content_fingerprint=parsed.fingerprint
        ).exists()
    return False


def import_message(*, user, entry: Entry, default_folder: str = Folder.INBOX) -> MailboxItem | None:
    """Store one message read from a mailbox file and put it in the user's mailbox; None if they hold it already."""
    parsed = parse_message(entry.raw)
    if _already_held(user, entry.raw, parsed):
        return None
    folder = entry.folder or default_folder
    is_draft = entry.is_draft or folder == Folder.DRAFTS
    if is_draft:  # only drafts go in Drafts, and a draft only there (or in Trash)
        folder, origin, status = Folder.DRAFTS, MailboxItem.Origin.SENT, Message.Status.DRAFT
    elif folder == Folder.SENT:
        origin, status = MailboxItem.Origin.SENT, Message.Status.SENT
    else:
        origin, status = MailboxItem.Origin.RECEIVED, Message.Status.RECEIVED
    sender = user if origin == MailboxItem.Origin.SENT else None
    message, _parsed = store_message(raw=entry.raw, parsed=parsed, status=status, sender=sender)
    item = place_message(
        user=user,
        message=message,
        origin=origin,
        folder=Folder.TRASH if entry.is_trashed else folder,
        is_read=entry.is_read or origin == MailboxItem.Origin.SENT,
        received_at=entry.received_at or parsed.date or timezone.now(),
    )
    if entry.is_starred or entry.is_trashed:
        item.is_starred = entry.is_starred
        item.previous_folder = folder if entry.is_trashed else ""
        item.save(update_fields=["is_starred", "previous_folder", "updated_at"])
    labels = [label for label in (_label_named(user, name) for name in entry.labels) if label is not None]
    if labels:
        item.labels.add(*labels)
    if origin == MailboxItem.Origin.SENT:  # place_message feeds search only for received mail
        MailboxChange.record(user_id=user.pk, item_ids=[item.pk], kind=MailboxChange.Kind.UPDATED)
    return item


def _label_named(user, name: str) -> Label | None:
    """The user's label of that name (any case), made if missing; None for a name no label can have."""
    label = Label.objects.filter(user=user, name__iexact=" ".join(name.split())).first()
    if label is not None:
        return label
    try:
        return create_label(user=user, name=name)
    except (InvalidLabel, LabelExists):
        return None
