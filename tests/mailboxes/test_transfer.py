"""Import of mbox files and Maildir archives, and export as mbox: flags, folders, exact bytes, idempotence."""

import hashlib
import io
import re
import tarfile
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from mailboxes.blobstore import read_blob
from mailboxes.exports import mbox_stream
from mailboxes.imports import map_folder, read_mbox
from mailboxes.models import Folder, ImportJob, MailboxItem, Message
from mailboxes.search.indexing import index_changes
from mailboxes.services.transfer import ImportFileTooLarge, run_import_job, start_import
from tests.factories import deliver, raw_email

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "import"
BARE_LF = re.compile(rb"(?<!\r)\n")


@pytest.fixture(autouse=True)
def _uploads_in_tmp(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }


def _import(user, data: bytes, name: str, folder=Folder.INBOX, capture=None) -> ImportJob:
    """Upload a file and run its job (the task runs after commit, inline in tests)."""
    with capture(execute=True):
        job = start_import(user=user, file=SimpleUploadedFile(name, data), folder=folder)
    job.refresh_from_db()
    return job


def _maildir_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted((SAMPLES / "maildir").rglob("*")):
            if path.is_file():
                archive.write(path, "Maildir/" + path.relative_to(SAMPLES / "maildir").as_posix())
    return buffer.getvalue()


def _maildir_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(SAMPLES / "maildir", arcname="mail")
    return buffer.getvalue()


def _by_subject(user) -> dict[str, MailboxItem]:
    return {i.message.subject: i for i in MailboxItem.objects.filter(user=user).select_related("message")}


# --- reading mbox ---------------------------------------------------------------------------


def test_mbox_messages_are_unquoted_stripped_of_state_headers_and_crlf():
    with open(SAMPLES / "sample.mbox", "rb") as stream:
        entries = list(read_mbox(stream, max_message_bytes=10**6))
    assert len(entries) == 4
    minutes = entries[0]
    assert b"\r\nFrom the archive: a line" in minutes.raw  # mboxrd: one ">" taken off
    assert b"\r\n>From a line that was quoted once" in minutes.raw
    assert b"Status:" not in minutes.raw and b"X-Status" not in minutes.raw
    assert minutes.raw.startswith(b"From: Alice Example") and minutes.raw.endswith(b"Regards\r\n")
    assert (minutes.is_read, minutes.is_starred, minutes.is_trashed) == (True, True, False)
    assert not BARE_LF.search(b"".join(e.raw for e in entries))
    assert (entries[1].is_read, entries[1].is_starred) == (False, False)
    assert entries[3].is_trashed


def test_a_file_that_is_not_an_mbox_is_one_message():
    raw = b"From: a@example.org\nSubject: plain eml\n\nFrom here on, a body line.\n"
    entries = list(read_mbox(io.BytesIO(raw), max_message_bytes=10**6))
    assert len(entries) == 1 and entries[0].raw == raw.replace(b"\n", b"\r\n")


def test_folder_names_of_other_programs_map_to_ours_and_the_rest_become_labels():
    assert map_folder(".Sent Items") == (Folder.SENT, "")
    assert map_folder("INBOX.Junk") == (Folder.SPAM, "")
    assert map_folder("[Gmail]/All Mail") == (Folder.ARCHIVE, "")
    assert map_folder("Deleted Messages") == (Folder.TRASH, "")
    assert map_folder(".Projects.2026") == (Folder.ARCHIVE, "Projects/2026")


# --- importing --------------------------------------------------------------------------------


def test_importing_an_mbox_keeps_flags_folders_and_bytes(alice, django_capture_on_commit_callbacks):
    job = _import(
        alice, (SAMPLES / "sample.mbox").read_bytes(), "sample.mbox", capture=django_capture_on_commit_callbacks
    )
    assert (job.status, job.total, job.done, job.imported, job.skipped, job.failed) == ("done", 4, 4, 4, 0, 0)
    assert job.percent == 100
    items = _by_subject(alice)
    minutes = items["Minutes of the meeting"]
    assert (minutes.folder, minutes.is_read, minutes.is_starred) == (Folder.INBOX, True, True)
    assert minutes.origin == MailboxItem.Origin.RECEIVED and minutes.message.status == Message.Status.RECEIVED
    assert b"\r\nFrom the archive" in read_blob(minutes.message.blob)
    gruesse = items["会议纪要 — Grüße"]
    assert not gruesse.is_read and gruesse.message.from_name == "Jürgen Müller"
    assert "München" in gruesse.message.snippet
    deleted = items["No Message-ID, deleted"]
    assert (deleted.folder, deleted.previous_folder) == (Folder.TRASH, Folder.INBOX)
    assert items["Broken attachment"].message.blob.size > 0  # kept, however broken
    # The received date is the message's, not the time of the import.
    assert minutes.received_at.year == 2025
    # Imported mail is found by search (the change feed indexes it).
    index_changes()
    from mailboxes.search.services import search

    hits = search(alice, "München").hits
    assert [h.item_id for h in hits] == [gruesse.pk]


