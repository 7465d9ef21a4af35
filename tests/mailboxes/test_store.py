"""Storing messages: exact bytes in the content-addressed blob store, parsed fields in the row.

Run on SQLite and on PostgreSQL (DATABASE_URL=postgres://…), which rejects NUL
characters and lone surrogates in text and jsonb columns.
"""

import base64
import ctypes
import errno
import hashlib
import os
import tracemalloc
from pathlib import Path

import pytest
from django.db import connection

from mailboxes import blobstore
from mailboxes.blobstore import (
    collect_orphan_blobs,
    delete_unreferenced_blobs,
    mailstore,
    read_blob,
    store_blob,
    store_blobs,
    write_blob_files,
)
from mailboxes.models import Attachment, Blob, Message, Recipient, Upload
from mailboxes.parsing import MAX_ATTACHMENTS
from mailboxes.services.store import delete_orphan_messages, replace_message_content, store_message
from tests.factories import deliver, raw_email

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "messages"
SAMPLE_NAMES = sorted(path.name for path in SAMPLES.glob("*.eml"))
PDF = b"%PDF-1.4\n%\xc7\xec\x8f\xa2\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def with_attachment(*, message_id: str, content: bytes, filename: str = "report.pdf") -> bytes:
    """A multipart message carrying ``content`` as a base64 attachment."""
    encoded = base64.encodebytes(content).decode().replace("\n", "\r\n")
    return (
        f"From: Sender <sender@remote.example>\r\nTo: alice@example.test\r\nSubject: {filename}\r\n"
        f'Message-ID: <{message_id}>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        f"--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        f'--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="{filename}"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}--b--\r\n"
    ).encode()


def stored_files() -> list[Path]:
    root = Path(mailstore().location)
    return sorted(path for path in root.rglob("*") if path.is_file())


def file_of(blob_or_sha) -> Path:
    sha256 = getattr(blob_or_sha, "sha256", blob_or_sha)
    return Path(mailstore().path(Blob(sha256=sha256, size=0).storage_key))


# --- every sample, both databases -------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_every_sample_is_stored_with_its_exact_bytes_and_a_saved_row(name):
    raw = (SAMPLES / name).read_bytes()

    message, parsed = store_message(raw=raw)

    message = Message.objects.get(pk=message.pk)  # what the database really kept
    assert read_blob(message.blob) == raw  # byte for byte, line endings and NULs included
    assert message.blob_id == hashlib.sha256(raw).hexdigest()
    assert (message.size, message.blob.size) == (len(raw), len(raw))
    assert message.subject == parsed.subject
    assert message.message_id == parsed.message_id
    assert message.references == parsed.references
    assert message.to == parsed.to
    assert message.date == parsed.date
    assert message.snippet == parsed.snippet
    assert message.headers == parsed.headers
    assert message.has_attachments == any(not a.is_inline for a in parsed.attachments)
    attachments = list(message.attachments.order_by("position"))
    assert [(a.filename, a.content_type, a.size) for a in attachments] == [
        (a.filename, a.content_type, len(a.content)) for a in parsed.attachments
    ]
    assert [read_blob(a.blob) for a in attachments] == [a.content for a in parsed.attachments]


def test_lone_cr_and_bare_lf_survive_storage_unchanged():
    raw = b"Subject: odd\r\nX-A: lone cr\rX-B: bare lf\n\r\nline\rline\nline\r\n\r\n\n"

    message, _ = store_message(raw=raw)

    assert read_blob(Message.objects.get(pk=message.pk).blob) == raw
    assert file_of(message.blob).read_bytes() == raw


# --- deduplication ----------------------------------------------------------------------


def test_identical_raw_bytes_stored_twice_make_one_blob_row_and_one_file():
    raw = raw_email(subject="Twice", message_id="<twice@remote.example>")

    first, _ = store_message(raw=raw)
    second, _ = store_message(raw=raw)

    assert first.pk != second.pk
    assert first.blob_id == second.blob_id
    assert Blob.objects.count() == 1
    assert stored_files() == [file_of(first.blob)]


