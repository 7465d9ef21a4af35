"""The import and export pages: upload, progress, mbox and .eml downloads, all scoped to their owner."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from mailboxes.blobstore import read_blob
from mailboxes.models import Folder, ImportJob, MailboxItem
from mailboxes.search.indexing import index_changes
from mailboxes.services import create_label
from mailboxes.services.actions import add_labels
from tests.factories import deliver, raw_email

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "import" / "sample.mbox"


@pytest.fixture(autouse=True)
def _uploads_in_tmp(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_the_settings_section_is_listed_and_renders(alice_client):
    url = reverse("mailboxes:import_export")
    html = alice_client.get(url).content.decode()
    assert f'href="{url}" aria-current="page"' in html
    assert 'name="file"' in html and "Export folder" in html


def test_uploading_an_mbox_imports_it_and_the_page_shows_the_result(
    alice_client, alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            reverse("mailboxes:start_import"),
            {"file": SimpleUploadedFile("old.mbox", SAMPLE.read_bytes()), "folder": "archive"},
        )
    assert response.status_code == 302
    job = ImportJob.objects.get(user=alice)
    assert job.status == ImportJob.Status.DONE and job.imported == 4
    assert MailboxItem.objects.filter(user=alice, folder=Folder.ARCHIVE).count() == 3  # and one in Trash
    html = alice_client.get(reverse("mailboxes:import_export")).content.decode()
    assert 'value="100"' in html and "4 imported, 0 already there, 0 failed" in html
    fragment = alice_client.get(reverse("mailboxes:import_status", args=[job.pk])).content.decode()
    assert "hx-trigger" not in fragment  # finished: the page stops polling


def test_a_running_job_is_polled(alice_client, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        alice_client.post(
            reverse("mailboxes:start_import"), {"file": SimpleUploadedFile("a.mbox", SAMPLE.read_bytes())}
        )
    job = ImportJob.objects.get(user=alice)
    fragment = alice_client.get(reverse("mailboxes:import_status", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in fragment and "<progress" in fragment


def test_an_upload_without_a_file_or_too_large_shows_the_error(alice_client, settings):
    response = alice_client.post(reverse("mailboxes:start_import"), {"folder": "inbox"})
    assert response.status_code == 400 and "Choose a file" in response.content.decode()
    settings.IMPORT_MAX_BYTES = 10
    response = alice_client.post(reverse("mailboxes:start_import"), {"file": SimpleUploadedFile("a.mbox", b"x" * 11)})
    assert response.status_code == 413
    assert not ImportJob.objects.exists()


def test_another_users_import_is_not_found(alice_client, mallory_client, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        alice_client.post(
            reverse("mailboxes:start_import"), {"file": SimpleUploadedFile("a.mbox", SAMPLE.read_bytes())}
        )
    job = ImportJob.objects.get(user=alice)
    assert mallory_client.get(reverse("mailboxes:import_status", args=[job.pk])).status_code == 404
    assert "a.mbox" not in mallory_client.get(reverse("mailboxes:import_export")).content.decode()


def test_exporting_a_folder_downloads_an_mbox(alice_client, alice, bob):
    deliver(raw_email(subject="Keep me", to="alice@example.test"), alice)
    deliver(raw_email(subject="Bob's own", to="bob@example.test"), bob)
    response = alice_client.get(reverse("mailboxes:export_mbox"), {"view": "inbox"})
    assert response.status_code == 200 and response["Content-Type"] == "application/mbox"
    assert response["Content-Disposition"].startswith('attachment; filename="inbox-')
    body = _body(response)
    assert body.startswith(b"From ") and b"Subject: Keep me" in body and b"Bob's own" not in body


def test_exporting_a_label_and_a_search(alice_client, mallory_client, alice):
    kept = deliver(raw_email(subject="Labelled one", to="alice@example.test"), alice)[0]
    deliver(raw_email(subject="Unlabelled one", to="alice@example.test", body="zebra"), alice)
    label = create_label(user=alice, name="Keep")
    add_labels(user=alice, item_ids=[kept.pk], label_ids=[label.pk])
    body = _body(alice_client.get(reverse("mailboxes:export_mbox"), {"view": "label", "label": label.pk}))
    assert b"Labelled one" in body and b"Unlabelled one" not in body
    assert mallory_client.get(reverse("mailboxes:export_mbox"), {"view": "label", "label": label.pk}).status_code == 404
    index_changes()
    body = _body(alice_client.get(reverse("mailboxes:export_mbox"), {"view": "search", "q": "zebra"}))
    assert b"Unlabelled one" in body and b"Labelled one" not in body
    assert _body(mallory_client.get(reverse("mailboxes:export_mbox"), {"view": "search", "q": "zebra"})) == b""
    assert alice_client.get(reverse("mailboxes:export_mbox"), {"view": "nowhere"}).status_code == 404


def test_download_message_is_the_exact_bytes_as_an_eml_attachment(alice_client, mallory_client, alice):
    item = deliver(raw_email(subject="Réunion: plan/agenda", to="alice@example.test"), alice)[0]
    url = reverse("mailboxes:download_message", args=[item.pk])
    response = alice_client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "message/rfc822"
    assert response.content == read_blob(item.message.blob)
    assert response["Content-Disposition"] == "attachment; filename*=utf-8''R%C3%A9union_%20plan_agenda.eml"
    assert mallory_client.get(url).status_code == 404
    thread_page = alice_client.get(reverse("mailboxes:thread", args=[item.thread_id])).content.decode()
    assert url in thread_page and "Download message" in thread_page