def test_importing_the_same_file_again_imports_nothing_twice(alice, django_capture_on_commit_callbacks):
    data = (SAMPLES / "sample.mbox").read_bytes()
    _import(alice, data, "a.mbox", capture=django_capture_on_commit_callbacks)
    before = MailboxItem.objects.filter(user=alice).count()
    again = _import(alice, data, "a.mbox", capture=django_capture_on_commit_callbacks)
    assert (again.imported, again.skipped) == (0, 4)
    assert MailboxItem.objects.filter(user=alice).count() == before == 4


def test_a_job_whose_worker_died_is_taken_over_where_it_stopped(alice, django_capture_on_commit_callbacks):
    data = (SAMPLES / "sample.mbox").read_bytes()
    with django_capture_on_commit_callbacks(execute=False):  # the task is "lost"
        job = start_import(user=alice, file=SimpleUploadedFile("s.mbox", data))
    # A run got through two messages, then its worker died: it is still running, its lease ran out.
    now = timezone.now()
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.RUNNING,
        total=4,
        done=2,
        lease_token="dead",
        lease_expires_at=now - timedelta(seconds=1),
    )
    assert run_import_job(job_id=job.pk, now=now) is True
    job.refresh_from_db()
    assert (job.status, job.done, job.imported) == ("done", 4, 2)
    assert set(_by_subject(alice)) == {"Broken attachment", "No Message-ID, deleted"}
    assert run_import_job(job_id=job.pk) is False  # done: a second task does nothing


def test_a_running_job_under_its_lease_is_not_claimed_twice(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        job = start_import(user=alice, file=SimpleUploadedFile("s.mbox", (SAMPLES / "sample.mbox").read_bytes()))
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.RUNNING, lease_token="alive", lease_expires_at=timezone.now() + timedelta(minutes=5)
    )
    assert run_import_job(job_id=job.pk) is False
    assert not MailboxItem.objects.filter(user=alice).exists()


@pytest.mark.parametrize("archive", ["zip", "tar.gz"])
def test_a_maildir_tree_lands_in_our_folders_with_its_flags(alice, archive, django_capture_on_commit_callbacks):
    data = _maildir_zip() if archive == "zip" else _maildir_tar()
    job = _import(alice, data, f"mail.{archive}", capture=django_capture_on_commit_callbacks)
    assert (job.status, job.total, job.imported, job.failed) == ("done", 10, 10, 0)  # tmp/ is not mail yet
    items = _by_subject(alice)
    assert "Still being written: not imported" not in items

    def state(subject):
        i = items[subject]
        return i.folder, i.is_read, i.is_starred

    assert state("Read in the inbox") == (Folder.INBOX, True, False)
    assert state("Starred and read") == (Folder.INBOX, True, True)
    assert state("New and unread") == (Folder.INBOX, False, False)
    assert state("Archived") == (Folder.ARCHIVE, True, False)
    assert state("Cheap pills") == (Folder.SPAM, False, False)
    assert items["Thrown away"].folder == Folder.TRASH
    sent = items["Something I sent"]
    assert (sent.folder, sent.origin, sent.message.sender_id) == (Folder.SENT, MailboxItem.Origin.SENT, alice.pk)
    draft = items["Half written"]
    assert (draft.folder, draft.message.status) == (Folder.DRAFTS, Message.Status.DRAFT)
    projects = [items["Projet été"], items["Café plans"]]
    assert {i.folder for i in projects} == {Folder.ARCHIVE}
    assert {label.name for i in projects for label in i.labels.all()} == {"Projects/2026"}
    assert items["Café plans"].is_starred


def test_gmail_labels_give_folders_flags_and_labels(alice, django_capture_on_commit_callbacks):
    _import(alice, (SAMPLES / "gmail.mbox").read_bytes(), "All mail.mbox", capture=django_capture_on_commit_callbacks)
    items = _by_subject(alice)
    booking = items["Your booking"]
    assert (booking.folder, booking.is_read, booking.is_starred) == (Folder.INBOX, True, True)
    assert [label.name for label in booking.labels.all()] == ["Travel"]
    assert items["Sent from Gmail"].folder == Folder.SENT
    assert b"X-Gmail-Labels" not in read_blob(booking.message.blob)