def test_identical_attachment_in_two_different_messages_is_stored_once():
    first, _ = store_message(raw=with_attachment(message_id="one@remote.example", content=PDF))
    second, _ = store_message(raw=with_attachment(message_id="two@remote.example", content=PDF))

    (a,), (b,) = first.attachments.all(), second.attachments.all()
    assert first.blob_id != second.blob_id
    assert a.blob_id == b.blob_id == hashlib.sha256(PDF).hexdigest()
    assert read_blob(a.blob) == PDF
    assert Blob.objects.count() == 3  # two raw messages, one attachment
    assert len(stored_files()) == 3


def test_blob_file_deleted_behind_our_back_is_rewritten_by_the_next_store_blob():
    data = b"precious bytes\r\n"
    blob = store_blob(data)
    file_of(blob).unlink()

    again = store_blob(data)

    assert again.pk == blob.pk
    assert read_blob(again) == data


def test_blob_file_truncated_behind_our_back_is_rewritten_by_the_next_store_message():
    raw = raw_email(subject="Truncated", message_id="<truncated@remote.example>")
    message, _ = store_message(raw=raw)
    file_of(message.blob).write_bytes(raw[:10])

    store_message(raw=raw)

    assert read_blob(message.blob) == raw


# --- replacing content (drafts) -------------------------------------------------------------


def test_replace_message_content_drops_the_old_blobs_after_commit(django_capture_on_commit_callbacks):
    message, _ = store_message(
        raw=with_attachment(message_id="draft@example.test", content=b"old attachment"), status=Message.Status.DRAFT
    )
    old_raw, (old_attachment,) = message.blob, message.attachments.all()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        replace_message_content(
            message=message, raw=with_attachment(message_id="draft@example.test", content=b"new attachment")
        )
        # Until the transaction commits, another reader may still be using the old bytes.
        assert Blob.objects.filter(pk__in=[old_raw.pk, old_attachment.blob_id]).count() == 2
        assert file_of(old_raw).exists() and file_of(old_attachment.blob_id).exists()

    assert len(callbacks) == 1
    assert not Blob.objects.filter(pk__in=[old_raw.pk, old_attachment.blob_id]).exists()
    assert not file_of(old_raw).exists()
    assert not file_of(old_attachment.blob_id).exists()
    message = Message.objects.get(pk=message.pk)
    assert [read_blob(a.blob) for a in message.attachments.all()] == [b"new attachment"]
    assert sorted(stored_files()) == sorted([file_of(message.blob), file_of(message.attachments.get().blob)])


def test_replace_message_content_keeps_an_old_blob_another_message_still_uses(django_capture_on_commit_callbacks):
    shared = with_attachment(message_id="shared@example.test", content=PDF)
    draft, _ = store_message(raw=shared, status=Message.Status.DRAFT)
    other, _ = store_message(raw=shared)

    with django_capture_on_commit_callbacks(execute=True):
        replace_message_content(message=draft, raw=raw_email(subject="Rewritten", message_id="<draft@example.test>"))

    assert read_blob(Message.objects.get(pk=other.pk).blob) == shared
    assert read_blob(other.attachments.get().blob) == PDF
    assert Message.objects.get(pk=draft.pk).subject == "Rewritten"


def test_replace_message_content_with_the_same_bytes_keeps_the_blob(django_capture_on_commit_callbacks):
    raw = with_attachment(message_id="same@example.test", content=PDF)
    message, _ = store_message(raw=raw, status=Message.Status.DRAFT)

    with django_capture_on_commit_callbacks(execute=True):
        replace_message_content(message=message, raw=raw, status=Message.Status.QUEUED)

    message = Message.objects.get(pk=message.pk)
    assert (message.status, read_blob(message.blob)) == (Message.Status.QUEUED, raw)
    assert read_blob(message.attachments.get().blob) == PDF


# --- garbage collection -------------------------------------------------------------------


def test_delete_unreferenced_blobs_keeps_blobs_still_referenced():
    message, _ = store_message(raw=with_attachment(message_id="kept@example.test", content=PDF))
    attachment_blob = message.attachments.get().blob
    orphan = store_blob(b"nobody points at me")

    deleted = delete_unreferenced_blobs([message.blob_id, attachment_blob.pk, orphan.pk, "0" * 64])

    assert deleted == 1
    assert set(Blob.objects.values_list("pk", flat=True)) == {message.blob_id, attachment_blob.pk}
    assert read_blob(message.blob) and read_blob(attachment_blob) == PDF
    assert not file_of(orphan).exists()