def test_a_message_larger_than_the_limit_is_counted_as_failed(alice, settings, django_capture_on_commit_callbacks):
    settings.MAIL_MAX_MESSAGE_BYTES = 400
    job = _import(alice, (SAMPLES / "sample.mbox").read_bytes(), "s.mbox", capture=django_capture_on_commit_callbacks)
    assert job.failed >= 1 and job.imported + job.failed == 4
    assert job.errors and "larger than the limit" in job.errors[0]


def test_a_file_larger_than_the_import_limit_is_refused(alice, settings):
    settings.IMPORT_MAX_BYTES = 100
    with pytest.raises(ImportFileTooLarge):
        start_import(user=alice, file=SimpleUploadedFile("big.mbox", b"x" * 101))
    assert not ImportJob.objects.exists()


# --- export -----------------------------------------------------------------------------------


def test_export_then_import_gives_the_same_messages_and_flags(alice, bob, django_capture_on_commit_callbacks):
    _import(alice, _maildir_zip(), "mail.zip", capture=django_capture_on_commit_callbacks)
    _import(alice, (SAMPLES / "sample.mbox").read_bytes(), "s.mbox", capture=django_capture_on_commit_callbacks)
    inbox = MailboxItem.objects.filter(user=alice, folder=Folder.INBOX).order_by("received_at", "pk")
    exported = b"".join(mbox_stream(user=alice, item_ids=list(inbox.values_list("pk", flat=True))))
    assert exported.count(b"\nFrom ") + exported.startswith(b"From ") == inbox.count() == 6
    assert b"\n>From the archive" in exported and b"\n>>From a line" in exported  # mboxrd quoting

    job = _import(bob, exported, "inbox.mbox", capture=django_capture_on_commit_callbacks)
    assert (job.imported, job.failed) == (6, 0)

    def state(user):
        items = MailboxItem.objects.filter(user=user, folder=Folder.INBOX).select_related("message")
        return sorted((i.message.blob_id, i.is_read, i.is_starred) for i in items)

    assert state(bob) == state(alice)  # the same bytes (content-addressed) and the same flags


def test_export_reads_only_the_users_own_items(alice, mallory):
    item = deliver(raw_email(subject="Private", to="alice@example.test"), alice)[0]
    assert b"".join(mbox_stream(user=mallory, item_ids=[item.pk])) == b""


def test_an_exported_message_keeps_its_bytes_apart_from_line_endings(alice):
    raw = raw_email(subject="Exact", to="alice@example.test", body="From now on\n>From quoted")
    item = deliver(raw, alice)[0]
    exported = b"".join(mbox_stream(user=alice, item_ids=[item.pk]))
    first, rest = exported.split(b"\n", 1)
    assert first.startswith(b"From ")
    assert rest.startswith(b"Status: O\nX-Status: \n")
    body = rest.split(b"\n", 2)[2]
    unquoted = re.sub(rb"(?m)^>(>*From )", rb"\1", body.removesuffix(b"\n"))
    assert (
        hashlib.sha256(unquoted.replace(b"\n", b"\r\n")).hexdigest()
        == hashlib.sha256(read_blob(item.message.blob).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")).hexdigest()
    )


def test_an_upload_in_remote_storage_is_read_from_a_temporary_copy(alice, settings, django_capture_on_commit_callbacks):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
    job = _import(alice, (SAMPLES / "sample.mbox").read_bytes(), "s.mbox", capture=django_capture_on_commit_callbacks)
    assert (job.status, job.imported) == ("done", 4)
    from django.core.files.storage import default_storage

    assert not default_storage.exists(job.upload_key)  # deleted once done


def test_a_long_import_goes_on_in_a_new_task_after_its_time_slice(alice, caplog, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):  # this test runs the first task itself
        job = start_import(user=alice, file=SimpleUploadedFile("mail.zip", _maildir_zip()))
    with caplog.at_level("INFO", logger="mailboxes.services.transfer"):
        # No time at all: one batch, then the job is queued again and a new task (inline here) does the rest.
        assert run_import_job(job_id=job.pk, slice_seconds=0, batch_size=4) is True
    assert "4 of 10 messages done, the rest in a new task" in caplog.text
    job.refresh_from_db()
    assert (job.status, job.done, job.imported) == ("done", 10, 10)
    assert MailboxItem.objects.filter(user=alice).count() == 10