def test_collect_orphan_blobs_sweeps_only_unreferenced_blobs():
    message, _ = store_message(raw=with_attachment(message_id="live@example.test", content=PDF))
    orphans = [store_blob(b"left behind by a crash"), store_blob(b"and another one")]

    assert collect_orphan_blobs() == 2

    assert not Blob.objects.filter(pk__in=[o.pk for o in orphans]).exists()
    assert not any(file_of(o).exists() for o in orphans)
    assert read_blob(message.blob)
    assert read_blob(message.attachments.get().blob) == PDF
    assert collect_orphan_blobs() == 0


def test_collect_orphan_blobs_keeps_a_blob_only_an_upload_holds(alice):
    upload = Upload.objects.create(
        user=alice, blob=store_blob(PDF), filename="draft.pdf", content_type="application/pdf", size=len(PDF)
    )

    assert collect_orphan_blobs() == 0

    assert read_blob(Upload.objects.get(pk=upload.pk).blob) == PDF


def test_blob_that_cannot_be_deleted_is_left_for_the_sweep_without_failing_the_commit(
    django_capture_on_commit_callbacks,
):
    draft, _ = store_message(
        raw=with_attachment(message_id="stuck@example.test", content=b"stuck attachment"), status=Message.Status.DRAFT
    )
    old_raw, stuck = draft.blob, draft.attachments.get().blob
    # The storage refuses to delete this one (a non-empty directory stands where its file was).
    file_of(stuck).unlink()
    file_of(stuck).mkdir()
    (file_of(stuck) / "obstacle").write_bytes(b"x")

    with django_capture_on_commit_callbacks(execute=True):  # the commit itself must not fail
        replace_message_content(message=draft, raw=raw_email(subject="New", message_id="<stuck@example.test>"))

    assert not Blob.objects.filter(pk=old_raw.pk).exists()  # the others are still deleted
    assert Blob.objects.filter(pk=stuck.pk).exists()  # kept for a retry
    (file_of(stuck) / "obstacle").unlink()
    assert collect_orphan_blobs() == 1
    assert not Blob.objects.filter(pk=stuck.pk).exists()


def test_orphan_blob_swept_then_stored_again_is_written_again():
    orphan = store_blob(b"comes back")
    collect_orphan_blobs()

    message, _ = store_message(raw=with_attachment(message_id="back@example.test", content=b"comes back"))

    assert message.attachments.get().blob_id == orphan.pk
    assert read_blob(message.attachments.get().blob) == b"comes back"


# --- deleting messages ----------------------------------------------------------------------


def test_delete_orphan_messages_deletes_unheld_messages_and_then_their_blobs(django_capture_on_commit_callbacks):
    orphan, _ = store_message(raw=with_attachment(message_id="orphan@example.test", content=b"only here"))
    sharing, _ = store_message(raw=with_attachment(message_id="sharing@example.test", content=PDF))
    also_pdf, _ = store_message(raw=with_attachment(message_id="also-pdf@example.test", content=PDF))
    orphan_blobs = [orphan.blob_id, orphan.attachments.get().blob_id]

    with django_capture_on_commit_callbacks(execute=True):
        delete_orphan_messages([orphan.pk, sharing.pk])
        assert all(file_of(sha).exists() for sha in orphan_blobs)  # not before the commit

    assert set(Message.objects.values_list("pk", flat=True)) == {also_pdf.pk}
    assert not Blob.objects.filter(pk__in=[*orphan_blobs, sharing.blob_id]).exists()
    assert not any(file_of(sha).exists() for sha in orphan_blobs)
    assert read_blob(also_pdf.attachments.get().blob) == PDF  # shared with a deleted message


def test_delete_orphan_messages_keeps_a_message_someone_still_holds(alice, django_capture_on_commit_callbacks):
    (item,) = deliver(raw_email(subject="Held", message_id="<held@remote.example>"), alice)

    with django_capture_on_commit_callbacks(execute=True):
        delete_orphan_messages([item.message_id])

    assert read_blob(Message.objects.get(pk=item.message_id).blob)


def test_delete_orphan_messages_keeps_a_message_still_waiting_for_delivery(django_capture_on_commit_callbacks):
    queued, _ = store_message(raw=raw_email(message_id="<queued@example.test>"), status=Message.Status.QUEUED)
    Recipient.objects.create(message=queued, address="far@away.example", kind=Recipient.Kind.TO)
    deferred, _ = store_message(raw=raw_email(message_id="<deferred@example.test>"), status=Message.Status.QUEUED)
    Recipient.objects.create(
        message=deferred, address="slow@away.example", kind=Recipient.Kind.TO, status=Recipient.Status.DEFERRED
    )
    sending, _ = store_message(raw=raw_email(message_id="<sending@example.test>"), status=Message.Status.QUEUED)
    Recipient.objects.create(
        message=sending, address="now@away.example", kind=Recipient.Kind.TO, status=Recipient.Status.SENDING
    )
    done, _ = store_message(raw=raw_email(message_id="<done@example.test>"), status=Message.Status.SENT)
    Recipient.objects.create(message=done, address="ok@away.example", kind=Recipient.Kind.TO, status="delivered")

    with django_capture_on_commit_callbacks(execute=True):
        delete_orphan_messages([queued.pk, deferred.pk, sending.pk, done.pk])

    assert set(Message.objects.values_list("pk", flat=True)) == {queued.pk, deferred.pk, sending.pk}
    assert read_blob(Message.objects.get(pk=queued.pk).blob)


# --- failure and size limits ------------------------------------------------------------------


def test_store_message_leaves_no_row_behind_when_an_attachment_cannot_be_written():
    content = b"attachment that cannot be written"
    raw = with_attachment(message_id="half@example.test", content=content)
    raw_dir, attachment_dir = hashlib.sha256(raw).hexdigest()[:2], hashlib.sha256(content).hexdigest()[:2]
    assert raw_dir != attachment_dir
    # A file where the attachment's directory must go: a full disk, a permission problem, a bug.
    root = Path(mailstore().location) / "blobs"
    root.mkdir(parents=True)
    (root / attachment_dir).write_bytes(b"in the way")

    with pytest.raises(OSError):
        store_message(raw=raw)

    assert not Message.objects.exists()  # no message without its attachments
    assert not Attachment.objects.exists()
    assert not Blob.objects.exists()


def test_message_with_more_parts_than_the_limit_stores_at_most_the_limit():
    # Hostile: every part would become a blob and a row, and position is a smallint.
    parts = b"".join(b"--b\r\nContent-Type: application/x-part\r\n\r\n%d\r\n" % i for i in range(MAX_ATTACHMENTS + 200))
    raw = b"Subject: parts\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" + parts + b"--b--\r\n"

    message, _ = store_message(raw=raw)

    assert message.attachments.count() == MAX_ATTACHMENTS
    assert "TooManyAttachmentsDefect" in Message.objects.get(pk=message.pk).parse_defects
    assert read_blob(message.blob) == raw


def test_thirty_megabyte_attachment_is_stored_exactly_with_bounded_memory():
    payload = os.urandom(30 * 1024 * 1024)
    raw = with_attachment(message_id="big@remote.example", content=payload, filename="big.bin")

    tracemalloc.start()
    try:
        message, _ = store_message(raw=raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    # The standard parser alone, fed the whole message at once, peaks near 8x the size.
    assert peak < 5 * len(raw)
    message = Message.objects.get(pk=message.pk)
    assert message.size == len(raw)
    assert read_blob(message.blob) == raw
    attachment = message.attachments.get()
    assert (attachment.filename, attachment.size) == ("big.bin", len(payload))
    assert read_blob(attachment.blob) == payload


# --- durability and batches (the MX's group commit) ----------------------------------------------


def test_store_blob_fsyncs_the_file_and_its_folders(monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real_fsync(fd))

    blob = store_blob(b"durable bytes")

    path = Path(mailstore().path(blob.storage_key))
    assert str(path) in synced
    assert str(path.parent) in synced and str(path.parent.parent) in synced  # blobs/ab/cd/ entries too


def test_store_blobs_stores_new_and_known_contents_in_order():
    known = store_blob(b"known content")

    blobs = store_blobs([b"fresh one", b"known content", b"fresh one", b"fresh two"])

    assert [b.pk for b in blobs] == [
        hashlib.sha256(data).hexdigest() for data in (b"fresh one", b"known content", b"fresh one", b"fresh two")
    ]
    assert blobs[1].pk == known.pk
    assert Blob.objects.count() == 3
    assert [read_blob(b) for b in blobs] == [b"fresh one", b"known content", b"fresh one", b"fresh two"]


def test_store_blobs_inserts_new_contents_in_one_statement_and_locks_only_known_ones(django_assert_num_queries):
    store_blob(b"known content")

    with django_assert_num_queries(2) as captured:  # the INSERT of all, the lock of the known one
        store_blobs([b"new one", b"new two", b"known content"])

    insert, lock = (query["sql"] for query in captured.captured_queries)
    assert insert.startswith("INSERT") and "ON CONFLICT" in insert
    assert "FOR UPDATE" in lock or connection.vendor == "sqlite"  # SQLite has no row locks
    assert Blob.objects.count() == 3
    assert not [path for path in stored_files() if path.name.endswith(".tmp")]


def test_store_blobs_rewrites_the_missing_file_of_known_content():
    known = store_blob(b"lost file")
    mailstore().delete(known.storage_key)

    [blob] = store_blobs([b"lost file"])

    assert read_blob(blob) == b"lost file"


def test_files_written_ahead_are_taken_as_they_are_by_store_blob():
    write_blob_files([b"written ahead"])
    blob = store_blob(b"written ahead")
    assert read_blob(blob) == b"written ahead"
    assert Blob.objects.filter(pk=blob.pk).exists()


# --- placement: a new thread's summary is written without reading it back -------------------------

THREAD_SUMMARY = ("subject", "snippet", "message_count", "unread_count", "latest_at", "has_attachments", "senders",
                  "addresses")  # fmt: skip


@pytest.mark.parametrize("folder", ["inbox", "spam", "trash"])
def test_a_new_threads_summary_is_what_refresh_thread_computes(alice, folder):
    from mailboxes.conversations import refresh_thread

    raw = with_attachment(message_id="summary@remote.example", content=PDF).replace(
        b"To: alice@example.test", b"To: alice@example.test, Bob <bob@remote.example>\r\nCc: carol@remote.example"
    )
    [item] = deliver(raw, alice, folder=folder)
    thread = item.thread
    thread.refresh_from_db()
    placed = {field: getattr(thread, field) for field in THREAD_SUMMARY}

    refresh_thread(thread)
    thread.refresh_from_db()

    assert placed == {field: getattr(thread, field) for field in THREAD_SUMMARY}
    assert placed["message_count"] == 1 and placed["has_attachments"]
    assert "carol@remote.example" in placed["addresses"]


def test_placing_the_same_message_twice_returns_the_first_item(alice):
    raw = raw_email(message_id="twice@remote.example", to="alice@example.test")
    [first] = deliver(raw, alice)
    [again] = deliver(raw, alice)  # another Message row, same Message-ID and sender

    assert again.pk == first.pk


def test_many_files_are_flushed_with_one_syncfs_of_the_store(monkeypatch):
    """A batch's files: one syncfs(2) of the file system instead of an fsync per file and folder."""
    synced, flushed = [], []
    real_fsync, real_syncfs = os.fsync, blobstore._syncfs
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    monkeypatch.setattr(blobstore, "_syncfs", lambda root: flushed.append(root) or real_syncfs(root))
    contents = [f"batch message {n}".encode() for n in range(blobstore.SYNCFS_FROM)]

    write_blob_files(contents)

    assert flushed == [Path(mailstore().path(""))]
    assert synced == [] or not hasattr(blobstore._LIBC, "syncfs")  # fsyncs only where there is no syncfs
    assert [read_blob(blob) for blob in store_blobs(contents)] == contents


def test_a_few_files_are_still_fsynced_one_by_one(monkeypatch):
    monkeypatch.setattr(blobstore, "_syncfs", lambda root: pytest.fail("syncfs for a few files"))

    write_blob_files([b"one", b"two"])


def test_a_failed_syncfs_fails_the_write(monkeypatch):
    """A write-back error reported by syncfs is not swallowed: the caller must not store rows for the blobs."""
    if getattr(blobstore._LIBC, "syncfs", None) is None:
        pytest.skip("no syncfs(2) here")

    class FailingLibc:
        def syncfs(self, fd):
            ctypes.set_errno(errno.EIO)
            return -1

    monkeypatch.setattr(blobstore, "_LIBC", FailingLibc())
    with pytest.raises(OSError) as failure:
        write_blob_files([f"doomed {n}".encode() for n in range(blobstore.SYNCFS_FROM)])
    assert failure.value.errno == errno.EIO
